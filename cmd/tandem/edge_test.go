package main

import (
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var listenLimitRE = regexp.MustCompile(`msg=limits open_file_limit=(\d+) max_conns=(\d+)`)

// startTandemLimited runs `tandem proxy` with the open file limit (soft
// and hard) set to nofile on the child, as `ulimit -n` does.
func startTandemLimited(t *testing.T, nofile int, args ...string) *proc {
	t.Helper()
	return startLimited(t, nofile, "proxy", listenRE, args...)
}

// startLimited runs the subcommand sub (proxy or compare, listening on a
// port of its own, its log matching listen) with the open file limit set
// to nofile.
func startLimited(t *testing.T, nofile int, sub string, listen *regexp.Regexp, args ...string) *proc {
	t.Helper()
	argv := append([]string{"-c", `ulimit -n "$1" && shift && exec "$@"`, "sh", strconv.Itoa(nofile), tandemBinary(t),
		sub, "--listen", "127.0.0.1:0"}, args...)
	return startListening(t, exec.Command("sh", argv...), args, listen)
}

// flood opens n connections to addr and holds them open; release closes
// them. It returns how many connected, and how many were reset while
// connecting (tandem refused them before the dial returned: under a slow
// test process the reset can arrive first).
func flood(t *testing.T, addr string, n int) (connected, reset int, release func()) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			if errors.Is(err, syscall.ECONNRESET) {
				reset++
			}
			continue
		}
		conns = append(conns, c)
	}
	return len(conns), reset, func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// metricsOf reads the admin's /metrics page (a fresh connection each time:
// the admin listener is guarded too).
func metricsOf(t *testing.T, p *proc) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 100 {
		resp, err := client.Get("http://" + p.admin + "/metrics")
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				return string(b)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the admin listener never answered:\n%s", p.log())
	return ""
}

// waitMetricAtLeast polls /metrics until name reaches min.
func waitMetricAtLeast(t *testing.T, p *proc, name string, min int64) int64 {
	t.Helper()
	var v int64
	poll(t, fmt.Sprintf("%s to reach %d", name, min), func() bool {
		v = metricValue(t, metricsOf(t, p), name)
		return v >= min
	}, func() string { return fmt.Sprintf("%s = %d\n%s", name, v, p.log()) })
	return v
}

// waitMetricBelow waits until a gauge falls below max: after a flood's
// connections are closed, tandem sees the closes (and frees their slots
// and descriptors) a moment later, and a request sent before that is
// refused at the limit.
func waitMetricBelow(t *testing.T, p *proc, name string, max int64) {
	t.Helper()
	var v int64
	poll(t, fmt.Sprintf("%s to fall below %d", name, max), func() bool {
		v = metricValue(t, metricsOf(t, p), name)
		return v < max
	}, func() string { return fmt.Sprintf("%s = %d\n%s", name, v, p.log()) })
}

func alive(t *testing.T, p *proc) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("tandem exited (%v):\n%s", p.cmd.ProcessState, p.log())
	default:
	}
}

func getLegacy(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s after the flood: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != legacyBody {
		t.Fatalf("GET %s after the flood: %d %q, want legacy's answer", url, resp.StatusCode, b)
	}
}

// Started with `ulimit -n 256`, tandem derives --max-conns from it; a flood
// of more connections than the limit is refused past --max-conns and
// counted, tandem stays up, and once the flood closes a request gets
// legacy's answer.
func TestEdge_FloodLowFileLimit(t *testing.T) {
	legacy, candidate := legacyServer(t), legacyServer(t)
	db := filepath.Join(t.TempDir(), "flood.db")
	p := startTandemLimited(t, 256, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db,
		"--workers", "4", "--admin", "127.0.0.1:0")
	m := listenLimitRE.FindStringSubmatch(p.log())
	if m == nil || m[1] != "256" {
		t.Fatalf("no limits line with open_file_limit=256:\n%s", p.log())
	}
	maxConns, _ := strconv.Atoi(m[2])
	if maxConns <= 0 || maxConns >= 256 {
		t.Fatalf("max_conns=%d derived from 256 descriptors", maxConns)
	}
	const n = 400
	connected, reset, release := flood(t, p.addr, n)
	if connected+reset != n {
		t.Fatalf("of %d flood connections %d connected and %d were reset: the rest failed otherwise", n, connected, reset)
	}
	// Every connection past the limit is refused at once.
	waitMetricAtLeast(t, p, "tandem_refused_conns_total", int64(n-maxConns))
	alive(t, p)
	release()
	waitMetricBelow(t, p, "tandem_client_conns", int64(maxConns))
	getLegacy(t, p.url("/after"))
	alive(t, p)
	if got := strings.Count(p.log(), "connection refused: the connection limit is reached"); got > 3 {
		t.Errorf("%d refusal log lines, want them throttled", got)
	}
}

// Past the descriptors themselves (--max-conns set above what the limit
// allows): accept fails with EMFILE, which is retried and counted, never
// fatal; once the flood closes, requests are served again.
func TestEdge_FloodAcceptErrors(t *testing.T) {
	legacy, candidate := legacyServer(t), legacyServer(t)
	db := filepath.Join(t.TempDir(), "emfile.db")
	p := startTandemLimited(t, 128, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db,
		"--workers", "4", "--max-conns", "10000", "--admin", "127.0.0.1:0")
	connected, _, release := flood(t, p.addr, 300)
	if connected < 150 {
		t.Fatalf("only %d flood connections connected", connected)
	}
	// Wait until tandem has met EMFILE: it logs the first accept error.
	waitLog(t, p.log, "accept failed; retrying", 1)
	alive(t, p)
	release()
	if v := waitMetricAtLeast(t, p, "tandem_accept_errors_total", 1); v < 1 {
		t.Fatal("no accept error counted")
	}
	waitMetricBelow(t, p, "tandem_client_conns", 64) // descriptors free again
	getLegacy(t, p.url("/after"))
	alive(t, p)
	if got := strings.Count(p.log(), "accept failed; retrying"); got > 3 {
		t.Errorf("%d accept error log lines, want them throttled (once every 10 s)", got)
	}
}

// A normal client keeps requesting, on a new connection each time, while
// floods come and go: each request succeeds or fails fast with a refused
// connection, none hangs, and tandem never exits. A refusal shows to the
// client as a reset, an EOF, or a broken pipe when its write races the
// proxy's close of a connection it accepted only to shed.
func TestEdge_FloodWhileServing(t *testing.T) {
	legacy, candidate := legacyServer(t), legacyServer(t)
	db := filepath.Join(t.TempDir(), "serve.db")
	p := startTandemLimited(t, 256, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db,
		"--workers", "4", "--admin", "127.0.0.1:0")
	stop := make(chan struct{})
	var ok, refused, hung atomic.Int64
	var other sync.Map
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A hang is a request that takes the client's whole timeout.
		client := &http.Client{Timeout: 8 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Get(p.url(fmt.Sprintf("/items/%d", i)))
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					hung.Add(1)
				} else if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
					errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
					strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "EOF") {
					refused.Add(1)
				} else {
					other.Store(err.Error(), true)
				}
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(b) == legacyBody {
				ok.Add(1)
			} else {
				other.Store(fmt.Sprintf("%d %q", resp.StatusCode, b), true)
			}
		}
	}()
	// waitServed waits until the client has had one more answer from
	// legacy than before: between floods, service comes back.
	waitServed := func() {
		t.Helper()
		before := ok.Load()
		deadline := time.Now().Add(20 * time.Second)
		for ok.Load() == before {
			if time.Now().After(deadline) {
				t.Fatalf("the client got no answer from legacy after the flood closed:\n%s", p.log())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitServed()
	for range 3 {
		before := metricValue(t, metricsOf(t, p), "tandem_refused_conns_total")
		_, _, release := flood(t, p.addr, 300)
		waitMetricAtLeast(t, p, "tandem_refused_conns_total", before+1)
		alive(t, p)
		release()
		waitServed()
	}
	close(stop)
	<-done
	alive(t, p)
	getLegacy(t, p.url("/after"))
	if hung.Load() > 0 {
		t.Errorf("%d requests hung until the client's timeout", hung.Load())
	}
	other.Range(func(k, _ any) bool { t.Errorf("unexpected failure: %v", k); return true })
	t.Logf("during the floods: %d answered by legacy, %d refused fast", ok.Load(), refused.Load())
}

// rssKiB reads a process's resident set from /proc.
func rssKiB(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// 500 slowloris connections, each sending its header a byte every 300 ms,
// are cut by --header-timeout (408, closed) long before they finish; a
// normal client meanwhile gets every answer; tandem's RSS stays bounded.
func TestEdge_Slowloris(t *testing.T) {
	legacy, candidate := legacyServer(t), legacyServer(t)
	db := filepath.Join(t.TempDir(), "slow.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--header-timeout", "2s")
	const slow, bytesEach = 500, 40 // 40 bytes at 300 ms: 12 s, far past the 2 s timeout
	var cut, finished atomic.Int64
	var wg sync.WaitGroup
	for i := range slow {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatalf("slowloris %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			gotAnswer := make(chan string, 1)
			go func() {
				b, _ := io.ReadAll(c) // until tandem closes it
				gotAnswer <- string(b)
			}()
			head := "GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", bytesEach)
			for j := range bytesEach {
				select {
				case a := <-gotAnswer:
					if strings.HasPrefix(a, "HTTP/1.1 408 ") || a == "" {
						cut.Add(1)
					}
					return
				case <-time.After(300 * time.Millisecond):
				}
				if _, err := c.Write([]byte{head[j]}); err != nil {
					<-gotAnswer
					cut.Add(1)
					return
				}
			}
			finished.Add(1)
		}()
	}
	// The normal client, on keep-alive connections, while they trickle.
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 30 {
		resp, err := client.Get(p.url(fmt.Sprintf("/items/%d", i)))
		if err != nil {
			t.Fatalf("normal request %d during the slowloris: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != legacyBody {
			t.Fatalf("normal request %d: %d %q", i, resp.StatusCode, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rss := rssKiB(t, p.cmd.Process.Pid)
	wg.Wait()
	if cut.Load() != slow || finished.Load() != 0 {
		t.Errorf("%d slowloris connections cut by the header timeout, %d sent their whole header; want all %d cut", cut.Load(), finished.Load(), slow)
	}
	// A generous bound: 500 connections with 16 KiB read buffers are 8 MiB.
	if rss > 256<<10 {
		t.Errorf("RSS %d KiB with %d slowloris connections, want under 256 MiB", rss, slow)
	}
	alive(t, p)
}

// With every descriptor taken by a flood, a client already connected
// keeps getting legacy's answers (legacy's pooled connection), and the
// mirror copies, which need a new connection to the candidate, are dropped
// and counted, not recorded as candidate errors.
func TestEdge_MirrorOutOfDescriptors(t *testing.T) {
	legacy := legacyServer(t)
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // every copy dials again
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, legacyBody)
	})
	db := filepath.Join(t.TempDir(), "mirrorfd.db")
	p := startTandemLimited(t, 128, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db,
		"--workers", "4", "--max-conns", "10000", "--admin", "127.0.0.1:0")
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(i int) {
		t.Helper()
		resp, err := client.Get(p.url(fmt.Sprintf("/items/%d", i)))
		if err != nil {
			t.Fatalf("request %d on the established connection: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != legacyBody {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	get(0)
	waitMetricAtLeast(t, p, "tandem_compared_total", 1)
	_, _, release := flood(t, p.addr, 300)
	defer release()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.log(), "accept failed; retrying") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for i := 1; i <= 5; i++ {
		get(i)
	}
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(p.log(), "mirror copy dropped: out of file descriptors") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	release()
	m := metricsOf(t, p)
	if d := metricValue(t, m, "tandem_dropped_total"); d < 1 {
		t.Errorf("tandem_dropped_total %d, want the copies that found no descriptor:\n%s", d, p.log())
	}
	if e := metricValue(t, m, "tandem_candidate_errors_total"); e != 0 {
		t.Errorf("tandem_candidate_errors_total %d: tandem's own shortage is not the candidate's error", e)
	}
	alive(t, p)
}
