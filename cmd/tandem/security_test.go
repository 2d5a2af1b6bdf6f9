package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
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

// No open proxy: neither an absolute-form target, nor a foreign Host
// header, nor CONNECT changes the upstream.
func TestSecurity_NotAnOpenProxy(t *testing.T) {
	var foreign atomic.Int64
	elsewhere := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { foreign.Add(1) })
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy") })
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy") })
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(t.TempDir(), "o.db"), "--admin", "127.0.0.1:0")
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
	// CONNECT asks for a tunnel to a host: tandem opens none. The request
	// goes to legacy like any other (and, not being safe, is not
	// mirrored), and what follows it on the connection is one more request
	// to legacy, not bytes piped to the host.
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "CONNECT "+u.Host+" HTTP/1.1\r\nHost: "+u.Host+"\r\n\r\n")
	// Legacy's answer, relayed as it is: read as a plain response, since
	// it has a body whatever its status.
	cresp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("CONNECT: %v", err)
	}
	io.Copy(io.Discard, cresp.Body)
	io.WriteString(c, "GET /through-the-tunnel HTTP/1.1\r\nHost: "+u.Host+"\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("after CONNECT: %v", err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "legacy" {
		t.Errorf("after CONNECT: got %q, want legacy's answer", b)
	}
	c.Close()
	// Mirror copies are asynchronous: wait until the four GETs' have been
	// compared, then stop the proxy, so that no copy is still on its way
	// to anyone when the upstreams are counted.
	waitMetricAtLeast(t, p, "tandem_compared_total", 4)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
	if foreign.Load() != 0 {
		t.Errorf("a host that is not an upstream got %d requests", foreign.Load())
	}
	if got := legacy.requests(); len(got) != 5 {
		t.Errorf("legacy got %q; want the 5 requests", got)
	}
	if got := candidate.requests(); len(got) != 4 || slices.Contains(got, "CONNECT "+u.Host) {
		t.Errorf("candidate got %q; want the 4 GETs", got)
	}
}

// Side effects: no method but GET, HEAD, OPTIONS and TRACE reaches the
// candidate unless the endpoint's rule allows it; the client is served by
// legacy all the same.
func TestSecurity_SideEffects(t *testing.T) {
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy "+r.Method) })
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "legacy "+r.Method) })
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte("version: 1\nendpoints:\n  - match: POST /allowed\n    allow_side_effects: true\n"), 0o600)
	db := filepath.Join(dir, "s.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--rules", rulesFile)
	unsafe := []string{"POST", "PUT", "PATCH", "DELETE", "PURGE", "MKCOL", "post", "Get"}
	for _, m := range append(append([]string{}, unsafe...), "GET", "HEAD", "OPTIONS") {
		req, _ := http.NewRequest(m, p.url("/orders"), strings.NewReader("payload"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "legacy " + m; m != "HEAD" && string(b) != want {
			t.Errorf("%s: client got %q, want %q", m, b, want)
		}
	}
	resp, err := http.Post(p.url("/allowed"), "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
	got := candidate.requests()
	want := []string{"GET /orders", "HEAD /orders", "OPTIONS /orders", "POST /allowed"}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the candidate got %q, want only %q", got, want)
	}
	if r := readReport(t, db); r.Totals.Skipped != int64(len(unsafe)) || r.Totals.Requests != int64(len(unsafe))+4 {
		t.Errorf("totals %+v: want %d skipped", r.Totals, len(unsafe))
	}
}

// Redaction end to end: the standard secret headers and what the rules'
// redact: names (a header, a JSON field, a query parameter) never reach the
// database file or its WAL, read while the proxy runs and after it stopped,
// nor what report and export show.
func TestSecurity_Redaction(t *testing.T) {
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "sid=secret-set-cookie")
		w.Header().Set("X-Api-Key", "secret-response-header")
		io.WriteString(w, `{"name":"a","token":"secret-legacy-field","user":{"Token":"secret-nested-field"}}`)
	})
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"name":"b","token":"secret-candidate-field","user":null}`)
	})
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte("version: 1\ndefaults:\n  redact: [X-Api-Key, token, api_key]\n"), 0o600)
	db := filepath.Join(dir, "r.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--rules", rulesFile,
		"--record", "all", "--admin", "127.0.0.1:0")
	const n = 20
	for i := range n {
		req, _ := http.NewRequest("POST", p.url(fmt.Sprintf("/api/x/%d?api_key=secret-query&page=2", i)), strings.NewReader(`{"token":"secret-request-field"}`))
		req.Method = "GET" // a GET with a body: mirrored, body and all
		req.Header.Set("Authorization", "Bearer secret-authorization")
		req.Header.Set("Proxy-Authorization", "Basic secret-proxy-authorization")
		req.Header.Set("Cookie", "sid=secret-cookie")
		req.Header.Set("X-Api-Key", "secret-request-header")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "secret-legacy-field") {
			t.Fatalf("the client must get legacy's answer as it is: %q", b)
		}
	}
	secrets := []string{"secret-set-cookie", "secret-response-header", "secret-legacy-field", "secret-nested-field",
		"secret-candidate-field", "secret-query", "secret-request-field", "secret-authorization", "secret-proxy-authorization",
		"secret-cookie", "secret-request-header"}
	grep := func(when string, b []byte) {
		t.Helper()
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s: %q is there", when, s)
			}
		}
	}
	waitMetric(t, p, fmt.Sprintf("tandem_store_stored_total %d\n", n))
	raw := func() []byte {
		var all []byte
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			b, _ := os.ReadFile(f)
			all = append(all, b...)
		}
		return all
	}
	running := raw()
	if st, err := os.Stat(db + "-wal"); err != nil || st.Size() == 0 {
		t.Fatalf("no WAL while the proxy runs (%v): the test would not read what it must", err)
	}
	grep("the database and its WAL while the proxy runs", running)
	if !bytes.Contains(running, []byte("[REDACTED]")) || !bytes.Contains(running, []byte("page=2")) {
		t.Error("the exchanges are not in the file: nothing was checked")
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
	grep("the database after the stop", raw())
	for _, args := range [][]string{{"report", "--db", db}, {"report", "--db", db, "--format", "json"}, {"export", "--db", db}, {"export", "--db", db, "--format", "har"}} {
		code, out, stderr := runTandem(t, context.Background(), args...)
		if code != 0 || !strings.Contains(out, "REDACTED") && args[0] == "export" {
			t.Errorf("%v: exit %d, %s", args, code, stderr)
		}
		grep(strings.Join(args[:1], " ")+" output", []byte(out))
	}
	// Upstreams get the client's credentials: redaction is for what tandem keeps.
	if got := legacy.auth[0]; got != "Bearer secret-authorization" {
		t.Errorf("legacy got Authorization %q", got)
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
// port. /metrics has every series the issue lists, each with the value the
// traffic implies, in a page that follows the Prometheus text format.
func TestAdmin(t *testing.T) {
	legacy := legacyServer(t)
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/users/8":
			io.WriteString(w, `{"id":1,"name":"other"}`)
		case "/api/users/9":
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, legacyBody)
		}
	})
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(t.TempDir(), "a.db"), "--admin", ":0")
	if !strings.HasPrefix(p.admin, "127.0.0.1:") {
		t.Errorf("admin listens on %s, want loopback", p.admin)
	}
	for _, path := range []string{"/api/users/7", "/api/users/7", "/api/users/7", "/api/users/8", "/api/users/9"} {
		get(t, p.url(path))
	}
	resp, err := http.Post(p.url("/api/users/7"), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitMetric(t, p, "tandem_compared_total 5")
	// A worker counts its comparison before it leaves the queue's count.
	waitMetric(t, p, "tandem_queue_depth 0")
	m := get(t, "http://"+p.admin+"/metrics")
	for _, want := range []string{
		"tandem_requests_total 6", "tandem_mirrored_total 5", "tandem_compared_total 5", "tandem_matched_total 3",
		"tandem_mismatched_total 1", "tandem_noise_total 0", "tandem_candidate_errors_total 1", "tandem_skipped_total 1",
		"tandem_dropped_total 0", "tandem_queue_depth 0", "tandem_secondary_errors_total 0", "tandem_store_lost_total 0",
		`tandem_outcomes_total{endpoint="GET /api/users/{id}",outcome="match"} 3`,
		`tandem_outcomes_total{endpoint="GET /api/users/{id}",outcome="mismatch"} 1`,
		`tandem_outcomes_total{endpoint="GET /api/users/{id}",outcome="candidate_error"} 1`,
		`tandem_latency_seconds_count{endpoint="GET /api/users/{id}",upstream="legacy"} 5`,
		// the candidate's latency is that of its answers
		`tandem_latency_seconds_count{endpoint="GET /api/users/{id}",upstream="candidate"} 4`,
		`tandem_latency_seconds_bucket{endpoint="GET /api/users/{id}",upstream="candidate",le="+Inf"} 4`,
		`tandem_client_legacy_latency_seconds_bucket{le="+Inf"} 6`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	checkExposition(t, m)
	if got := get(t, "http://"+p.admin+"/healthz"); got != "ok\n" {
		t.Errorf("healthz %q", got)
	}
	if got := get(t, "http://"+p.admin+"/debug/pprof/"); !strings.Contains(got, "goroutine") {
		t.Errorf("pprof index missing")
	}
	if got := get(t, "http://"+p.admin+"/debug/pprof/goroutine?debug=1"); !strings.Contains(got, "goroutine profile:") {
		t.Errorf("pprof goroutine profile missing")
	}
}

var (
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$`)
	typeRE   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
)

// checkExposition checks a page against the Prometheus text format: every
// sample line parses, belongs to a family whose TYPE came before it, and
// each family's lines are together; a histogram's buckets are cumulative
// and end with +Inf equal to its _count.
func checkExposition(t *testing.T, page string) {
	t.Helper()
	types := map[string]string{}
	done := map[string]bool{} // families whose lines have ended
	current := ""
	le := regexp.MustCompile(`,?le="[^"]*"`)
	// series: a histogram's name and labels without le, "{}" for none
	series := func(name, labels string) string {
		if labels = le.ReplaceAllString(labels, ""); labels == "" {
			labels = "{}"
		}
		return name + labels
	}
	buckets := map[string]int64{} // series -> last bucket
	inf := map[string]int64{}     // series -> +Inf bucket
	counts := 0
	for i, line := range strings.Split(strings.TrimSuffix(page, "\n"), "\n") {
		if m := typeRE.FindStringSubmatch(line); m != nil {
			if _, dup := types[m[1]]; dup {
				t.Errorf("line %d: second TYPE for %s", i+1, m[1])
			}
			types[m[1]] = m[2]
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d does not parse: %q", i+1, line)
			continue
		}
		family := m[1]
		if types[family] == "" {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := strings.CutSuffix(family, suf); ok && types[f] == "histogram" {
					family = f
				}
			}
		}
		if types[family] == "" {
			t.Errorf("line %d: %s has no TYPE before it", i+1, m[1])
		}
		if family != current {
			if done[family] {
				t.Errorf("line %d: %s's lines are not together", i+1, family)
			}
			done[current], current = true, family
		}
		if types[family] != "histogram" {
			continue
		}
		var v int64
		fmt.Sscan(m[3], &v)
		key := series(family, m[2])
		switch strings.TrimPrefix(m[1], family) {
		case "_bucket":
			if v < buckets[key] {
				t.Errorf("line %d: buckets not cumulative: %s", i+1, line)
			}
			buckets[key] = v
			if strings.Contains(m[2], `le="+Inf"`) {
				inf[key] = v
			}
		case "_count":
			counts++
			if want, ok := inf[key]; !ok || v != want {
				t.Errorf("line %d: %s, but its +Inf bucket is %d (%v)", i+1, line, want, ok)
			}
		}
	}
	if counts == 0 {
		t.Error("no histogram in the page")
	}
}

// A corrupt, truncated or foreign database file gets a clear error naming
// the file from every command that reads one (report, rediff, export, tui,
// replay --from and replay --db), never a panic. A file whose header is
// sound but whose pages are not fails when those pages are read.
func TestCorruptDatabase(t *testing.T) {
	dir := t.TempDir()
	raw, pages := corruptPagesDB(t, dir)
	files := []struct {
		name string
		b    []byte
	}{
		{"garbage.db", bytes.Repeat([]byte("not a database at all "), 500)},
		{"truncated.db", raw[:len(raw)/3]},
		{"zeroed.db", append(append([]byte{}, raw[:100]...), make([]byte, len(raw)-100)...)},
		{"foreign.db", nil}, // another application's SQLite file
		{"pages.db", pages},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		write := func() {
			if f.b == nil {
				os.Remove(path)
				other, err := sql.Open("sqlite3", path)
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				if _, err := other.Exec("CREATE TABLE accounts (id INTEGER)"); err != nil {
					t.Fatal(err)
				}
				return
			}
			os.Remove(path + "-wal")
			os.Remove(path + "-shm")
			if err := os.WriteFile(path, f.b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{
			{"report", "--db", path},
			{"rediff", "--db", path},
			{"export", "--db", path},
			{"tui", "--db", path},
			{"replay", "--from", path, "--candidate", "http://127.0.0.1:1", "--db", filepath.Join(dir, "results-"+f.name)},
			{"replay", "--from", filepath.Join("..", "..", "replay", "testdata", "github.har"), "--candidate", "http://127.0.0.1:1", "--db", path},
		} {
			t.Run(f.name+"/"+strings.Join(args[:3], " "), func(t *testing.T) {
				write()
				code, _, stderr := runTandem(t, context.Background(), args...)
				if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
					t.Fatalf("exit %d, stderr %q: a panic", code, stderr)
				}
				switch {
				case f.name == "pages.db" && args[0] == "report":
					// The report reads the counters, which are whole.
					if code != 0 {
						t.Errorf("exit %d, stderr %q", code, stderr)
					}
				case f.name == "pages.db" && args[0] == "tui":
					// It opens; what it cannot read is said on its screen
					// (TestCorruptDatabase_TUI).
					if code != exitUsage || !strings.Contains(stderr, "needs a terminal") {
						t.Errorf("exit %d, stderr %q", code, stderr)
					}
				case f.name == "pages.db" && args[0] == "replay" && args[2] == path:
					// A recording is read whole before anything is sent:
					// a corrupt one is bad input.
					if code != exitUsage || !strings.Contains(stderr, path) || !strings.Contains(stderr, "the database is corrupt") {
						t.Errorf("exit %d, stderr %q; want exit 2 and an error naming the file and the corruption", code, stderr)
					}
				case f.name == "pages.db" && args[0] != "replay":
					if code != 1 || !strings.Contains(stderr, path) || !strings.Contains(stderr, "the database is corrupt") {
						t.Errorf("exit %d, stderr %q; want exit 1 and an error naming the file and the corruption", code, stderr)
					}
				default:
					if code != exitUsage || !strings.Contains(stderr, path) {
						t.Errorf("exit %d, stderr %q; want a clear error naming the file and exit 2", code, stderr)
					}
				}
			})
		}
	}
}

// corruptPagesDB writes a tandem database of 300 stored exchanges and
// returns its bytes, and a copy whose exchanges' pages, well past the
// header and the schema, are overwritten.
func corruptPagesDB(t *testing.T, dir string) (raw, pages []byte) {
	t.Helper()
	good := filepath.Join(dir, "good.db")
	s, err := store.Open(context.Background(), good, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter(store.WriterConfig{Record: store.RecordAll})
	for i := range 300 {
		w.Record(&tandem.Exchange{Endpoint: "GET /x/{id}", Outcome: tandem.Mismatch,
			Request:     tandem.Request{Method: "GET", URL: fmt.Sprintf("/x/%d", i)},
			Legacy:      tandem.Response{Status: 200, Body: []byte(fmt.Sprintf(`{"i":%d,"pad":"%0500d"}`, i, i))},
			Candidate:   tandem.Response{Status: 200, Body: []byte(`{}`)},
			Differences: []tandem.Difference{{Path: "$.i", Pattern: "$.i", Kind: tandem.Removed, Legacy: "1"}}}, nil)
	}
	w.Close()
	s.Close()
	raw, err = os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// The exchanges' pages are the file's last quarter: the tables that
	// come after them in the schema (counters, verdicts, cutover) are
	// created empty, one page each, before the first exchange is written.
	pages = bytes.Clone(raw)
	for i := len(pages) * 3 / 4; i < len(pages); i++ {
		pages[i] = 0x5a
	}
	return raw, pages
}

// The UI on a database whose header is sound but whose exchanges' pages are
// not: it opens, what it cannot read is said on its screen (not in a
// panic), and it quits as usual.
func TestCorruptDatabase_TUI(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for this test (apt-get install tmux)")
	}
	dir := t.TempDir()
	_, pages := corruptPagesDB(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "pages.db"), pages, 0o600); err != nil {
		t.Fatal(err)
	}
	tm := &tmux{t: t, socket: fmt.Sprintf("tandem-corrupt-%d", os.Getpid())}
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	tm.run("-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "30", "-c", dir,
		tandemBinary(t)+" tui --db pages.db 2>err.txt; echo tandem exited $?; sleep 600")
	tm.wait("GET /x/{id}")
	tm.keys("Enter")
	tm.wait("$.i")
	tm.keys("Enter")
	tm.wait("list exchanges: the database is corrupt")
	for range 4 {
		tm.keys("q")
	}
	tm.wait("tandem exited 0")
	if b, _ := os.ReadFile(filepath.Join(dir, "err.txt")); len(b) > 0 {
		t.Errorf("stderr: %s", b)
	}
}

// The store's disk fills up, or the database becomes read-only, under the
// proxy: clients are served as ever, the lost records are counted, and the
// failure is logged once, not per batch; when writes work again, storing
// resumes and that is logged once too.
func TestStoreDiskFull(t *testing.T) {
	tests := []struct {
		name         string
		fail, unfail string // run on the writer's only connection
		logged       string // what the log says the cause is
	}{
		// SQLite's own limit on the file's pages makes every further write
		// fail with SQLITE_FULL, as a full disk does.
		{"DiskFull", "PRAGMA max_page_count = %d", "PRAGMA max_page_count = 1000000", "the disk is full"},
		// query_only makes every write fail with SQLITE_READONLY, as a file
		// that cannot be written does.
		{"ReadOnly", "PRAGMA query_only = ON", "PRAGMA query_only = OFF", "cannot write the database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			legacy := legacyServer(t)
			candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "different") })
			db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "full.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// The pragmas are per connection: the pool is held to one.
			db.SQL().SetMaxOpenConns(1)
			var pages int
			db.SQL().QueryRow("PRAGMA page_count").Scan(&pages)
			if _, err := db.SQL().Exec(strings.Replace(tt.fail, "%d", fmt.Sprint(pages+2), 1)); err != nil {
				t.Fatal(err)
			}
			var logBuf syncBuffer // the proxy logs while the test reads
			log := slog.New(slog.NewTextHandler(&logBuf, nil))
			w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Logger: log, BatchSize: 10})
			lu, _ := url.Parse(legacy.URL)
			cu, _ := url.Parse(candidate.URL)
			p, err := mirror.New(mirror.Config{Legacy: lu, Candidate: cu, Sample: 1, Recorder: w, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go p.Serve(ln)
			send := func(from, to int) {
				for i := from; i < to; i++ {
					if got := get(t, fmt.Sprintf("http://%s/items/%d?pad=%s", ln.Addr(), i, strings.Repeat("x", 2000))); got != legacyBody {
						t.Fatalf("client got %q", got)
					}
				}
			}
			send(0, 200)
			// Mirror copies are asynchronous: wait for all of them to reach
			// the writer, then for its batches.
			poll(t, "200 comparisons", func() bool { return p.Stats().Compared >= 200 },
				func() string { return fmt.Sprintf("compared %d", p.Stats().Compared) })
			w.Flush()
			ws := w.Stats()
			if ws.Lost == 0 || ws.Stored+ws.Lost != 200 {
				t.Errorf("stored %d, lost %d: want losses counted, and every exchange either stored or lost", ws.Stored, ws.Lost)
			}
			var m bytes.Buffer
			w.WriteMetrics(&m)
			if !strings.Contains(m.String(), fmt.Sprintf("tandem_store_lost_total %d\n", ws.Lost)) {
				t.Errorf("metrics do not show the %d lost:\n%s", ws.Lost, m.String())
			}
			if n := strings.Count(logBuf.String(), "writes are failing"); n != 1 || !strings.Contains(logBuf.String(), tt.logged) {
				t.Errorf("the failure was logged %d times, want once, saying %q:\n%s", n, tt.logged, logBuf.String())
			}
			// Writable again: what comes next is stored.
			if _, err := db.SQL().Exec(tt.unfail); err != nil {
				t.Fatal(err)
			}
			send(200, 250)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.Shutdown(ctx)
			w.Close()
			after := w.Stats()
			if after.Lost != ws.Lost || after.Stored != ws.Stored+50 {
				t.Errorf("after the fault: stored %d, lost %d; want %d stored, no more lost", after.Stored, after.Lost, ws.Stored+50)
			}
			if n := strings.Count(logBuf.String(), "writes work again"); n != 1 {
				t.Errorf("the recovery was logged %d times, want once:\n%s", n, logBuf.String())
			}
			if n := strings.Count(strings.TrimSpace(logBuf.String()), "\n") + 1; n > 2 {
				t.Errorf("%d log lines, want 2:\n%s", n, logBuf.String())
			}
		})
	}
}
