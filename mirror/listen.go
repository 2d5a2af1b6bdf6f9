package mirror

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem/netlimit"
)

// Defaults for EdgeConfig: the client side of the proxy.
const (
	// DefaultHeaderTimeout bounds the time from a connection's opening (or
	// a keep-alive request's first byte) to the end of its header: a
	// slowloris client sending a byte at a time holds a connection no
	// longer than this. nginx's client_header_timeout is 60 s, Go's
	// guidance 5–10 s; real clients send a header in one packet.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds the reading of a request body once its
	// header is in.
	DefaultBodyTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxRequestBody is the largest request body read: a larger
	// one gets 413 and reaches no upstream.
	DefaultMaxRequestBody = 64 << 20
	// edgeLogInterval is how often a repeated edge warning (bodies too
	// large, rejected requests) is logged.
	edgeLogInterval = netlimit.LogInterval
)

// EdgeConfig configures how the proxy treats its clients' connections.
// Zero fields take the defaults above.
type EdgeConfig struct {
	// MaxConns bounds the client connections open at once; beyond it a new
	// connection is closed as soon as it is accepted (and counted), so
	// that the process never runs out of file descriptors. 0: no limit.
	MaxConns       int
	HeaderTimeout  time.Duration
	BodyTimeout    time.Duration
	IdleTimeout    time.Duration
	MaxRequestBody int
	// TLS, when set, makes Serve listen with TLS (see tlslisten.go).
	TLS *tls.Config
}

func (e *EdgeConfig) setDefaults() {
	if e.HeaderTimeout <= 0 {
		e.HeaderTimeout = DefaultHeaderTimeout
	}
	if e.BodyTimeout <= 0 {
		e.BodyTimeout = DefaultBodyTimeout
	}
	if e.IdleTimeout <= 0 {
		e.IdleTimeout = DefaultIdleTimeout
	}
	if e.MaxRequestBody <= 0 {
		e.MaxRequestBody = DefaultMaxRequestBody
	}
}

// edgeStats are the counters of the client side.
type edgeStats struct {
	conns                  netlimit.Counters
	bodyTooLarge, rejected atomic.Int64
	bodyLog, rejLog, fdLog throttle
}

func (e *edgeStats) init() {
	for _, t := range []*throttle{&e.bodyLog, &e.rejLog, &e.fdLog} {
		t.interval = edgeLogInterval
	}
}

// writeEdgeMetrics writes the client side's counters (called by
// WriteMetrics).
func (p *Proxy) writeEdgeMetrics(w io.Writer) {
	e := &p.edge
	for _, m := range []struct {
		name, kind, help string
		v                int64
	}{
		{"tandem_accept_errors_total", "counter", "Errors accepting a client connection (EMFILE, ENFILE, ECONNABORTED…), retried.", e.conns.AcceptErrors.Load()},
		{"tandem_refused_conns_total", "counter", "Client connections closed at once because --max-conns were open.", e.conns.Refused.Load()},
		{"tandem_client_conns", "gauge", "Client connections open now.", e.conns.Open.Load()},
		{"tandem_body_too_large_total", "counter", "Client requests answered 413 because the body exceeds --max-request-body.", e.bodyTooLarge.Load()},
		{"tandem_rejected_requests_total", "counter", "Client requests answered 400 because their framing is ambiguous (request smuggling) or malformed.", e.rejected.Load()},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.kind, m.name, m.v)
	}
}

// edgeListener guards the accept loop (netlimit): fasthttp ends Serve on
// any accept error but a timeout, and EMFILE under a connection flood
// would stop the proxy.
func (p *Proxy) edgeListener(ln net.Listener) net.Listener {
	return netlimit.New(ln, p.cfg.Edge.MaxConns, "proxy", &p.edge.conns, p.log)
}

// headerReceived is the server's HeaderReceived hook: the read deadline
// set when the request began (HeaderTimeout) covered the header; the body
// gets its own. An ambiguous request's body is not read (smuggle.go).
func (p *Proxy) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	holdAmbiguousBody(h) // smuggle.go
	return fasthttp.RequestConfig{ReadTimeout: p.cfg.Edge.BodyTimeout}
}

// serverError answers a request fasthttp could not read: a body over the
// limit gets 413 (not "400 Error when parsing request"), a timeout 408,
// the rest 400. Each is counted; a large body is logged, throttled.
func (p *Proxy) serverError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		p.bodyTooLarge(ctx)
	default:
		var small *fasthttp.ErrSmallBuffer
		var nerr net.Error
		switch {
		case errors.As(err, &small):
			ctx.Error("tandem: request header too large\n", fasthttp.StatusRequestHeaderFieldsTooLarge)
		case errors.As(err, &nerr) && nerr.Timeout():
			ctx.Error("tandem: request not received in time\n", fasthttp.StatusRequestTimeout)
		case http2Preface(err):
			// HTTP/2 with prior knowledge (gRPC's default) or another
			// version: a clear status, and the connection closed (fasthttp
			// closes it after any read error).
			p.edge.rejected.Add(1)
			ctx.Error("tandem: this proxy speaks HTTP/1.1 only; terminate HTTP/2 (and gRPC) in front of it\n", fasthttp.StatusHTTPVersionNotSupported)
		default:
			p.edge.rejected.Add(1)
			ctx.Error("tandem: malformed request\n", fasthttp.StatusBadRequest)
		}
	}
}

// http2Preface reports whether fasthttp refused a request line for its
// version: "PRI * HTTP/2.0", HTTP/2's connection preface (RFC 9113 §3.4),
// or any version but HTTP/1.x. fasthttp's parse errors carry no type.
func http2Preface(err error) bool {
	s := err.Error()
	return strings.Contains(s, "unsupported http version") || strings.Contains(s, "HTTP/2.0")
}

func (p *Proxy) bodyTooLarge(ctx *fasthttp.RequestCtx) {
	p.edge.bodyTooLarge.Add(1)
	if n := p.edge.bodyLog.allow(time.Now()); n >= 0 {
		p.log.Warn("request body over --max-request-body: answered 413", "max_request_body", p.cfg.Edge.MaxRequestBody,
			"content_length", ctx.Request.Header.ContentLength(), "suppressed_since_last", n)
	}
	ctx.Error(fmt.Sprintf("tandem: request body larger than %d bytes\n", p.cfg.Edge.MaxRequestBody), fasthttp.StatusRequestEntityTooLarge)
}

// expect answers "Expect: 100-continue": a body announced over the limit
// gets 413 at once, so the client never sends it.
func (p *Proxy) expect(ctx *fasthttp.RequestCtx) int {
	if cl := ctx.Request.Header.ContentLength(); cl > p.cfg.Edge.MaxRequestBody {
		p.bodyTooLarge(ctx)
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}
