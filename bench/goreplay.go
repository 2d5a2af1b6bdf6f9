package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// GoReplay is the usual way to shadow traffic without a proxy in the
// serving path: clients reach legacy directly while goreplay captures
// legacy's port with libpcap and replays each request it reassembles to
// the candidate (`goreplay --input-raw 127.0.0.1:PORT --output-http
// CANDIDATE`, its defaults otherwise). Capturing needs root or
// CAP_NET_RAW.
const GoReplay = "goreplay (captures legacy's port)"

// GoReplayModule is what `go install` builds goreplay from.
const GoReplayModule = "github.com/buger/goreplay@v1.3.2"

// errNoCapture: goreplay exits as it starts, or copies nothing to the
// candidate (without root or CAP_NET_RAW, libpcap's "Permission Denied",
// and it exits). Its row is left out with a note instead of failing the
// run.
var errNoCapture = errors.New("goreplay could not capture legacy's port (it needs root or CAP_NET_RAW)")

// lookGoReplay is lookPath for goreplay, which `go install` puts in
// $GOPATH/bin (~/go/bin), rarely on PATH.
func lookGoReplay(set string) string {
	if p := lookPath(set, "goreplay"); p != "" || set != "" {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(filepath.SplitList(gopath)[0], "bin", "goreplay")
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return p
}

var goreplayVersion = regexp.MustCompile(`Version:(\S+)`)

// goreplayTool is the tools line of the report: goreplay's version (it
// has no flag for it: it says so when it starts), or that it is absent.
func goreplayTool(ctx context.Context, goreplay string) string {
	if goreplay == "" {
		return "goreplay: not installed (go install " + GoReplayModule + "; needs libpcap); no goreplay row"
	}
	out, _ := exec.CommandContext(ctx, goreplay, "--input-dummy", "0", "--output-null", "--exit-after", "1ms").CombinedOutput()
	v := "version unknown"
	if m := goreplayVersion.FindSubmatch(out); m != nil {
		v = "version " + string(m[1]) // v1.3.2 says 1.3.0
	}
	return fmt.Sprintf("goreplay: %s, %s: libpcap on loopback, its defaults otherwise", goreplay, v)
}

// startGoReplay runs goreplay capturing legacy's port (addr) and
// replaying to candidate, and waits until a request to legacy reaches the
// candidate (cb). The process's addr is legacy's: clients are served
// directly.
func startGoReplay(ctx context.Context, goreplay, addr, candidate string, cb *Backend) (*proc, error) {
	cmd := exec.Command(goreplay, "--input-raw", addr, "--output-http", candidate)
	p := &proc{cmd: cmd, addr: addr, stderr: &tailBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start goreplay: %w", err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	c := newClient(addr, 1, 5*time.Second)
	defer c.CloseIdleConnections()
	before := cb.Served()
	for deadline := time.Now().Add(10 * time.Second); cb.Served() == before; {
		get(c, "http://"+addr+Path)
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%w: it exited: %s", errNoCapture, oneLine(p.stderr.String()))
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%w: no request to legacy reached the candidate within 10s: %s", errNoCapture, oneLine(p.stderr.String()))
		}
	}
	return p, nil
}

// quiet waits until the candidate has received nothing for 2.5s:
// goreplay's copies trail the requests it captured (by about 5s after 3s
// at saturation on 2 cores), and must not be counted in the next run, nor
// load it; and it holds some back for a while (a message is complete
// after --input-raw-expire, 2s), so a shorter silence is no sign that it
// is done. It waits at most twice d, the run's length, and 8s.
func quiet(cb *Backend, d time.Duration) {
	last, still := cb.Served(), time.Now()
	for deadline := time.Now().Add(2*d + 8*time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if n := cb.Served(); n != last {
			last, still = n, time.Now()
		} else if time.Since(still) >= 2500*time.Millisecond {
			return
		}
	}
}

// oneLine joins a process's output for a note in the report.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
