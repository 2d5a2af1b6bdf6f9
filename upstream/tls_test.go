package upstream_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/upstream"
	"github.com/tandemproxy/tandem/upstream/upstreamtest"
)

func hello(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")) }

// TLS to an https:// upstream: its CA, a client certificate for a server
// that requires one, the server name, and the explicit skip of
// verification; a failure names the upstream, the reason and the flag
// that fixes it.
func TestClient_TLS(t *testing.T) {
	dir := t.TempDir()
	ca, other, clients := upstreamtest.NewCA(t, "tandem-test"), upstreamtest.NewCA(t, "other"), upstreamtest.NewCA(t, "clients")
	caFile, otherFile := ca.File(t, dir), other.File(t, dir)
	certFile, keyFile := clients.Issue(t, "tandem").Files(t, dir)
	plain := upstreamtest.Server(t, ca, nil, http.HandlerFunc(hello))
	mtls := upstreamtest.Server(t, ca, clients, http.HandlerFunc(hello))
	notTLS := httptest.NewServer(http.HandlerFunc(hello))
	t.Cleanup(notTLS.Close)
	https := func(s *httptest.Server) *url.URL {
		u, _ := url.Parse(s.URL)
		u.Scheme = "https"
		return u
	}
	for _, tt := range []struct {
		name   string
		url    *url.URL
		opts   upstream.TLSOptions
		want   string   // the answer, or
		errHas []string // what the error says
	}{
		{"CA given", https(plain), upstream.TLSOptions{CAFile: caFile}, "200 hello", nil},
		{"system roots", https(plain), upstream.TLSOptions{}, "", []string{"legacy", "not trusted", "--legacy-ca"}},
		{"wrong CA", https(plain), upstream.TLSOptions{CAFile: otherFile}, "", []string{"legacy", "not trusted", "--legacy-ca"}},
		{"server name", https(plain), upstream.TLSOptions{CAFile: caFile, ServerName: "localhost"}, "200 hello", nil},
		{"wrong server name", https(plain), upstream.TLSOptions{CAFile: caFile, ServerName: "api.example"}, "", []string{"legacy", "not valid for api.example", "--legacy-server-name"}},
		{"skip verify", https(plain), upstream.TLSOptions{InsecureSkipVerify: true}, "200 hello", nil},
		{"mTLS with a client certificate", https(mtls), upstream.TLSOptions{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, "200 hello", nil},
		{"mTLS without", https(mtls), upstream.TLSOptions{CAFile: caFile}, "", []string{"legacy", "refused the handshake", "--legacy-cert"}},
		{"not TLS", https(notTLS), upstream.TLSOptions{CAFile: caFile}, "", []string{"legacy", "did not answer in TLS"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := upstream.New(upstream.Options{Name: "legacy", URL: tt.url, Timeout: 5 * time.Second, TLS: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // a second request reuses the connection
				got, err := fetch(t, c, "POST", "/", "x")
				if tt.errHas == nil {
					if err != nil || got != tt.want {
						t.Fatalf("request %d: got %q, %v; want %q", i, got, err, tt.want)
					}
					continue
				}
				if err == nil {
					t.Fatalf("request %d: no error, got %q", i, got)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(got, s) {
						t.Errorf("error %q does not say %q", got, s)
					}
				}
			}
		})
	}
}

func TestNew_TLSErr(t *testing.T) {
	dir := t.TempDir()
	u, _ := url.Parse("https://127.0.0.1:1")
	for _, tt := range []struct {
		name string
		opts upstream.TLSOptions
		want string
	}{
		{"missing CA", upstream.TLSOptions{CAFile: dir + "/none.pem"}, "candidate: read the CA bundle"},
		{"cert without key", upstream.TLSOptions{CertFile: dir + "/c.pem"}, "candidate: a client certificate needs both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := upstream.New(upstream.Options{Name: "candidate", URL: u, Timeout: time.Second, TLS: tt.opts})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want %q", err, tt.want)
			}
		})
	}
}

// A TLS upstream that closes idle connections (Go's server sends a
// close_notify first): writes after the close reach it once each.
func TestClient_TLSIdleClosedByUpstream(t *testing.T) {
	dir := t.TempDir()
	ca := upstreamtest.NewCA(t, "tandem-test")
	var mu sync.Mutex
	var seen []string
	closed := make(chan struct{}, 100)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, string(b))
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "server", "127.0.0.1").TLS}}
	s.Config.IdleTimeout = 20 * time.Millisecond
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closed <- struct{}{}
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	u, _ := url.Parse(s.URL)
	c, err := upstream.New(upstream.Options{Name: "candidate", URL: u, Timeout: 5 * time.Second, Stream: true,
		TLS: upstream.TLSOptions{CAFile: ca.File(t, dir)}})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 4 {
		body := fmt.Sprint("write ", i)
		if got, err := fetch(t, c, "POST", "/", body); err != nil || got != "200 ok" {
			t.Fatalf("request %d after an idle close: %q, %v", i, got, err)
		}
		want = append(want, body)
		<-closed
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("upstream saw %q, want each once: %q", seen, want)
	}
}
