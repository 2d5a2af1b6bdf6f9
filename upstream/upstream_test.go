package upstream_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem/upstream"
)

// rawServer is an HTTP/1.1 upstream on a raw listener that counts the
// connections it accepts and the requests it reads, and, with idle > 0,
// closes a connection once it has been idle that long (as gunicorn, Node
// and Apache do), reporting each such close on closed.
type rawServer struct {
	ln     net.Listener
	idle   time.Duration
	header string // extra answer header lines
	closed chan struct{}

	mu       sync.Mutex
	accepted int
	requests []string
}

func startRaw(t *testing.T, idle time.Duration, header string) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, idle: idle, header: header, closed: make(chan struct{}, 100)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepted++
			s.mu.Unlock()
			go s.serve(c)
		}
	}()
	return s
}

func (s *rawServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for first := true; ; first = false {
		if s.idle > 0 && !first {
			c.SetReadDeadline(time.Now().Add(s.idle))
		}
		req, err := http.ReadRequest(br)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.Close()
				s.closed <- struct{}{}
			}
			return
		}
		c.SetReadDeadline(time.Time{})
		body, _ := io.ReadAll(req.Body)
		s.mu.Lock()
		s.requests = append(s.requests, req.Method+" "+req.URL.Path+" "+string(body))
		n := len(s.requests)
		s.mu.Unlock()
		answer := fmt.Sprintf("answer %d", n)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s", s.header, len(answer), answer)
	}
}

func (s *rawServer) url() *url.URL { return &url.URL{Scheme: "http", Host: s.ln.Addr().String()} }

func (s *rawServer) seen() (accepted int, requests []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, append([]string(nil), s.requests...)
}

func fetch(t *testing.T, c *upstream.Client, method, path, body string) (string, error) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	req.SetBodyString(body)
	c.Target(req, []byte(path), true)
	r, _, err := c.Fetch(req, 1<<20, nil)
	if err != nil {
		return r.Err, err
	}
	return fmt.Sprintf("%d %s", r.Status, r.Body), nil
}

// A request after the upstream closed an idle connection is sent on a new
// one and reaches the upstream exactly once: the connection is found
// closed before the request is written on it. Writes included, and for a
// mirror client (no retry of a written request) as for legacy's.
func TestClient_IdleClosedByUpstream(t *testing.T) {
	for _, tt := range []struct {
		name       string
		method     string
		idempotent bool
		stream     bool
	}{
		{"legacy POST", "POST", true, false},
		{"legacy PUT", "PUT", true, false},
		{"legacy GET", "GET", true, false},
		{"mirror POST", "POST", false, true},
		{"mirror DELETE", "DELETE", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := startRaw(t, 20*time.Millisecond, "")
			c, err := upstream.New(upstream.Options{Name: "legacy", URL: s.url(), Timeout: 5 * time.Second,
				RetryIdempotent: tt.idempotent, Stream: tt.stream})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := 1; i <= 4; i++ {
				got, err := fetch(t, c, tt.method, "/w", fmt.Sprint("body", i))
				if err != nil {
					t.Fatalf("request %d after an idle close: %v (%s)", i, err, got)
				}
				if w := fmt.Sprintf("200 answer %d", i); got != w {
					t.Fatalf("request %d: got %q, want %q", i, got, w)
				}
				want = append(want, fmt.Sprintf("%s /w body%d", tt.method, i))
				<-s.closed // the upstream has closed the idle connection
			}
			accepted, requests := s.seen()
			if strings.Join(requests, "|") != strings.Join(want, "|") {
				t.Errorf("upstream saw %q, want each request once: %q", requests, want)
			}
			if accepted != 4 {
				t.Errorf("accepted %d connections, want 4 (one per request, each after a close)", accepted)
			}
		})
	}
}

// An upstream that keeps its connections gets one connection for requests
// one after another: the check before a write costs no reuse.
func TestClient_ReusesConnections(t *testing.T) {
	s := startRaw(t, 0, "")
	c, err := upstream.New(upstream.Options{Name: "legacy", URL: s.url(), Timeout: 5 * time.Second, RetryIdempotent: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := fetch(t, c, "POST", "/", "x"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if accepted, requests := s.seen(); accepted != 1 || len(requests) != 5 {
		t.Errorf("accepted %d connections for %d requests, want 1 for 5", accepted, len(requests))
	}
}

// An upstream that says Keep-Alive: timeout=0 keeps no idle connection: the
// next request goes on a new one, though the server has not closed it.
func TestClient_KeepAliveTimeout(t *testing.T) {
	s := startRaw(t, 0, "Keep-Alive: timeout=0\r\n")
	c, err := upstream.New(upstream.Options{Name: "legacy", URL: s.url(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := fetch(t, c, "POST", "/", "x"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if accepted, requests := s.seen(); accepted != 3 || len(requests) != 3 {
		t.Errorf("accepted %d connections for %d requests, want 3 for 3", accepted, len(requests))
	}
}

func TestDescribe(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fasthttp.ErrTimeout, upstream.Timeout},
		{io.EOF, upstream.Closed},
		{fasthttp.ErrConnectionClosed, upstream.Closed},
		{fmt.Errorf("read: %w", errors.New("read tcp: connection reset by peer")), upstream.Closed},
		{fasthttp.ErrNoFreeConns, upstream.NoFreeConns},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), upstream.Refused},
		{errors.New("something else"), "something else"},
	} {
		if got := upstream.Describe(tt.err); got != tt.want {
			t.Errorf("Describe(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// A refused connection is described so that the proxy's breaker sees it.
func TestClient_Refused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ln.Close()
	c, err := upstream.New(upstream.Options{Name: "candidate", URL: u, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fetch(t, c, "GET", "/", ""); got != upstream.Refused {
		t.Errorf("got %q, want %q", got, upstream.Refused)
	}
}

// An answer cut short of its Content-Length is a failed answer, not a
// shorter body: streamed or not, small or past maxBody.
func TestClient_TruncatedContentLength(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stream bool
		sent   int
		want   string
	}{
		{"whole", false, 50, upstream.Closed}, // fasthttp reads it with the header
		{"streamed", true, 50, upstream.Cut},
		{"streamed past max body", true, 3000, upstream.Cut},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				http.ReadRequest(bufio.NewReader(c))
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", tt.sent*2, strings.Repeat("x", tt.sent))
			}()
			u := &url.URL{Scheme: "http", Host: ln.Addr().String()}
			c, err := upstream.New(upstream.Options{Name: "candidate", URL: u, Timeout: 5 * time.Second, Stream: tt.stream})
			if err != nil {
				t.Fatal(err)
			}
			req := fasthttp.AcquireRequest()
			defer fasthttp.ReleaseRequest(req)
			c.Target(req, []byte("/"), true)
			r, _, err := c.Fetch(req, 1024, nil)
			if err == nil || r.Err != tt.want {
				t.Fatalf("got status %d, %d body bytes, error %q (%v): want the cut answer to fail with %q", r.Status, r.BodySize, r.Err, err, tt.want)
			}
		})
	}
}
