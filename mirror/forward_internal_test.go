package mirror

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestForwardedNode(t *testing.T) {
	for _, tt := range []struct {
		addr netip.Addr
		host string
		want string
	}{
		{netip.MustParseAddr("192.0.2.60"), "example.com", "for=192.0.2.60;host=example.com"},
		{netip.MustParseAddr("2001:db8:cafe::17"), "example.com:8080", `for="[2001:db8:cafe::17]";host="example.com:8080"`},
		{netip.Addr{}, `we"ird\host`, `for=unknown;host="we\"ird\\host"`},
	} {
		got := append(appendNode([]byte("for="), tt.addr), ";host="...)
		got = appendQuotedIfNeeded(got, []byte(tt.host))
		if string(got) != tt.want {
			t.Errorf("%v %q: %s, want %s", tt.addr, tt.host, got, tt.want)
		}
	}
}

// tcpPipe is one end of a net.Pipe that says it is a TCP connection from
// 192.0.2.7, so that a RequestCtx on it has a peer address.
type tcpPipe struct{ net.Conn }

var pipePeer = &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40000}

func (tcpPipe) RemoteAddr() net.Addr { return pipePeer }

// On a TLS connection X-Forwarded-Proto (and Forwarded's proto) is https.
// (End to end, over a real TLS listener, once the proxy listens with TLS.)
func TestForward_TLS(t *testing.T) {
	for _, tt := range []struct {
		name string
		tls  bool
		want string
	}{{"Plain", false, "http"}, {"TLS", true, "https"}} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			var conn net.Conn = tcpPipe{a}
			if tt.tls {
				conn = tls.Server(conn, &tls.Config{}) // no handshake is needed to ask it
			}
			var ctx fasthttp.RequestCtx
			ctx.Init2(conn, nil, false)
			ctx.Request.Header.SetHost("app.example")
			p := &Proxy{cfg: Config{Forwarding: Forwarding{RFC7239: true}}}
			p.forward(&ctx)
			h := &ctx.Request.Header
			if got := string(h.Peek("X-Forwarded-Proto")); got != tt.want {
				t.Errorf("X-Forwarded-Proto %q, want %q", got, tt.want)
			}
			if got, want := string(h.Peek("Forwarded")), "for=192.0.2.7;host=app.example;proto="+tt.want; got != want {
				t.Errorf("Forwarded %q, want %q", got, want)
			}
			if got := string(h.Peek("X-Forwarded-For")); got != "192.0.2.7" {
				t.Errorf("X-Forwarded-For %q", got)
			}
		})
	}
}

// The forwarding headers cost the client path no allocation once the
// request's header buffers have grown (the proxy reuses them).
func TestForward_NoAllocs(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var ctx fasthttp.RequestCtx
	ctx.Init2(tcpPipe{a}, nil, false)
	raw := []byte("GET / HTTP/1.1\r\nHost: app.example\r\nx-forwarded-for: 203.0.113.9\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReader(bytes.NewReader(raw))
	for _, tt := range []struct {
		name string
		fwd  Forwarding
	}{
		{"Untrusted", Forwarding{}},
		{"Trusted", Forwarding{Trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}},
	} {
		p := &Proxy{cfg: Config{Forwarding: tt.fwd}}
		n := testing.AllocsPerRun(200, func() {
			ctx.Request.Reset()
			br.Reset(bytes.NewReader(raw))
			if err := ctx.Request.Header.Read(br); err != nil {
				t.Fatal(err)
			}
			p.forward(&ctx)
		})
		// bytes.NewReader is the one allocation here; the trusted path
		// collects the incoming values and appends to them (two more).
		want := 1.0
		if len(tt.fwd.Trusted) > 0 {
			want = 3
		}
		if n > want {
			t.Errorf("%s: %v allocations per request, want at most %v", tt.name, n, want)
		}
	}
}
