package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/store"
)

// rawServer accepts connections on loopback and hands each to fn after
// reading the request head.
func rawServer(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				go func() { <-done; c.Close() }()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				fn(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

const legacyBody = `{"id":1,"name":"legacy"}`

// faultCase is a candidate that misbehaves one way.
type faultCase struct {
	name      string
	candidate func(t *testing.T) string
	// the outcome every mirrored exchange must have
	outcome string
}

func faultCases() []faultCase {
	return []faultCase{
		{"Refused", func(t *testing.T) string {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			addr := ln.Addr().String()
			ln.Close()
			return "http://" + addr
		}, "candidate_error"},
		{"ResetMidResponse", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":")
				c.(*net.TCPConn).SetLinger(0) // close with RST
			})
		}, "candidate_error"},
		{"HangsPastTimeout", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		}, "candidate_error"},
		{"NotHTTP", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02garbage\r\n\r\n") })
		}, "candidate_error"},
		{"EndlessChunked", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
				chunk := "400\r\n" + strings.Repeat("x", 0x400) + "\r\n"
				for {
					if _, err := io.WriteString(c, chunk); err != nil {
						return
					}
				}
			})
		}, "candidate_error"},
		{"HugeBody", func(t *testing.T) string {
			// 2 GiB announced and sent: tandem keeps --max-body of it and
			// hashes the rest, or runs out of time; either way it is never
			// held in memory and the client never waits.
			return rawServer(t, func(c net.Conn) {
				const size = 2 << 30
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", size)
				buf := make([]byte, 1<<20)
				for sent := 0; sent < size; sent += len(buf) {
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			})
		}, "candidate_error|mismatch"},
		{"TrickleBodyForever", func(t *testing.T) string {
			// The head at once, then a byte of body now and then, never
			// ending: each read succeeds, only the timeout can end it.
			return rawServer(t, func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
				for {
					if _, err := io.WriteString(c, "1\r\n \r\n"); err != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			})
		}, "candidate_error"},
		{"SlowByteByByte", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				resp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n" + legacyBody
				for i := range len(resp) {
					if _, err := c.Write([]byte{resp[i]}); err != nil {
						return
					}
					time.Sleep(40 * time.Millisecond)
				}
			})
		}, "candidate_error"},
	}
}

func legacyServer(t *testing.T) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, legacyBody)
	})
}

// TestFaults: whatever the candidate does, every client gets legacy's
// answer, no client request fails, and the counters tell the truth.
func TestFaults(t *testing.T) {
	legacy := legacyServer(t)
	for _, fc := range faultCases() {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			db := filepath.Join(t.TempDir(), "faults.db")
			p := startTandem(t, "--legacy", legacy.URL, "--candidate", fc.candidate(t), "--db", db, "--timeout", "1s", "--max-body", "64KiB",
				"--admin", "127.0.0.1:0")
			const n = 5
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := http.Get(p.url(fmt.Sprintf("/items/%d", i)))
					if err != nil {
						errs <- err
						return
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || string(b) != legacyBody {
						errs <- fmt.Errorf("client got %d %q", resp.StatusCode, b)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// The live counters agree with what was stored.
			waitMetric(t, p, fmt.Sprintf("tandem_compared_total %d", n))
			m := get(t, "http://"+p.admin+"/metrics")
			var sumMetric int64
			for _, o := range strings.Split(fc.outcome, "|") {
				name := map[string]string{"candidate_error": "tandem_candidate_errors_total", "mismatch": "tandem_mismatched_total"}[o]
				sumMetric += metricValue(t, m, name)
			}
			if got := metricValue(t, m, "tandem_requests_total"); got != n || sumMetric != n || metricValue(t, m, "tandem_matched_total") != 0 {
				t.Errorf("metrics: %d requests, %d as %s; want %d each:\n%s", got, sumMetric, fc.outcome, n, m)
			}
			if code := p.stop(t, syscall.SIGTERM); code != 0 {
				t.Fatalf("exit %d:\n%s", code, p.log())
			}
			r := readReport(t, db)
			got := map[string]int64{"candidate_error": r.Totals.CandidateErrors, "mismatch": r.Totals.Mismatched, "match": r.Totals.Matched}
			var sum int64
			for _, o := range strings.Split(fc.outcome, "|") {
				sum += got[o]
			}
			if r.Totals.Requests != n || r.Totals.Compared != n || sum != n {
				t.Errorf("totals %+v: want %d requests, all compared as %s", r.Totals, n, fc.outcome)
			}
		})
	}
}

func readReport(t *testing.T, db string) *store.Report {
	t.Helper()
	s := mustOpen(t, db)
	defer s.Close()
	r, err := s.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A secondary that is down costs noise detection, not correctness: the
// exchanges are judged without it, and the counters, the metrics and the
// log (once) say so.
func TestFaults_SecondaryDown(t *testing.T) {
	legacy := legacyServer(t)
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":1,"name":"candidate"}`)
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	secondary := "http://" + ln.Addr().String()
	ln.Close()
	db := filepath.Join(t.TempDir(), "sec.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--secondary", secondary, "--db", db, "--admin", "127.0.0.1:0")
	for i := range 5 {
		resp, err := http.Get(p.url(fmt.Sprintf("/items/%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != legacyBody {
			t.Errorf("client got %q", b)
		}
	}
	waitMetric(t, p, "tandem_compared_total 5")
	metrics := get(t, "http://"+p.admin+"/metrics")
	if !strings.Contains(metrics, "tandem_secondary_errors_total 5") {
		t.Errorf("metrics lack tandem_secondary_errors_total 5:\n%s", metrics)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(p.log(), "secondary is failing"); n != 1 {
		t.Errorf("logged the failing secondary %d times, want once:\n%s", n, p.log())
	}
	r := readReport(t, db)
	if r.Totals.Mismatched != 5 || r.Totals.Noise != 0 || r.Totals.SecondaryErrors != 5 {
		t.Errorf("totals %+v: the name differs for real, and without a secondary nothing is noise", r.Totals)
	}
	if _, out, _ := runTandem(t, context.Background(), "report", "--db", db); !strings.Contains(out, "the secondary did not answer for 5 exchanges: they were judged without noise detection") {
		t.Errorf("the report does not say that noise detection was off:\n%s", out)
	}
	s := mustOpen(t, db)
	defer s.Close()
	var secErr int64
	s.SQL().QueryRow(`SELECT coalesce(sum(n), 0) FROM counters WHERE name = 'secondary_error'`).Scan(&secErr)
	if secErr != 5 {
		t.Errorf("secondary_error counted %d times, want 5", secErr)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitMetric polls /metrics until it holds line (verdicts are asynchronous).
func waitMetric(t *testing.T, p *proc, line string) {
	t.Helper()
	var page string
	poll(t, fmt.Sprintf("%q in /metrics", line), func() bool {
		page = get(t, "http://"+p.admin+"/metrics")
		return strings.Contains(page, line)
	}, func() string { return page })
}

// Legacy down: a clean 502. Legacy slow: a slow answer holds up nobody
// else (a fast request sent during a slow one completes first). Legacy
// past --legacy-timeout: a clean 504.
func TestFaults_Legacy(t *testing.T) {
	slowStarted := make(chan struct{}, 1)
	release := make(chan struct{})
	hang := make(chan struct{})
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			slowStarted <- struct{}{}
			<-release
		case "/hang":
			<-hang
		}
		io.WriteString(w, "ok "+r.URL.Path)
	})
	candidate := legacyServer(t)
	db := filepath.Join(t.TempDir(), "legacy.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--legacy-timeout", "2s")
	slow := make(chan string, 1)
	go func() { slow <- get(t, p.url("/slow")) }()
	<-slowStarted
	if got := get(t, p.url("/fast")); got != "ok /fast" {
		t.Errorf("fast request during a slow one got %q", got)
	}
	select {
	case <-slow:
		t.Fatal("the slow request finished before legacy answered it")
	default:
	}
	close(release)
	if got := <-slow; got != "ok /slow" {
		t.Errorf("slow request got %q", got)
	}
	resp, err := http.Get(p.url("/hang"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 504 || !strings.Contains(string(b), "legacy did not answer in time") {
		t.Errorf("legacy past its timeout: client got %d %q, want a clean 504", resp.StatusCode, b)
	}
	close(hang) // tandem has given up on it; httptest's Close waits for it
	legacy.Close()
	resp, err = http.Get(p.url("/down"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(b), "legacy is unavailable") {
		t.Errorf("legacy down: client got %d %q, want a clean 502", resp.StatusCode, b)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if r := readReport(t, db); r.Totals.LegacyErrors != 2 || r.Totals.Requests != 4 {
		t.Errorf("totals %+v: want 4 requests, 2 legacy errors", r.Totals)
	}
}

// metricValue returns the value of an unlabelled series in a /metrics page.
func metricValue(t *testing.T, page, name string) int64 {
	t.Helper()
	for _, line := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("metrics lack %s", name)
	return 0
}

// At the default level the log has a line per event that matters (start,
// a failing secondary, stop), never one per request, whatever the requests
// meet: mismatches, candidate and legacy errors, a secondary that is down,
// requests refused for their header size.
func TestLogs_NotPerRequest(t *testing.T) {
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/broken") {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		io.WriteString(w, legacyBody)
	})
	var n atomic.Int64
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 3 {
		case 0:
			io.WriteString(w, legacyBody)
		case 1:
			io.WriteString(w, "something else")
		default:
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	secondary := "http://" + ln.Addr().String()
	ln.Close()
	db := filepath.Join(t.TempDir(), "logs.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--secondary", secondary, "--db", db,
		"--admin", "127.0.0.1:0", "--max-header-bytes", "4KiB")
	const requests = 150
	for i := range requests {
		path := fmt.Sprintf("/items/%d", i)
		if i%10 == 0 {
			path = fmt.Sprintf("/broken/%d", i)
		}
		resp, err := http.Get(p.url(path))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i%25 == 0 {
			c, err := net.Dial("tcp", p.addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\n\r\n")
			io.Copy(io.Discard, c)
			c.Close()
		}
	}
	waitMetric(t, p, fmt.Sprintf("tandem_compared_total %d", requests-requests/10))
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	r := readReport(t, db)
	if r.Totals.Mismatched == 0 || r.Totals.CandidateErrors == 0 || r.Totals.LegacyErrors != requests/10 {
		t.Fatalf("totals %+v: the requests did not meet every kind of event", r.Totals)
	}
	lines := strings.Split(strings.TrimSpace(p.log()), "\n")
	// listening, admin listening, secondary failing, stopping, stopped
	if len(lines) > 8 {
		t.Errorf("%d log lines for %d requests, want a handful:\n%s", len(lines), requests, p.log())
	}
	perRequest := regexp.MustCompile(`/(items|broken)/\d`)
	for _, l := range lines {
		if perRequest.MatchString(l) {
			t.Errorf("a log line names a request: %s", l)
		}
	}
}
