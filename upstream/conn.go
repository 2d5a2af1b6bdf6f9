package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// An HTTP/1.1 server may close an idle keep-alive connection at any time
// (RFC 9112 §9.8), and a request written on it then fails: the bytes go out,
// and the answer is EOF or a reset. fasthttp sends only idempotent requests
// again, so a POST after a pause got 502. net/http avoids it with a reader
// goroutine per connection that sees the close at once; fasthttp has none.
// So each connection is checked before a request is written on it after an
// answer: a peek that does not block says whether the server has closed it
// (EOF, a reset, or bytes nobody asked for, such as TLS's close_notify). A
// connection found closed fails the write with errStale before any byte is
// written, and retryIf sends the request on another connection. The race
// left (a close between the check and the request's arrival) is made
// unlikely by closing idle connections before the server would:
// DefaultIdleTimeout, shortened by the server's Keep-Alive: timeout=.

// errStale fails a request that was never written, because its connection
// was closed by the upstream while idle (or idle for longer than it keeps
// connections).
var errStale = errors.New("idle connection closed by the upstream; the request was not sent on it")

type dialer struct {
	name string
	idle time.Duration
	tls  *tls.Config // nil: plain HTTP
}

func (d *dialer) dial(addr string, timeout time.Duration) (net.Conn, error) {
	nd := net.Dialer{Timeout: timeout}
	raw, err := nd.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{Conn: raw, raw: raw, name: d.name, addrText: addr}
	c.limit.Store(int64(d.idle))
	if d.tls == nil {
		return c, nil
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tc := tls.Client(raw, d.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, &TLSError{Upstream: d.name, Addr: addr, Err: err}
	}
	c.Conn = tc
	return c, nil
}

// conn is one connection to an upstream: the TLS connection, or the raw
// one, with what the liveness check needs. A connection is used by one
// request at a time; the pool's lock orders one request's use before the
// next.
type conn struct {
	net.Conn
	raw      net.Conn  // the TCP connection under TLS, peeked by alive
	answered bool      // something was read since the last write
	lastRead time.Time // when
	// alert is a TLS alert the upstream sent after the handshake: in TLS
	// 1.3 a server refuses a client certificate (or its absence) only
	// then, and fasthttp reports any error on an answer's first byte as
	// EOF, which Do turns back into this.
	alert    error
	limit    atomic.Int64
	addr     *connAddr
	addrOnce sync.Once
	name     string // the upstream's
	addrText string
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered, c.lastRead = true, time.Now()
	}
	var oe *net.OpError
	if err != nil && c.raw != c.Conn && errors.As(err, &oe) && oe.Op == "remote error" {
		c.alert = err
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	if c.answered {
		// The first write of a request on a connection that has carried an
		// answer: the connection has been idle in the pool.
		c.answered = false
		if time.Since(c.lastRead) >= time.Duration(c.limit.Load()) || !alive(c.raw) {
			return 0, errStale
		}
	}
	return c.Conn.Write(p)
}

// LocalAddr carries the connection, so that Do can give it the upstream's
// Keep-Alive timeout (fasthttp hands a response only the addresses).
func (c *conn) LocalAddr() net.Addr {
	c.addrOnce.Do(func() { c.addr = &connAddr{Addr: c.Conn.LocalAddr(), c: c} })
	return c.addr
}

type connAddr struct {
	net.Addr
	c *conn
}

// noteKeepAlive honours an answer's Keep-Alive: timeout= (RFC 2068 §19.7.1,
// sent by Apache and Node): the connection is kept idle for at most half
// of it, so that it is never written on when the server is closing it.
func (c *Client) noteKeepAlive(resp *fasthttp.Response) {
	var v []byte
	for k, val := range resp.Header.All() {
		if len(k) == len("Keep-Alive") && bytes.EqualFold(k, []byte("Keep-Alive")) {
			v = val
			break
		}
	}
	if v == nil {
		return
	}
	a, ok := resp.LocalAddr().(*connAddr)
	if !ok {
		return
	}
	secs, ok := keepAliveTimeout(v)
	if !ok {
		return
	}
	if d := time.Duration(secs) * time.Second / 2; d < c.idle {
		a.c.limit.Store(int64(d))
	}
}

// keepAliveTimeout parses the timeout parameter of a Keep-Alive header
// ("timeout=5, max=100").
func keepAliveTimeout(v []byte) (int, bool) {
	for len(v) > 0 {
		var p []byte
		p, v, _ = bytes.Cut(v, []byte(","))
		name, val, ok := bytes.Cut(bytes.TrimSpace(p), []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(name), []byte("timeout")) {
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimSpace(val)))
		if err != nil || n < 0 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// alive reports whether an idle connection is still open: a read that
// neither blocks nor consumes finds nothing to read yet.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	if err := rc.Read(func(fd uintptr) bool {
		open = peekOpen(fd)
		return true
	}); err != nil {
		return false
	}
	return open
}

// keepDefaults gives each answer's header, before it is read, the settings
// of a fasthttp.Server's NoDefaultDate and NoDefaultContentType. fasthttp's
// client resets them on the response it fills, and legacy's answer is
// written to the client from that response: without them the server adds a
// Date of its own, replacing legacy's "Date" and doubling a "date" sent in
// lower case. The client gets legacy's header fields, Date included, and
// no others.
type keepDefaults struct{}

func (keepDefaults) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	noDefaults().CopyTo(&resp.Header)
	return fasthttp.DefaultTransport.RoundTrip(hc, req, resp)
}

// noDefaults is an empty response header with NoDefaultDate and
// NoDefaultContentType set. fasthttp sets the first only on the responses
// of its own Server (there is no setter), so a Server makes it, once, on an
// in-memory connection.
var noDefaults = sync.OnceValue(func() *fasthttp.ResponseHeader {
	h := new(fasthttp.ResponseHeader)
	s := &fasthttp.Server{NoDefaultDate: true, NoDefaultContentType: true, NoDefaultServerHeader: true,
		Handler: func(ctx *fasthttp.RequestCtx) { ctx.Response.Header.CopyTo(h) }}
	client, server := net.Pipe()
	go func() {
		fmt.Fprint(client, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		io.Copy(io.Discard, client)
		client.Close()
	}()
	s.ServeConn(server) //nolint:errcheck // the handler has run when it returns
	server.Close()
	return h
})
