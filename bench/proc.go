package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Counters are tandem's own counts after a run, read from its /metrics.
type Counters struct {
	Requests, Mirrored, Compared, Matched, Mismatched int64
	CandidateErrors, Dropped, Skipped, SampledOut     int64
	LegacyErrors, Stored, Lost                        int64
	Streamed                                          int64
}

// Accounted reports whether every request is in exactly one of the
// counters that say what became of it.
func (c Counters) Accounted() bool {
	return c.Requests == c.Mirrored+c.Dropped+c.Skipped+c.SampledOut+c.LegacyErrors+c.Streamed
}

// proc is a server process under test: tandem or nginx.
type proc struct {
	cmd    *exec.Cmd
	addr   string // where clients connect
	admin  string // tandem's admin address
	stderr *tailBuffer
	exited chan struct{}
}

var listening = regexp.MustCompile(`msg="(tandem proxy listening|admin listening|bare proxy listening)" addr=(\S+)`)

// startTandem runs `tandem proxy` (argv is how to run tandem) in front of
// legacy, mirroring to candidate, and waits until it listens.
func startTandem(ctx context.Context, argv []string, dir, legacy, candidate string, extra ...string) (*proc, error) {
	args := append(append([]string{}, argv[1:]...), "proxy",
		"--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--legacy", legacy, "--candidate", candidate,
		"--db", filepath.Join(dir, "tandem.db"), "--log-level", "info",
		// What is still queued when a row ends is not measured: stop fast.
		"--drain-timeout", "1s")
	return start(ctx, argv[0], append(args, extra...), true)
}

// startBare runs BareProxy through `tandem bench --bare-proxy`.
func startBare(ctx context.Context, argv []string, legacy, candidate string) (*proc, error) {
	args := append(append([]string{}, argv[1:]...), "bench", "--bare-proxy", "--legacy", legacy, "--candidate", candidate)
	return start(ctx, argv[0], args, false)
}

// start runs a server process and waits until it says where it listens
// (and its admin address, with admin).
func start(ctx context.Context, name string, args []string, admin bool) (*proc, error) {
	cmd := exec.Command(name, args...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{cmd: cmd, stderr: &tailBuffer{}, exited: make(chan struct{})}
	found := make(chan [2]string, 2)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.add(line)
			if m := listening.FindStringSubmatch(line); m != nil {
				found <- [2]string{m[1], m[2]}
			}
		}
		io.Copy(io.Discard, pipe)
	}()
	go func() { cmd.Wait(); close(p.exited) }()
	deadline := time.After(30 * time.Second)
	for p.addr == "" || admin && p.admin == "" {
		select {
		case f := <-found:
			if f[0] == "admin listening" {
				p.admin = f[1]
			} else {
				p.addr = f[1]
			}
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before it listened:\n%s", name, p.stderr)
		case <-deadline:
			p.stop()
			return nil, fmt.Errorf("%s did not listen within 30s:\n%s", name, p.stderr)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		}
	}
	return p, nil
}

// nginxConfig is a minimal nginx in front of legacy, with the mirror
// directive when candidate is set. Upstream connections are kept alive, as
// tandem keeps its own.
func nginxConfig(dir, listen, legacy, candidate string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Workers would otherwise run as nobody, who cannot use dir.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
daemon off;
master_process on;
events { worker_connections 8192; }
http {
	access_log off;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream legacy { server %[2]s; keepalive 256; }
`, dir, strings.TrimPrefix(legacy, "http://"))
	if candidate != "" {
		fmt.Fprintf(&b, "\tupstream candidate { server %s; keepalive 256; }\n", strings.TrimPrefix(candidate, "http://"))
	}
	fmt.Fprintf(&b, `	server {
		listen %s;
		location / {
`, listen)
	if candidate != "" {
		b.WriteString("\t\t\tmirror /mirror;\n\t\t\tmirror_request_body on;\n")
	}
	b.WriteString(`			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_pass http://legacy;
		}
`)
	if candidate != "" {
		// tandem's defaults: a 5s candidate timeout.
		b.WriteString(`		location = /mirror {
			internal;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_connect_timeout 5s;
			proxy_read_timeout 5s;
			proxy_send_timeout 5s;
			proxy_pass http://candidate$request_uri;
		}
`)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// startNginx runs nginx with nginxConfig and waits until it listens.
func startNginx(ctx context.Context, nginx, dir, legacy, candidate string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(dir, addr, legacy, candidate)), 0o600); err != nil {
		return nil, err
	}
	return runNginx(ctx, nginx, dir, conf, addr)
}

// runNginx runs nginx with the configuration file conf and waits until it
// listens on addr.
func runNginx(ctx context.Context, nginx, dir, conf, addr string) (*proc, error) {
	cmd := exec.Command(nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	p := &proc{cmd: cmd, addr: addr, stderr: &tailBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("nginx exited: %s%s", p.stderr, log)
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, errors.New("nginx did not listen within 10s")
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// stop sends SIGTERM and waits (SIGKILL after 30s).
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// rss returns the process's resident set now and at its peak, in bytes
// (Linux; zero elsewhere).
func (p *proc) rss() (now, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			now = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return now, peak
}

// cpu returns the CPU time the process has used (Linux; zero elsewhere).
func (p *proc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th of them, in clock
	// ticks (100 a second on Linux).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// counters reads tandem's /metrics.
func (p *proc) counters() (Counters, int64, error) {
	resp, err := http.Get("http://" + p.admin + "/metrics")
	if err != nil {
		return Counters{}, 0, err
	}
	defer resp.Body.Close()
	var c Counters
	var depth int64
	fields := map[string]*int64{
		"tandem_requests_total": &c.Requests, "tandem_mirrored_total": &c.Mirrored, "tandem_compared_total": &c.Compared,
		"tandem_matched_total": &c.Matched, "tandem_mismatched_total": &c.Mismatched,
		"tandem_candidate_errors_total": &c.CandidateErrors, "tandem_dropped_total": &c.Dropped,
		"tandem_skipped_total": &c.Skipped, "tandem_sampled_out_total": &c.SampledOut,
		"tandem_legacy_errors_total": &c.LegacyErrors, "tandem_store_stored_total": &c.Stored,
		"tandem_store_lost_total": &c.Lost, "tandem_queue_depth": &depth, "tandem_streamed_total": &c.Streamed,
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if dst := fields[name]; ok && dst != nil {
			v, _ := strconv.ParseFloat(value, 64)
			*dst = int64(v)
		}
	}
	return c, depth, sc.Err()
}

// settle waits until tandem's mirror queue is empty (or wait has passed),
// then returns its counters.
func (p *proc) settle(wait time.Duration) (Counters, error) {
	deadline := time.Now().Add(wait)
	for {
		c, depth, err := p.counters()
		if err != nil || depth == 0 || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tailBuffer keeps the last lines a process wrote, for error messages.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 40 {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		t.add(l)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
