package mirror

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/upstream"
	"github.com/valyala/fasthttp"
)

// Defaults for the tunnels of upgraded connections (Config.TunnelIdleTimeout
// and Config.MaxTunnels).
const (
	// DefaultTunnelIdleTimeout closes a tunnel when neither side has sent a
	// byte for this long. WebSocket applications ping well inside it; a
	// dead peer behind a NAT that never sends a FIN is let go.
	DefaultTunnelIdleTimeout = 5 * time.Minute
	// DefaultMaxTunnels bounds the upgraded connections open at once: each
	// holds two sockets, two goroutines and two buffers for as long as it
	// lives.
	DefaultMaxTunnels = 1024
	// tunnelBuffer is the copy buffer of each direction of a tunnel.
	tunnelBuffer = 32 << 10
)

// An upgrade (RFC 9110 §7.8) turns a request into a different protocol on
// the same connection: after legacy's 101 the bytes are WebSocket frames (or
// whatever was asked for), not HTTP. tandem cannot mirror such a
// conversation (a candidate would act on every message a second time, and
// there is no request/answer pair to compare), so it passes it to legacy as
// a tunnel of raw bytes and counts it as "upgraded". The one upgrade that is
// not tunnelled is h2c (RFC 7540 §3.2, removed in RFC 9113): a server may
// ignore it, and a client then goes on in HTTP/1.1, so tandem strips it and
// serves the request as any other.

// tunnels holds the proxy's upgraded connections.
type tunnels struct {
	active, refused atomic.Int64
	refusedLog      throttle // one warning per interval, with how many were held back

	mu   sync.Mutex
	open map[*tunnel]struct{}
	done bool // set by Shutdown: no tunnel opens after it
}

// tunnel is one upgraded connection: the client's and legacy's sockets.
type tunnel struct {
	legacy net.Conn
	client net.Conn // set once the client's connection is hijacked
	last   atomic.Int64
	ended  atomic.Bool // set by interrupt: a deadline error is the end
}

// acquire takes a tunnel slot; it fails beyond max or after Shutdown.
func (ts *tunnels) acquire(max int) (*tunnel, bool) {
	if ts.active.Add(1) > int64(max) {
		ts.active.Add(-1)
		return nil, false
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.done {
		ts.active.Add(-1)
		return nil, false
	}
	if ts.open == nil {
		ts.open = map[*tunnel]struct{}{}
	}
	t := &tunnel{}
	ts.open[t] = struct{}{}
	return t, true
}

func (ts *tunnels) release(t *tunnel) {
	ts.mu.Lock()
	delete(ts.open, t)
	ts.mu.Unlock()
	ts.active.Add(-1)
}

// closeAll ends every open tunnel (on Shutdown): a WebSocket conversation has
// no point at which it is finished, so a stop cannot wait for one.
func (ts *tunnels) closeAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.done = true
	for t := range ts.open {
		t.interrupt()
	}
}

// interrupt unblocks both directions of a tunnel. The client's connection is
// the server's hijacked one, whose Close fasthttp leaves to itself: a past
// deadline ends its reads and writes instead.
func (t *tunnel) interrupt() {
	t.ended.Store(true)
	if t.legacy != nil {
		t.legacy.Close()
	}
	if t.client != nil {
		t.client.SetDeadline(time.Unix(1, 0))
	}
}

// upgradeProtocol returns the Upgrade header of a request that asks for an
// upgrade tandem tunnels (Connection: upgrade, RFC 9110 §7.8), or nil. The
// header is read without regard to case, as the hop-by-hop fields are.
func upgradeProtocol(h *fasthttp.RequestHeader) []byte {
	var proto []byte
	asked := false
	for raw := h.RawHeaders(); len(raw) > 0; {
		var n, v []byte
		n, v, raw = upstream.NextField(raw)
		switch {
		case bytes.EqualFold(n, []byte("Connection")):
			for _, tok := range bytes.Split(v, []byte(",")) {
				if bytes.EqualFold(bytes.TrimSpace(tok), []byte("upgrade")) {
					asked = true
				}
			}
		case bytes.EqualFold(n, []byte("Upgrade")):
			proto = v
		}
	}
	if !asked || len(proto) == 0 {
		return nil
	}
	for _, p := range bytes.Split(proto, []byte(",")) {
		if !bytes.EqualFold(bytes.TrimSpace(p), []byte("h2c")) {
			return proto
		}
	}
	return nil // only h2c: served as a plain HTTP/1.1 request
}

// tunnel serves an upgrade request, and reports whether the request was
// one. The request goes to legacy on a connection of its own; after a 101
// the two connections are joined, and any other answer goes to the client
// as a normal response. Nothing is mirrored.
func (p *Proxy) tunnel(ctx *fasthttp.RequestCtx) bool {
	proto := upgradeProtocol(&ctx.Request.Header)
	if proto == nil {
		return false
	}
	t, ok := p.tun.acquire(p.cfg.MaxTunnels)
	if !ok {
		p.tun.refused.Add(1)
		if n := p.tun.refusedLog.allow(time.Now()); n >= 0 {
			p.log.Warn("upgrade refused with 503: --max-tunnels upgraded connections are open",
				"max_tunnels", p.cfg.MaxTunnels, "refused_since_last", n)
		}
		ctx.Error("tandem: too many upgraded connections open\n", fasthttp.StatusServiceUnavailable)
		return true
	}
	br, head, status, ok := p.upgradeLegacy(ctx, t, proto)
	if ok && status == fasthttp.StatusSwitchingProtocols {
		p.tally.Add(tandem.Upgraded)
		p.hijackTunnel(ctx, t, br, head) // the tunnel owns t from here
		return true
	}
	if ok {
		p.passRefusal(ctx, head, br)
	}
	if t.legacy != nil {
		t.legacy.Close()
	}
	p.tun.release(t)
	return true
}

// upgradeLegacy dials legacy (t.legacy) and sends it the client's upgrade
// request; it returns a reader on legacy's connection and the head of its
// answer, with the status. When legacy fails it answers the client (502,
// or 504 when legacy ran out of time) and returns ok false.
func (p *Proxy) upgradeLegacy(ctx *fasthttp.RequestCtx, t *tunnel, proto []byte) (br *bufio.Reader, head []byte, status int, ok bool) {
	req := &ctx.Request
	// Upgrade and Connection are hop-by-hop, but for this hop they are the
	// request itself: the rest go, these two come back.
	proto = bytes.Clone(proto)
	upstream.RemoveRequestHop(&req.Header)
	req.Header.SetBytesV("Upgrade", proto)
	req.Header.Set("Connection", "Upgrade")
	p.forward(ctx)
	p.legacy.Target(req, pathAndQuery(req.Header.RequestURI()), p.cfg.RewriteHost)

	deadline := time.Now().Add(p.cfg.LegacyTimeout)
	conn, err := p.dialLegacy(deadline)
	if err != nil {
		p.tally.Add(tandem.LegacyError)
		p.log.Debug("upgrade: legacy unavailable", "err", err)
		answerLegacyFailed(ctx, false)
		return nil, nil, 0, false
	}
	p.tun.mu.Lock()
	t.legacy = conn // closeAll reads it
	p.tun.mu.Unlock()
	conn.SetDeadline(deadline)
	br = bufio.NewReaderSize(conn, tunnelBuffer)
	bw := bufio.NewWriterSize(conn, 4<<10)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		head, status, err = readHead(br)
	}
	if err != nil {
		p.tally.Add(tandem.LegacyError)
		answerLegacyFailed(ctx, isTimeout(err))
		return nil, nil, 0, false
	}
	return br, head, status, true
}

// passRefusal gives the client legacy's answer to an upgrade it refused (a
// 400, a 426, a 403): head and the rest of it in br.
func (p *Proxy) passRefusal(ctx *fasthttp.RequestCtx, head []byte, br *bufio.Reader) {
	ctx.Response.Header.SetNoDefaultContentType(true)
	ctx.Response.Header.DisableNormalizing()
	if err := ctx.Response.Read(bufio.NewReader(io.MultiReader(bytes.NewReader(head), br))); err != nil {
		p.tally.Add(tandem.LegacyError)
		answerLegacyFailed(ctx, false)
		return
	}
	upstream.RemoveResponseHop(&ctx.Response.Header)
}

// hijackTunnel takes over the client's connection once fasthttp lets go of
// it, and joins it to legacy's (t.legacy, read through br) until either
// side ends or both are idle for TunnelIdleTimeout. head, legacy's 101,
// goes to the client as legacy sent it, then the bytes of the new protocol.
func (p *Proxy) hijackTunnel(ctx *fasthttp.RequestCtx, t *tunnel, br *bufio.Reader, head []byte) {
	conn := t.legacy
	conn.SetDeadline(time.Time{})
	ctx.HijackSetNoResponse(true) // fasthttp writes nothing
	// If the server never calls the hijack handler (the client's
	// connection failed in between), legacy's connection and the slot
	// must not be held forever: whichever of the two comes first wins.
	var state atomic.Int32 // 0 waiting, 1 hijacked, 2 given up
	guard := time.AfterFunc(p.cfg.LegacyTimeout, func() {
		if state.CompareAndSwap(0, 2) {
			conn.Close()
			p.tun.release(t)
		}
	})
	ctx.Hijack(func(c net.Conn) {
		if !state.CompareAndSwap(0, 1) {
			return
		}
		guard.Stop()
		defer p.tun.release(t)
		defer conn.Close()
		p.tun.mu.Lock()
		t.client = c
		stopping := p.tun.done
		p.tun.mu.Unlock()
		if stopping {
			return
		}
		c.SetWriteDeadline(time.Now().Add(p.cfg.TunnelIdleTimeout))
		if _, err := c.Write(head); err != nil {
			return
		}
		t.join(c, br, p.cfg.TunnelIdleTimeout)
	})
}

// join copies bytes both ways until either side closes, fails, or both are
// silent for idle; then both directions end. (Half-closed connections are
// not kept: as in net/http/httputil, the first side to finish ends it.)
func (t *tunnel) join(client net.Conn, legacyR io.Reader, idle time.Duration) {
	t.last.Store(time.Now().UnixNano())
	errc := make(chan error, 2)
	go t.copy(t.legacy, client, client, idle, errc)
	go t.copy(client, legacyR, t.legacy, idle, errc)
	<-errc
	t.interrupt()
	<-errc // nothing uses the client's connection once join returns
}

// copy is one direction of a tunnel. Each read waits at most idle; a read
// that times out while the other direction was active waits again, so that
// a server that only pushes (or a client that only sends) is not cut.
func (t *tunnel) copy(dst net.Conn, src io.Reader, srcConn net.Conn, idle time.Duration, errc chan<- error) {
	buf := make([]byte, tunnelBuffer)
	for {
		srcConn.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			t.last.Store(now.UnixNano())
			dst.SetWriteDeadline(now.Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				errc <- werr
				return
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !t.ended.Load() && time.Since(time.Unix(0, t.last.Load())) < idle {
				continue
			}
			errc <- err
			return
		}
	}
}

// dialLegacy opens a connection of its own to legacy for a tunnel: plain
// TCP, or TLS for an https legacy (with Config.TunnelTLS, offering only
// HTTP/1.1, the protocol an upgrade belongs to).
func (p *Proxy) dialLegacy(deadline time.Time) (net.Conn, error) {
	addr := p.legacy.Addr()
	d := net.Dialer{Deadline: deadline}
	cfg := p.legacy.TLSConfig() // legacy's CA, client certificate and server name
	if cfg == nil {
		return d.Dial("tcp", addr)
	}
	if p.cfg.TunnelTLS != nil {
		cfg = p.cfg.TunnelTLS.Clone()
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	cfg.NextProtos = []string{"http/1.1"}
	td := tls.Dialer{NetDialer: &d, Config: cfg}
	c, err := td.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tls to %s: %w", addr, err)
	}
	return c, nil
}

// readHead reads one response header block as legacy sent it and returns
// it with its status. Interim answers other than 101 (100 Continue, 103
// Early Hints) are read past.
func readHead(br *bufio.Reader) ([]byte, int, error) {
	for {
		var head []byte
		for {
			line, err := br.ReadSlice('\n')
			head = append(head, line...)
			if len(head) > upstreamHeaderBytes {
				return nil, 0, errors.New("legacy's answer header is too large")
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				return nil, 0, err
			}
			if len(bytes.TrimRight(line, "\r\n")) == 0 {
				break // the empty line that ends the header
			}
		}
		var h fasthttp.ResponseHeader
		if err := h.Read(bufio.NewReader(bytes.NewReader(head))); err != nil {
			return nil, 0, fmt.Errorf("legacy's answer to an upgrade: %w", err)
		}
		if s := h.StatusCode(); s >= 200 || s == fasthttp.StatusSwitchingProtocols {
			return head, s, nil
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
