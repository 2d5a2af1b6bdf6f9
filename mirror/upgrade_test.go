package mirror_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/mirror"
)

// waitFor polls cond (a counter the proxy updates after an event the test
// cannot see) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestTunnel_WebSocket: a WebSocket conversation goes through the proxy to
// legacy and back, both ways, and is counted as upgraded; the candidate
// never sees it (a plain request after it is mirrored, as a control).
func TestTunnel_WebSocket(t *testing.T) {
	ends := make(chan error, 1)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/plain" {
			io.WriteString(w, "plain")
			return
		}
		wsEcho(ends).ServeHTTP(w, r)
	}))
	defer legacy.Close()
	var candSeen seen
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { candSeen.add(r); io.WriteString(w, "plain") }))
	defer cand.Close()
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec})

	ws := wsDial(t, strings.TrimPrefix(addr, "http://"), "/socket?room=1")
	if ws.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %s, want 101", ws.resp.Status)
	}
	if got := ws.resp.Header.Get("X-Legacy"); got != "ws" {
		t.Errorf("101's X-Legacy %q: legacy's answer should reach the client as sent", got)
	}
	if got := ws.recv(t); got != "hello" {
		t.Errorf("first frame from legacy %q, want hello", got)
	}
	for _, msg := range []string{"one", "two", strings.Repeat("x", 40<<10)} {
		ws.send(t, msg)
		if got := ws.recv(t); got != strings.ToUpper(msg) {
			t.Errorf("echo of %.10q: got %.10q", msg, got)
		}
	}
	if s := p.Stats(); s.Upgraded != 1 || s.TunnelsOpen != 1 || s.Mirrored != 0 {
		t.Errorf("stats upgraded %d, open %d, mirrored %d; want 1, 1, 0", s.Upgraded, s.TunnelsOpen, s.Mirrored)
	}
	ws.Close()
	select {
	case <-ends: // legacy's side of the tunnel is closed too
	case <-time.After(10 * time.Second):
		t.Fatal("legacy's connection stayed open after the client closed")
	}
	waitFor(t, "the tunnel to close", func() bool { return p.Stats().TunnelsOpen == 0 })

	get(t, "GET", addr+"/plain", "", nil)
	rec.wait(t, 1)
	if got := candSeen.list(); len(got) != 1 || !strings.HasPrefix(got[0], "GET /plain ") {
		t.Errorf("candidate saw %q, want only the plain request", got)
	}
	var m bytes.Buffer
	p.WriteMetrics(&m)
	for _, want := range []string{"tandem_upgraded_total 1\n", "tandem_tunnels_open 0\n", "tandem_requests_total 2\n"} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.Shutdown(ctx)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.counts["upgraded"] != 1 {
		t.Errorf("upgraded flushed to the recorder: %d, want 1", rec.counts["upgraded"])
	}
}

// TestTunnel_Refused: legacy answering the upgrade with anything but 101
// gives the client that answer as a normal response, on a connection that
// goes on serving requests.
func TestTunnel_Refused(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			w.Header().Set("X-Why", "no sockets here")
			http.Error(w, "upgrade refused", http.StatusForbidden)
			return
		}
		io.WriteString(w, "plain")
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer cand.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1})
	ws := wsDial(t, strings.TrimPrefix(addr, "http://"), "/socket")
	body, _ := io.ReadAll(ws.resp.Body)
	if ws.resp.StatusCode != http.StatusForbidden || ws.resp.Header.Get("X-Why") != "no sockets here" || string(body) != "upgrade refused\n" {
		t.Errorf("got %s %q %q, want legacy's 403", ws.resp.Status, ws.resp.Header.Get("X-Why"), body)
	}
	if s := p.Stats(); s.Upgraded != 0 || s.TunnelsOpen != 0 || s.Mirrored != 0 {
		t.Errorf("stats upgraded %d, open %d, mirrored %d; want 0, 0, 0", s.Upgraded, s.TunnelsOpen, s.Mirrored)
	}
	// The same connection serves the next request.
	io.WriteString(ws.Conn, "GET /next HTTP/1.1\r\nHost: app.example\r\n\r\n")
	resp, err := http.ReadResponse(ws.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "plain" {
		t.Errorf("next request on the connection got %q", b)
	}
}

// TestTunnel_Limit: beyond MaxTunnels an upgrade gets a fast 503, counted,
// and a slot freed by a closed tunnel is taken again.
func TestTunnel_Limit(t *testing.T) {
	legacy := httptest.NewServer(wsEcho(nil))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer cand.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), MaxTunnels: 1})
	host := strings.TrimPrefix(addr, "http://")
	first := wsDial(t, host, "/a")
	if first.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("first upgrade: %s", first.resp.Status)
	}
	second := wsDial(t, host, "/b")
	if second.resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second upgrade with one allowed: %s, want 503", second.resp.Status)
	}
	if s := p.Stats(); s.TunnelsRefused != 1 || s.Upgraded != 1 {
		t.Errorf("refused %d, upgraded %d; want 1, 1", s.TunnelsRefused, s.Upgraded)
	}
	first.Close()
	waitFor(t, "the first tunnel to close", func() bool { return p.Stats().TunnelsOpen == 0 })
	third := wsDial(t, host, "/c")
	if third.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade after the first closed: %s, want 101", third.resp.Status)
	}
	if got := third.recv(t); got != "hello" {
		t.Errorf("got %q", got)
	}
}

// TestTunnel_IdleTimeout: a tunnel where neither side says anything is
// closed, on both sides.
func TestTunnel_IdleTimeout(t *testing.T) {
	ends := make(chan error, 1)
	legacy := httptest.NewServer(wsEcho(ends))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer cand.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), TunnelIdleTimeout: 50 * time.Millisecond})
	ws := wsDial(t, strings.TrimPrefix(addr, "http://"), "/idle")
	if got := ws.recv(t); got != "hello" {
		t.Fatalf("got %q", got)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := wsRead(ws.br); !errors.Is(err, io.EOF) {
		t.Errorf("an idle tunnel's client read ended with %v, want EOF (closed by the proxy)", err)
	}
	select {
	case <-ends:
	case <-time.After(10 * time.Second):
		t.Fatal("legacy's side of an idle tunnel stayed open")
	}
	waitFor(t, "the tunnel to be released", func() bool { return p.Stats().TunnelsOpen == 0 })
}

// TestTunnel_Shutdown: a stop closes the open tunnels (a conversation has
// no end to wait for).
func TestTunnel_Shutdown(t *testing.T) {
	legacy := httptest.NewServer(wsEcho(nil))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer cand.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL)})
	ws := wsDial(t, strings.TrimPrefix(addr, "http://"), "/s")
	ws.recv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := wsRead(ws.br); !errors.Is(err, io.EOF) {
		t.Errorf("after Shutdown the client's read ended with %v, want EOF", err)
	}
}

// TestTunnel_TLSLegacy: a tunnel to an https legacy uses TunnelTLS.
func TestTunnel_TLSLegacy(t *testing.T) {
	legacy := httptest.NewTLSServer(wsEcho(nil))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer cand.Close()
	roots := x509.NewCertPool()
	roots.AddCert(legacy.Certificate())
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), TunnelTLS: &tls.Config{RootCAs: roots}})
	ws := wsDial(t, strings.TrimPrefix(addr, "http://"), "/tls")
	if ws.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", ws.resp.Status)
	}
	ws.recv(t)
	ws.send(t, "secure")
	if got := ws.recv(t); got != "SECURE" {
		t.Errorf("got %q", got)
	}

	// Without the CA, legacy is refused and the client gets a 502.
	_, addr = start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL)})
	ws = wsDial(t, strings.TrimPrefix(addr, "http://"), "/tls")
	if ws.resp.StatusCode != http.StatusBadGateway {
		t.Errorf("legacy with an unknown CA: %s, want 502", ws.resp.Status)
	}
}

// TestTunnel_H2CIsPlain: an h2c upgrade is not tunnelled: the request is
// served (and mirrored) as HTTP/1.1, without its Upgrade.
func TestTunnel_H2CIsPlain(t *testing.T) {
	upgrades := make(chan string, 2)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrades <- r.Header.Get("Upgrade") + "|" + r.Header.Get("Http2-Settings")
		io.WriteString(w, "plain")
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") }))
	defer cand.Close()
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec})
	resp, body := get(t, "GET", addr+"/h2c", "", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}, "Http2-Settings": {"AAMAAABkAARAAAAAAAIAAAAA"}})
	if resp.StatusCode != 200 || body != "plain" {
		t.Fatalf("got %s %q", resp.Status, body)
	}
	if got := <-upgrades; got != "|" {
		t.Errorf("legacy got Upgrade|HTTP2-Settings %q, want neither", got)
	}
	rec.wait(t, 1)
	if s := p.Stats(); s.Upgraded != 0 || s.Mirrored != 1 {
		t.Errorf("upgraded %d, mirrored %d; want 0, 1", s.Upgraded, s.Mirrored)
	}
}
