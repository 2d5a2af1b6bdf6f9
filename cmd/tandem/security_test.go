package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/store"
)

// The candidate's redirects are answers to compare, never followed: the
// redirect's target receives nothing.
func TestSecurity_NoRedirectFollowing(t *testing.T) {
	var hits atomic.Int64
	target := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy") })
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/stolen", http.StatusFound)
	})
	db := filepath.Join(t.TempDir(), "redirect.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db)
	for range 3 {
		if got := get(t, p.url("/x")); got != "legacy" {
			t.Errorf("client got %q", got)
		}
	}
	p.stop(t, syscall.SIGTERM)
	if r := readReport(t, db); r.Totals.Mismatched != 3 {
		t.Errorf("totals %+v: the 302 is compared as an answer (a mismatch)", r.Totals)
	}
	if hits.Load() != 0 {
		t.Errorf("the redirect target got %d requests", hits.Load())
	}
}

// No open proxy: neither an absolute-form target nor a foreign Host header
// changes the upstream.
func TestSecurity_NotAnOpenProxy(t *testing.T) {
	var foreign atomic.Int64
	elsewhere := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { foreign.Add(1) })
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy") })
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy") })
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(t.TempDir(), "o.db"))
	u, _ := url.Parse(elsewhere.URL)
	for _, head := range []string{
		"GET " + elsewhere.URL + "/x HTTP/1.1\r\nHost: " + u.Host + "\r\n",
		"GET /x HTTP/1.1\r\nHost: " + u.Host + "\r\n",
		"GET http://" + u.Host + "/x HTTP/1.1\r\nHost: example.com\r\n",
	} {
		c, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, head+"Connection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if string(b) != "legacy" {
			t.Errorf("%q: got %q", head, b)
		}
	}
	time.Sleep(200 * time.Millisecond) // mirror copies are asynchronous
	if foreign.Load() != 0 {
		t.Errorf("a host that is not an upstream got %d requests", foreign.Load())
	}
	if len(legacy.requests()) != 3 || len(candidate.requests()) != 3 {
		t.Errorf("legacy got %d, candidate %d requests; want 3 each", len(legacy.requests()), len(candidate.requests()))
	}
}

// A request header over --max-header-bytes gets a 431 and reaches no
// upstream; the proxy goes on serving.
func TestSecurity_HeaderLimit(t *testing.T) {
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy") })
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {})
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(t.TempDir(), "h.db"), "--max-header-bytes", "8KiB")
	// Raw, because the proxy answers and closes before a client could
	// finish writing such a header.
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	go io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 32<<10)+"\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || !strings.Contains(status, " 431 ") {
		t.Errorf("status line %q (%v), want 431", status, err)
	}
	if got := get(t, p.url("/after")); got != "legacy" {
		t.Errorf("after the big header: %q", got)
	}
	if n := len(legacy.requests()); n != 1 {
		t.Errorf("legacy got %d requests, want only the normal one", n)
	}
}

// Admin: metrics, health and the profiler, on loopback when given a bare
// port.
func TestAdmin(t *testing.T) {
	legacy := legacyServer(t)
	candidate := legacyServer(t)
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(t.TempDir(), "a.db"), "--admin", ":0")
	if !strings.HasPrefix(p.admin, "127.0.0.1:") {
		t.Errorf("admin listens on %s, want loopback", p.admin)
	}
	for range 3 {
		get(t, p.url("/api/users/7"))
	}
	waitMetric(t, p, "tandem_compared_total 3")
	m := get(t, "http://"+p.admin+"/metrics")
	for _, want := range []string{
		"tandem_requests_total 3", "tandem_mirrored_total 3", "tandem_matched_total 3", "tandem_dropped_total 0",
		"tandem_queue_depth 0", `tandem_outcomes_total{endpoint="GET /api/users/{id}",outcome="match"} 3`,
		`tandem_latency_seconds_count{endpoint="GET /api/users/{id}",upstream="candidate"} 3`,
		`tandem_client_legacy_latency_seconds_bucket{le="+Inf"} 3`, "tandem_store_lost_total 0",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if got := get(t, "http://"+p.admin+"/healthz"); got != "ok\n" {
		t.Errorf("healthz %q", got)
	}
	if got := get(t, "http://"+p.admin+"/debug/pprof/"); !strings.Contains(got, "goroutine") {
		t.Errorf("pprof index missing")
	}
}

// A corrupt, truncated or foreign database file gets a clear error from
// report and rediff, never a panic.
func TestCorruptDatabase(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s, err := store.Open(context.Background(), good, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter(store.WriterConfig{})
	w.Close()
	s.Close()
	raw, _ := os.ReadFile(good)
	files := map[string][]byte{
		"garbage.db":   bytes.Repeat([]byte("not a database at all "), 500),
		"truncated.db": raw[:len(raw)/3],
		"zeroed.db":    append(append([]byte{}, raw[:100]...), make([]byte, len(raw)-100)...),
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		os.WriteFile(path, b, 0o600)
		for _, args := range [][]string{{"report", "--db", path}, {"rediff", "--db", path}} {
			code, _, stderr := runTandem(t, context.Background(), args...)
			if code != exitUsage || !strings.Contains(stderr, path) || strings.Contains(stderr, "panic") {
				t.Errorf("%s %s: exit %d, stderr %q; want a clear error naming the file and exit 2", args[0], name, code, stderr)
			}
		}
	}
}

// The store's disk fills up under the proxy: clients are served as ever,
// the lost records are counted, and the failure is logged once.
func TestStoreDiskFull(t *testing.T) {
	legacy := legacyServer(t)
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "different") })
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "full.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// SQLite's own limit on the file's pages makes every further write fail
	// with SQLITE_FULL, as a full disk does. It is a per-connection setting,
	// so the pool is held to one connection.
	db.SQL().SetMaxOpenConns(1)
	var pages int
	db.SQL().QueryRow("PRAGMA page_count").Scan(&pages)
	if _, err := db.SQL().Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+2)); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&syncWriter{w: &logBuf}, nil))
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Logger: log, BatchSize: 10})
	lu, _ := url.Parse(legacy.URL)
	cu, _ := url.Parse(candidate.URL)
	p, err := mirror.New(mirror.Config{Legacy: lu, Candidate: cu, Sample: 1, Recorder: w, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go p.Serve(ln)
	for i := range 200 {
		if got := get(t, fmt.Sprintf("http://%s/items/%d?pad=%s", ln.Addr(), i, strings.Repeat("x", 2000))); got != legacyBody {
			t.Fatalf("client got %q", got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.Shutdown(ctx)
	w.Close()
	ws := w.Stats()
	if ws.Lost == 0 || ws.Stored+ws.Lost != 200 {
		t.Errorf("stored %d, lost %d: want losses counted, and every exchange either stored or lost", ws.Stored, ws.Lost)
	}
	if n := strings.Count(logBuf.String(), "writes are failing"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logBuf.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
