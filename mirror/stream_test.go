package mirror_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
)

// steppedLegacy answers with parts, flushing each, and waits before each
// next part until the test says the client has the previous one: a proxy
// that buffers the answer never gives the client the first part, and the
// test fails. step returns the channel to signal on.
func steppedLegacy(t *testing.T, contentType string, parts ...string) (*httptest.Server, chan struct{}) {
	t.Helper()
	next := make(chan struct{}, len(parts))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		for i, p := range parts {
			if i > 0 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Second):
					return
				}
			}
			io.WriteString(w, p)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv, next
}

// constant answers every request with body.
func constant(t *testing.T, contentType, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// readUntil reads from r until it has read want, failing the test if the
// answer ends or stalls first.
func readUntil(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	got := make(chan error, 1)
	go func() {
		buf := make([]byte, len(want))
		_, err := io.ReadFull(r, buf)
		if err == nil && string(buf) != want {
			err = fmt.Errorf("read %q", buf)
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiting for %q: %v", want, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%q did not reach the client while legacy waited: the answer is buffered", want)
	}
}

func streamingGet(t *testing.T, u string) (*http.Response, *bufio.Reader) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// waitFor polls the proxy's counters until ok, for what happens on the
// server's goroutine after the client has its answer.
func waitStats(t *testing.T, p *mirror.Proxy, what string, ok func(mirror.Stats) bool) mirror.Stats {
	t.Helper()
	var s mirror.Stats
	waitFor(t, what, func() bool { s = p.Stats(); return ok(s) })
	return s
}

func compareStreams(t *testing.T) *rules.Set {
	t.Helper()
	rs, err := rules.Parse("r.yaml", []byte("version: 1\nendpoints:\n  - match: GET /events\n    compare_streams: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestProxy_StreamsEvents(t *testing.T) {
	events := []string{"data: one\n\n", "data: two\n\n", "data: three\n\n"}
	for _, tt := range []struct {
		name     string
		rules    *rules.Set
		want     tandem.Outcome // "": streamed, not compared
		candBody string
	}{
		{name: "CountedStreamed"},
		{name: "ComparedWhenTheRuleOptsIn", rules: compareStreams(t), want: tandem.Mismatch, candBody: "data: one\n\ndata: 2\n\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			legacy, next := steppedLegacy(t, "text/event-stream", events...)
			var cand seen
			candidate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cand.add(r)
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, tt.candBody)
			}))
			defer candidate.Close()
			rec := newRecorder()
			p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), Sample: 1,
				Rules: tt.rules, Recorder: rec})

			resp, r := streamingGet(t, addr+"/events")
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
			for i, ev := range events {
				readUntil(t, r, ev)
				if i < len(events)-1 {
					next <- struct{}{}
				}
			}
			if rest, err := io.ReadAll(r); err != nil || len(rest) > 0 {
				t.Fatalf("after the events: %q, %v", rest, err)
			}
			if tt.want == "" {
				s := waitStats(t, p, "streamed", func(s mirror.Stats) bool { return s.Streamed == 1 })
				if s.Mirrored != 0 || len(cand.list()) != 0 {
					t.Errorf("an event stream was mirrored: %+v, candidate saw %q", s, cand.list())
				}
				return
			}
			ex := rec.wait(t, 1)[0]
			if ex.Outcome != tt.want || string(ex.Legacy.Body) != strings.Join(events, "") {
				t.Errorf("outcome %s, legacy body %q: want %s on the whole stream", ex.Outcome, ex.Legacy.Body, tt.want)
			}
			if s := p.Stats(); s.Streamed != 0 {
				t.Errorf("streamed %d, want 0 when the rule compares streams", s.Streamed)
			}
		})
	}
}

// A chunked answer that ends soon (progress output, a JSON answer written
// in pieces) streams to the client and is compared as usual.
func TestProxy_StreamsChunkedAndCompares(t *testing.T) {
	legacy, next := steppedLegacy(t, "application/json", `{"progress":[10,`, `50,`, `100]}`)
	candidate := constant(t, "application/json", `{"progress":[10,50,99]}`)
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), Sample: 1, Recorder: rec})

	resp, r := streamingGet(t, addr+"/job")
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("Transfer-Encoding %q, want chunked", resp.TransferEncoding)
	}
	readUntil(t, r, `{"progress":[10,`)
	next <- struct{}{}
	readUntil(t, r, `50,`)
	next <- struct{}{}
	readUntil(t, r, `100]}`)
	ex := rec.wait(t, 1)[0]
	if ex.Outcome != tandem.Mismatch || len(ex.Differences) != 1 || ex.Differences[0].Path != "$.progress[2]" {
		t.Errorf("outcome %s, differences %+v: want the mismatch at $.progress[2]", ex.Outcome, ex.Differences)
	}
	if s := p.Stats(); s.Streamed != 0 || s.Mirrored != 1 {
		t.Errorf("streamed %d, mirrored %d: want a short chunked answer compared", s.Streamed, s.Mirrored)
	}
}

// An answer without a length that lasts longer than StreamCompareAfter is a
// stream: counted, not compared.
func TestProxy_LongAnswerWithoutLengthIsStreamed(t *testing.T) {
	legacy, next := steppedLegacy(t, "text/plain", "working\n", "done\n")
	var cand seen
	candidate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cand.add(r) }))
	defer candidate.Close()
	after := 20 * time.Millisecond
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), Sample: 1, StreamCompareAfter: after})
	_, r := streamingGet(t, addr+"/long")
	readUntil(t, r, "working\n")
	time.Sleep(2 * after) // the answer lasts longer than StreamCompareAfter: what is tested, not a timing assertion
	next <- struct{}{}
	readUntil(t, r, "done\n")
	s := waitStats(t, p, "streamed", func(s mirror.Stats) bool { return s.Streamed == 1 })
	if s.Mirrored != 0 || len(cand.list()) != 0 {
		t.Errorf("a long stream was mirrored: %+v", s)
	}
}

// bigBody is n reproducible random bytes, with their SHA-256.
func bigBody(n int) ([]byte, string) {
	b := make([]byte, n)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(b)
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func TestProxy_StreamsLargeDownloads(t *testing.T) {
	body, sum := bigBody(9<<20 + 123)
	serve := func(withLength bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			if withLength {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			}
			for rest := body; len(rest) > 0; {
				n := min(len(rest), 1<<20)
				w.Write(rest[:n])
				rest = rest[n:]
				if !withLength {
					w.(http.Flusher).Flush()
				}
			}
		}
	}
	for _, withLength := range []bool{true, false} {
		t.Run(fmt.Sprintf("ContentLength=%v", withLength), func(t *testing.T) {
			legacy := httptest.NewServer(serve(withLength))
			defer legacy.Close()
			candidate := httptest.NewServer(serve(withLength))
			defer candidate.Close()
			rec := newRecorder()
			_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), Sample: 1, MaxBody: 1 << 20,
				Recorder: rec, CandidateTimeout: 30 * time.Second})
			resp, r := streamingGet(t, addr+"/download")
			if withLength && resp.ContentLength != int64(len(body)) {
				t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(body))
			}
			h := sha256.New()
			n, err := io.Copy(h, r)
			if err != nil || hex.EncodeToString(h.Sum(nil)) != sum {
				t.Fatalf("client got %d bytes (%v) that do not hash as legacy's %d", n, err, len(body))
			}
			ex := rec.wait(t, 1)[0]
			if ex.Outcome != tandem.Match || ex.Legacy.BodyHash != sum || ex.Legacy.BodySize != int64(len(body)) || len(ex.Legacy.Body) != 1<<20 {
				t.Errorf("outcome %s, legacy hash %s size %d kept %d: want a match on the whole body's hash",
					ex.Outcome, ex.Legacy.BodyHash, ex.Legacy.BodySize, len(ex.Legacy.Body))
			}
		})
	}
}

// dyingLegacy writes header and the first part of a body, then closes the
// connection.
func dyingLegacy(t *testing.T, header, part string) string {
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
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.WriteString(c, header+part)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestProxy_LegacyDiesMidBody(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	for _, tt := range []struct {
		name, header, part string
		wantStatus         int // the client's; 0: cut, a transport error reading the body
	}{
		{"ContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", big, 0},
		{"Chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", fmt.Sprintf("%x\r\n%s\r\n", len(big), big), 0},
		// Small enough to be read whole before the client gets a byte.
		{"SmallContentLength", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", "abc", http.StatusBadGateway},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var cand seen
			candidate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cand.add(r) }))
			defer candidate.Close()
			p, addr := start(t, mirror.Config{Legacy: mustURL(t, dyingLegacy(t, tt.header, tt.part)), Candidate: mustURL(t, candidate.URL), Sample: 1})
			resp, err := http.Get(addr + "/file")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if tt.wantStatus != 0 {
				if resp.StatusCode != tt.wantStatus || err != nil {
					t.Errorf("status %d (%v), want %d", resp.StatusCode, err, tt.wantStatus)
				}
			} else if resp.StatusCode != http.StatusOK || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("status %d, read %d bytes, err %v: want 200 and a body cut short (unexpected EOF)", resp.StatusCode, len(got), err)
			}
			s := waitStats(t, p, "legacy error", func(s mirror.Stats) bool { return s.LegacyErrors == 1 })
			if s.LegacyBodyErrors != 1 || s.Mirrored != 0 || len(cand.list()) != 0 {
				t.Errorf("stats %+v, candidate saw %q: want one legacy body error, nothing mirrored", s, cand.list())
			}
		})
	}
}

// A streamed answer's legacy connection goes back to the pool: a stream
// read to its end leaves the connection reusable, so keep-alive holds.
func TestProxy_StreamedConnectionsReused(t *testing.T) {
	body, _ := bigBody(200 << 10)
	var mu sync.Mutex
	conns := map[string]bool{}
	legacy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // chunked
		w.Write(body)
	}))
	legacy.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns[c.RemoteAddr().String()] = true
			mu.Unlock()
		}
	}
	legacy.Start()
	defer legacy.Close()
	candidate := constant(t, "text/plain", "")
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL)})
	for range 5 {
		_, r := streamingGet(t, addr+"/")
		if b, err := io.ReadAll(r); err != nil || len(b) != len(body) {
			t.Fatalf("read %d, %v", len(b), err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Errorf("legacy saw %d connections for 5 sequential streamed answers, want 1", len(conns))
	}
}

// What a streaming answer's capture holds counts against QueueBytes: past
// it the copy is dropped and counted, and the client still gets it all.
func TestProxy_StreamCaptureBoundedByQueueBytes(t *testing.T) {
	body, sum := bigBody(2 << 20)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush() // no length: streamed
		w.Write(body)
	}))
	defer legacy.Close()
	var cand seen
	candidate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cand.add(r) }))
	defer candidate.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), Sample: 1,
		MaxBody: 1 << 20, QueueBytes: 256 << 10})
	_, r := streamingGet(t, addr+"/download")
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil || hex.EncodeToString(h.Sum(nil)) != sum {
		t.Fatalf("the client's download is not legacy's: %v", err)
	}
	s := waitStats(t, p, "dropped", func(s mirror.Stats) bool { return s.Dropped == 1 })
	if s.Mirrored != 0 || s.QueueBytes != 0 || len(cand.list()) != 0 {
		t.Errorf("stats %+v: want the copy dropped and its bytes given back", s)
	}
}

// --legacy-timeout bounds each wait for legacy's next bytes once the body
// streams, not the whole answer: a lively stream that lasts longer than
// the timeout gets through whole, and one that goes silent is cut.
func TestProxy_StreamTimeoutIsPerRead(t *testing.T) {
	const timeout = 300 * time.Millisecond
	silent := make(chan struct{})
	t.Cleanup(func() { close(silent) })
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 10 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(timeout / 5) // 10 of them: the answer lasts longer than the timeout
		}
		if r.URL.Path == "/silent" {
			select { // stops sending, without ending the answer
			case <-silent:
			case <-r.Context().Done():
			}
		}
	}))
	defer legacy.Close()
	candidate := constant(t, "text/plain", "")
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), LegacyTimeout: timeout})

	_, r := streamingGet(t, addr+"/lively")
	if b, err := io.ReadAll(r); err != nil || strings.Count(string(b), "data: ") != 10 {
		t.Fatalf("a lively stream longer than the timeout: %q, %v", b, err)
	}
	_, r = streamingGet(t, addr+"/silent")
	if b, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) || strings.Count(string(b), "data: ") != 10 {
		t.Fatalf("a stream gone silent: %d events, %v: want all 10, then the answer cut", strings.Count(string(b), "data: "), err)
	}
	waitStats(t, p, "legacy body error", func(s mirror.Stats) bool { return s.LegacyBodyErrors == 1 && s.LegacyErrors == 1 })
}

// A client that leaves mid-stream ends legacy's answer too (its connection
// is closed, not left streaming into nothing or pooled mid-body), and the
// mirror copy is given up.
func TestProxy_ClientLeavesMidStream(t *testing.T) {
	next := make(chan struct{}, 1)
	cancelled := make(chan bool, 1)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-next
		// tandem's write to the gone client fails on this piece, or the
		// next: keep writing until legacy's connection is closed.
		for i := 0; i < 100; i++ {
			if _, err := io.WriteString(w, "more\n"); err != nil {
				break
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				cancelled <- true
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
		cancelled <- r.Context().Err() != nil
	}))
	defer legacy.Close()
	candidate := constant(t, "text/plain", "")
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), Sample: 1})
	resp, r := streamingGet(t, addr+"/progress")
	readUntil(t, r, "first\n")
	resp.Body.Close() // the client leaves
	next <- struct{}{}
	select {
	case ok := <-cancelled:
		if !ok {
			t.Fatal("legacy kept streaming to tandem after the client left")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("legacy's answer did not end after the client left")
	}
	s := waitStats(t, p, "client abort", func(s mirror.Stats) bool { return s.ClientAborts == 1 })
	if s.Mirrored != 0 || s.LegacyErrors != 0 {
		t.Errorf("stats %+v: want the copy given up, no legacy error", s)
	}
}

// An answer with a Content-Length too large to be read whole streams too:
// a small piece written first reaches the client while legacy waits.
func TestProxy_StreamsContentLengthPieces(t *testing.T) {
	rest := strings.Repeat("y", 100<<10)
	next := make(chan struct{}, 1)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len("first\n")+len(rest)))
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-time.After(20 * time.Second):
		}
		io.WriteString(w, rest)
	}))
	defer legacy.Close()
	candidate := constant(t, "text/plain", "")
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL)})
	resp, r := streamingGet(t, addr+"/slow-download")
	if resp.ContentLength != int64(len("first\n")+len(rest)) {
		t.Errorf("Content-Length %d", resp.ContentLength)
	}
	readUntil(t, r, "first\n")
	next <- struct{}{}
	readUntil(t, r, rest)
}

// A short event stream with a Content-Length (read whole) is an event
// stream all the same: counted, not compared.
func TestProxy_ShortEventStreamIsStreamed(t *testing.T) {
	legacy := constant(t, "text/event-stream; charset=utf-8", "data: only\n\n")
	var cand seen
	candidate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { cand.add(r) }))
	defer candidate.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candidate.URL), Sample: 1})
	if _, body := get(t, "GET", addr+"/events", "", nil); body != "data: only\n\n" {
		t.Fatalf("client got %q", body)
	}
	s := waitStats(t, p, "streamed", func(s mirror.Stats) bool { return s.Streamed == 1 })
	if s.Mirrored != 0 || len(cand.list()) != 0 {
		t.Errorf("stats %+v: a short event stream was mirrored", s)
	}
}
