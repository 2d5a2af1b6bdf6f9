package mirror_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/mirror"
)

// rawUpstream is an upstream that keeps the raw bytes it receives and the
// requests it parsed from them (with Go's strict parser), and answers
// each with 200 "ok".
type rawUpstream struct {
	ln   net.Listener
	mu   sync.Mutex
	raw  bytes.Buffer
	reqs []string // "METHOD URI body=BODY"
	got  chan struct{}
}

func newRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, got: make(chan struct{}, 1000)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(io.TeeReader(c, lockedWriter{&u.mu, &u.raw}))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, fmt.Sprintf("%s %s body=%s", req.Method, req.RequestURI, body))
		u.mu.Unlock()
		u.got <- struct{}{}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func (u *rawUpstream) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.raw.Reset()
	u.reqs = nil
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() }

func (u *rawUpstream) seen() (raw string, reqs []string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.raw.String(), append([]string(nil), u.reqs...)
}

// rawExchange writes raw bytes on a new connection and returns all the
// proxy answered until it closed the connection (or the deadline).
func rawExchange(t *testing.T, addr, raw string) (answer string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	return string(b), err == nil
}

func statusOf(answer string) string {
	line, _, _ := strings.Cut(answer, "\r\n")
	return line
}

// Requests whose framing two HTTP/1.1 parsers could read differently get
// 400 and the connection is closed: neither upstream sees a byte of them,
// and so never a second request hidden in the first.
func TestProxy_Smuggling(t *testing.T) {
	legacy, cand := newRawUpstream(t), newRawUpstream(t)
	rec := newRecorder()
	_, base := start(t, mirror.Config{Legacy: mustURL(t, legacy.url()), Candidate: mustURL(t, cand.url()), Sample: 1, Recorder: rec})
	addr := strings.TrimPrefix(base, "http://")
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	cases := []struct{ name, raw string }{
		{"ContentLengthAndTransferEncoding", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TransferEncodingAndContentLength", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n" + smuggled},
		{"TwoContentLengths", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 36\r\n\r\n" + smuggled},
		{"ContentLengthList", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 36\r\n\r\n" + smuggled},
		{"ContentLengthSign", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +36\r\n\r\n" + smuggled},
		{"TransferEncodingIdentity", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\nContent-Length: 36\r\n\r\n" + smuggled},
		{"TransferEncodingList", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TransferEncodingTwice", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled},
		{"TransferEncodingNotChunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"TransferEncodingHTTP10", "POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"ObsFold", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n" + smuggled},
		{"ObsFoldTab", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tTransfer-Encoding: chunked\r\n\r\n"},
		{"ObsFoldContentLength", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n 36\r\n\r\n" + smuggled},
		{"SpaceBeforeColon", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n" + smuggled},
		{"BareCR", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n" + smuggled},
		{"BareCRInName", "GET /a HTTP/1.1\r\nHost: x\r\nX\rA: b\r\n\r\n" + smuggled},
		{"NUL", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n" + smuggled},
		{"NULInName", "GET /a HTTP/1.1\r\nHost: x\r\nX-\x00A: b\r\n\r\n" + smuggled},
		{"ChunkSizeNotHex", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled},
		{"ChunkSize0x", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + smuggled},
		{"ChunkSizeOverflow", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" + smuggled},
		{"ChunkSizeNegative", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" + smuggled},
		{"ChunkSizeSpace", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 5\r\nhello\r\n0\r\n\r\n" + smuggled},
		{"ChunkDataTooLong", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n" + smuggled},
		{"ChunkSizeBareLF", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" + smuggled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			legacy.reset()
			cand.reset()
			answer, closed := rawExchange(t, addr, tc.raw)
			if got := statusOf(answer); !strings.HasPrefix(got, "HTTP/1.1 400 ") {
				t.Errorf("status %q, want 400\n%q", got, answer)
			}
			if !closed {
				t.Errorf("the connection was not closed after the 400")
			}
			if n := strings.Count(answer, "HTTP/1.1 "); n != 1 {
				t.Errorf("%d answers on the connection, want 1:\n%q", n, answer)
			}
			for name, u := range map[string]*rawUpstream{"legacy": legacy, "candidate": cand} {
				if raw, reqs := u.seen(); raw != "" || len(reqs) != 0 {
					t.Fatalf("%s received %q (parsed %q), want nothing", name, raw, reqs)
				}
			}
		})
	}

	// A well-framed chunked request reaches both, as exactly one request.
	t.Run("ChunkedOK", func(t *testing.T) {
		legacy.reset()
		cand.reset()
		answer, _ := rawExchange(t, addr, "GET /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n")
		if got := statusOf(answer); got != "HTTP/1.1 200 OK" {
			t.Fatalf("status %q, want 200\n%q", got, answer)
		}
		rec.wait(t, 1)
		for name, u := range map[string]*rawUpstream{"legacy": legacy, "candidate": cand} {
			if _, reqs := u.seen(); len(reqs) != 1 || reqs[0] != "GET /ok body=hello" {
				t.Errorf("%s parsed %q, want exactly [GET /ok body=hello]", name, reqs)
			}
		}
	})
}

// A body over MaxRequestBody gets 413 (not 100 Continue, nor "400 Error
// when parsing request"), is counted, and reaches no upstream.
func TestProxy_BodyTooLarge(t *testing.T) {
	legacy, cand := newRawUpstream(t), newRawUpstream(t)
	p, base := start(t, mirror.Config{Legacy: mustURL(t, legacy.url()), Candidate: mustURL(t, cand.url()),
		Edge: mirror.EdgeConfig{MaxRequestBody: 1000}})
	addr := strings.TrimPrefix(base, "http://")
	big := strings.Repeat("x", 1001)
	cases := []struct{ name, raw string }{
		{"ExpectContinue", "PUT /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n"},
		{"ContentLength", "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + big},
		{"Chunked", "PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n" + big + "\r\n0\r\n\r\n"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			answer, closed := rawExchange(t, addr, tc.raw)
			if got := statusOf(answer); got != "HTTP/1.1 413 Request Entity Too Large" {
				t.Errorf("status %q, want 413\n%q", got, answer)
			}
			if strings.Contains(answer, "100 Continue") {
				t.Errorf("got 100 Continue for a body announced over the limit:\n%q", answer)
			}
			if !closed {
				t.Errorf("the connection was not closed after the 413")
			}
			if raw, _ := legacy.seen(); raw != "" {
				t.Errorf("legacy received %q", raw)
			}
			var m strings.Builder
			p.WriteMetrics(&m)
			if want := fmt.Sprintf("tandem_body_too_large_total %d\n", i+1); !strings.Contains(m.String(), want) {
				t.Errorf("metrics lack %q", want)
			}
		})
	}
	// At the limit, it goes through.
	answer, _ := rawExchange(t, addr, "PUT /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n"+big[:1000])
	if got := statusOf(answer); got != "HTTP/1.1 200 OK" {
		t.Errorf("status %q at the limit, want 200", got)
	}
}

// A prior-knowledge HTTP/2 client (gRPC's default) gets a clean HTTP/1.1
// error and a closed connection, never a hang, and legacy sees nothing.
func TestProxy_HTTP2Preface(t *testing.T) {
	legacy, cand := newRawUpstream(t), newRawUpstream(t)
	_, base := start(t, mirror.Config{Legacy: mustURL(t, legacy.url()), Candidate: mustURL(t, cand.url())})
	addr := strings.TrimPrefix(base, "http://")
	// The preface, then a SETTINGS frame, as a client writes them at once.
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	answer, closed := rawExchange(t, addr, preface)
	if got := statusOf(answer); got != "HTTP/1.1 505 HTTP Version Not Supported" {
		t.Errorf("status %q, want 505\n%q", got, answer)
	}
	if !closed {
		t.Errorf("the connection was not closed")
	}
	if raw, _ := legacy.seen(); raw != "" {
		t.Errorf("legacy received %q", raw)
	}
}

// The header timeout covers the header only: a body that takes longer
// than it (within the body timeout) is read; a header that takes longer
// gets 408. An idle keep-alive connection is closed after the idle timeout.
func TestProxy_HeaderBodyIdleTimeouts(t *testing.T) {
	legacy, cand := newRawUpstream(t), newRawUpstream(t)
	_, base := start(t, mirror.Config{Legacy: mustURL(t, legacy.url()), Candidate: mustURL(t, cand.url()),
		Edge: mirror.EdgeConfig{HeaderTimeout: 300 * time.Millisecond, BodyTimeout: 30 * time.Second, IdleTimeout: 300 * time.Millisecond}})
	addr := strings.TrimPrefix(base, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("SlowBody", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "PUT /slow-body HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\n")
		for _, b := range "body" {
			time.Sleep(200 * time.Millisecond) // 800 ms in all: past the header timeout
			io.WriteString(c, string(b))
		}
		b, _ := io.ReadAll(c)
		if got := statusOf(string(b)); got != "HTTP/1.1 200 OK" {
			t.Fatalf("slow body: %q, want 200", got)
		}
	})
	t.Run("SlowHeader", func(t *testing.T) {
		c := dial()
		head := "GET /slow-header HTTP/1.1\r\nHost: x\r\n\r\n"
		answer := make(chan string, 1)
		go func() { b, _ := io.ReadAll(c); answer <- string(b) }()
		for i := range len(head) {
			select {
			case a := <-answer:
				if got := statusOf(a); !strings.HasPrefix(got, "HTTP/1.1 408 ") {
					t.Fatalf("slow header: %q, want 408", got)
				}
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := io.WriteString(c, head[i:i+1]); err != nil {
				break
			}
		}
		if got := statusOf(<-answer); !strings.HasPrefix(got, "HTTP/1.1 408 ") {
			t.Fatalf("slow header: %q after the whole header, want 408 before it", got)
		}
	})
	t.Run("Idle", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		// Then nothing: tandem closes the connection (EOF, not our deadline).
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("idle keep-alive connection: %v, want EOF", err)
		}
	})
}
