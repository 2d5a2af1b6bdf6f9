package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// These tests run the real tandem binary as a separate process, as users
// and CI do: signals, crashes and faults are those of a real process.

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// tandemBinary builds the binary once per test run.
func tandemBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tandem-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "tandem")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a running tandem process.
type proc struct {
	cmd    *exec.Cmd
	addr   string // the proxy's address
	admin  string // the admin address, when --admin was given
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{}
}

var listenRE = regexp.MustCompile(`msg="tandem proxy listening" addr=(\S+)`)
var adminRE = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)

// startTandem runs `tandem proxy --listen 127.0.0.1:0 args…` and waits
// until it listens.
func startTandem(t *testing.T, args ...string) *proc {
	t.Helper()
	return startTandemCmd(t, exec.Command(tandemBinary(t), append([]string{"proxy", "--listen", "127.0.0.1:0"}, args...)...), args)
}

// startTandemCmd runs cmd, a tandem proxy given args (perhaps through a
// shell that sets limits first), and waits until it listens.
func startTandemCmd(t *testing.T, cmd *exec.Cmd, args []string) *proc {
	t.Helper()
	return startListening(t, cmd, args, listenRE)
}

// startListening runs cmd, a tandem subcommand given args, and waits until
// its log says it listens (listen's first group is the address) and, when
// args ask for one, that the admin does.
func startListening(t *testing.T, cmd *exec.Cmd, args []string, listen *regexp.Regexp) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{}), cmd: cmd}
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		wantAdmin := strings.Contains(strings.Join(args, " "), "--admin")
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			if m := listen.FindStringSubmatch(line); m != nil {
				p.addr = m[1]
			}
			if m := adminRE.FindStringSubmatch(line); m != nil {
				p.admin = m[1]
			}
			ok := p.addr != "" && (!wantAdmin || p.admin != "")
			p.mu.Unlock()
			if ok && !signalled {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, errPipe)
	}()
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("tandem exited before listening:\n%s", p.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("tandem did not listen in time:\n%s", p.log())
	}
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// stop sends a signal and waits for the exit status.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("tandem did not exit after %v:\n%s", sig, p.log())
	}
	return p.cmd.ProcessState.ExitCode()
}

// load sends GETs from conc clients until stop is closed, and returns the
// number of answers that were legacy's, and of failed requests.
// load requests from base on conc connections until stop, or until a
// request fails; answered (if not nil) counts the good answers as they come,
// so that a test can wait for the load to be under way.
func load(t *testing.T, base string, conc int, want string, stop <-chan struct{}, answered *atomic.Int64) (ok, failed int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for c := 0; c < conc; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(fmt.Sprintf("%s/items/%d?c=%d", base, i, c))
				good := false
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					good = rerr == nil && resp.StatusCode == 200 && string(b) == want
				}
				mu.Lock()
				if good {
					ok++
					if answered != nil {
						answered.Add(1)
					}
				} else {
					failed++
				}
				mu.Unlock()
				if !good {
					return // the proxy is going away
				}
			}
		}(c)
	}
	wg.Wait()
	return ok, failed
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// CI fuzzes every fuzz target for a while (.ci/run): a target added without
// being listed there would only ever run its seeds.
func TestCI_FuzzTargets(t *testing.T) {
	ci, err := os.ReadFile(filepath.Join("..", "..", ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`)
	n := 0
	err = filepath.WalkDir(filepath.Join("..", ".."), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg := filepath.Base(filepath.Dir(path))
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			n++
			if !strings.Contains(string(ci), pkg+":"+m[1]+" ") && !strings.Contains(string(ci), pkg+":"+m[1]+";") {
				t.Errorf("%s (%s) is not fuzzed in .ci/run", m[1], path)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("found %d fuzz targets: %v", n, err)
	}
}

// waitAnswered waits until a load has had n good answers.
func waitAnswered(t *testing.T, answered *atomic.Int64, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); answered.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests answered in 30 s", answered.Load(), n)
		}
	}
}
