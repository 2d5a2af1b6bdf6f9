package mirror_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/upstream"
	"github.com/tandemproxy/tandem/upstream/upstreamtest"
)

// closingServer is a net/http upstream that closes idle connections after
// a few milliseconds (as gunicorn, Node and Apache do after seconds) and
// reports each close on closed.
func closingServer(t *testing.T, s *seen, body string) (*httptest.Server, chan struct{}) {
	t.Helper()
	closed := make(chan struct{}, 100)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		w.Write([]byte(body))
	}))
	srv.Config.IdleTimeout = 20 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, closed
}

// Writes spaced beyond the upstreams' idle timeout: every client gets
// legacy's answer, legacy and the candidate each see every request once,
// and no mirror copy fails.
func TestProxy_UpstreamsCloseIdleConnections(t *testing.T) {
	var legacySeen, candSeen seen
	legacy, legacyClosed := closingServer(t, &legacySeen, "legacy answer")
	cand, candClosed := closingServer(t, &candSeen, "legacy answer")
	rs, err := rules.Parse("r.yaml", []byte("version: 1\nendpoints:\n  - match: POST /orders\n    allow_side_effects: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Rules: rs, Recorder: rec})
	const n = 4
	var want []string
	for i := range n {
		body := fmt.Sprint("order ", i)
		resp, got := get(t, "POST", addr+"/orders", body, nil)
		if resp.StatusCode != 200 || got != "legacy answer" {
			t.Fatalf("request %d after idle: client got %d %q, want legacy's answer", i, resp.StatusCode, got)
		}
		exs := rec.wait(t, 1)
		if ex := exs[len(exs)-1]; ex.Outcome != tandem.Match {
			t.Fatalf("request %d: mirror copy %s (%q), want a match", i, ex.Outcome, ex.Candidate.Err)
		}
		want = append(want, "POST /orders host="+strings.TrimPrefix(addr, "http://")+" body="+body)
		<-legacyClosed // both upstreams have closed the idle connection
		<-candClosed
	}
	if got := legacySeen.list(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("legacy saw %q, want each request once: %q", got, want)
	}
	if got := candSeen.list(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("candidate saw %q, want each copy once: %q", got, want)
	}
}

// rawLegacy answers every request with the bytes given, and closes.
func rawLegacy(t *testing.T, answer string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					io.WriteString(c, answer)
				}
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// rawGet sends a request on a raw socket and returns the answer's header
// block as received.
func rawGet(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	// Connection: close is the proxy's answer to the client's own, about
	// their connection (hop by hop), not one of legacy's fields.
	return strings.Replace(string(head), "\r\nConnection: close", "", 1)
}

// The client gets legacy's header fields and no others: legacy's Date
// once, whatever its case, and none where legacy sent none.
func TestProxy_DateIsLegacys(t *testing.T) {
	cand := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(cand.Close)
	for _, tt := range []struct {
		name, answer, want string
	}{
		{"lower case", "HTTP/1.1 200 OK\r\ndate: Tue, 01 Dec 2026 10:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
			"HTTP/1.1 200 OK\r\ndate: Tue, 01 Dec 2026 10:00:00 GMT\r\nContent-Length: 2"},
		{"canonical", "HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\nContent-Length: 2\r\n\r\nok",
			"HTTP/1.1 200 OK\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\nContent-Length: 2"},
		{"none", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			"HTTP/1.1 200 OK\r\nContent-Length: 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := start(t, mirror.Config{Legacy: rawLegacy(t, tt.answer), Candidate: mustURL(t, cand.URL)})
			got := rawGet(t, addr)
			// Only Content-Length's place may differ: fasthttp writes it first.
			if !sameFields(got, tt.want) {
				t.Errorf("client got\n%s\nwant\n%s", got, tt.want)
			}
			if n := strings.Count(strings.ToLower(got), "\r\ndate:"); n != strings.Count(strings.ToLower(tt.want), "\r\ndate:") {
				t.Errorf("%d Date fields in\n%s", n, got)
			}
		})
	}
}

func sameFields(a, b string) bool {
	fa, fb := strings.Split(a, "\r\n"), strings.Split(b, "\r\n")
	if len(fa) != len(fb) || fa[0] != fb[0] {
		return false
	}
	set := map[string]int{}
	for _, f := range fa[1:] {
		set[f]++
	}
	for _, f := range fb[1:] {
		set[f]--
	}
	for _, n := range set {
		if n != 0 {
			return false
		}
	}
	return true
}

// lockedLog collects log lines.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// https:// upstreams: legacy and the candidate over TLS with the CA given;
// a legacy whose certificate is not trusted gets the client a 502 and a
// log line that names legacy and the reason.
func TestProxy_HTTPSUpstreams(t *testing.T) {
	dir := t.TempDir()
	ca := upstreamtest.NewCA(t, "tandem-test")
	caFile := ca.File(t, dir)
	legacy := upstreamtest.Server(t, ca, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("over tls")) }))
	cand := upstreamtest.Server(t, ca, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("over tls")) }))
	trusted := upstream.TLSOptions{CAFile: caFile}

	t.Run("OK", func(t *testing.T) {
		rec := newRecorder()
		_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec,
			LegacyTLS: trusted, CandidateTLS: trusted})
		resp, body := get(t, "GET", addr+"/x", "", nil)
		if resp.StatusCode != 200 || body != "over tls" {
			t.Fatalf("client got %d %q", resp.StatusCode, body)
		}
		if ex := rec.wait(t, 1)[0]; ex.Outcome != tandem.Match {
			t.Errorf("mirror copy %s (%q), want a match", ex.Outcome, ex.Candidate.Err)
		}
	})
	t.Run("ErrUntrusted", func(t *testing.T) {
		var logs lockedLog
		rec := newRecorder()
		_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec,
			CandidateTLS: trusted, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		resp, _ := get(t, "GET", addr+"/x", "", nil)
		if resp.StatusCode != 502 {
			t.Fatalf("client got %d, want 502", resp.StatusCode)
		}
		if l := logs.String(); !strings.Contains(l, "upstream=legacy") || !strings.Contains(l, "not trusted") || !strings.Contains(l, "--legacy-ca") {
			t.Errorf("log does not name legacy and the reason:\n%s", l)
		}
	})
	t.Run("ErrCandidateUntrusted", func(t *testing.T) {
		rec := newRecorder()
		_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec,
			LegacyTLS: trusted})
		get(t, "GET", addr+"/x", "", nil)
		if ex := rec.wait(t, 1)[0]; ex.Outcome != tandem.CandidateError || !strings.Contains(ex.Candidate.Err, "candidate's certificate") {
			t.Errorf("mirror copy %s (%q), want a candidate error naming the certificate", ex.Outcome, ex.Candidate.Err)
		}
	})
}
