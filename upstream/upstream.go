// Package upstream is the one client tandem uses to send a request to a
// service: legacy on the proxy's client path, the candidate and the
// secondary for mirror copies, and all three in a replay. It owns the
// connection (dialling, TLS, idle connections an upstream may have closed,
// when a request may be sent again), reading an answer within a body cap
// (hashing the rest), decoding it, and the text that describes a failure,
// so that the proxy and a replay store the same words for the same event.
package upstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults for Options.
const (
	// DefaultIdleTimeout is how long an idle connection is kept for reuse.
	// It is below the idle timeouts of common servers (gunicorn 2 s, Node
	// and Apache 5 s, nginx 75 s), so that tandem, not the server, closes
	// an idle connection: a server that closes it first races the next
	// request written on it.
	DefaultIdleTimeout = time.Second
	// DefaultHeaderBytes bounds an answer's header.
	DefaultHeaderBytes = 64 << 10
	// staleAttempts bounds the tries of one request on pooled connections
	// found closed before it was written (a restarted upstream leaves every
	// pooled connection closed).
	staleAttempts = 8
	// idempotentAttempts bounds the tries of an idempotent request whose
	// connection closed before the first byte of an answer (fasthttp's
	// default).
	idempotentAttempts = fasthttp.DefaultMaxIdemponentCallAttempts
)

// Options configure a Client. Zero fields take the defaults above.
type Options struct {
	// Name names the upstream in errors and logs: "legacy", "candidate",
	// "secondary".
	Name    string
	URL     *url.URL // http:// or https://; its path prefixes every request's
	Timeout time.Duration
	// MaxConns bounds the connections; 0 is fasthttp's default (512). At
	// the bound a request waits up to Timeout for a free one.
	MaxConns int
	// HeaderBytes bounds an answer's header (the read buffer).
	HeaderBytes int
	// Stream reads answer bodies as a stream (Fetch), so that a huge or
	// endless answer costs a bounded buffer; without it Do reads them whole.
	Stream bool
	// RetryIdempotent sends an idempotent request (RFC 9110 §9.2.2) again
	// on another connection when its connection closed before the first
	// byte of an answer, as a client of legacy would. Without it a request
	// is only sent again when it was never written (a mirror copy must not
	// reach the candidate twice).
	RetryIdempotent bool
	// IdleTimeout is how long an idle connection is kept; an upstream's
	// Keep-Alive: timeout= shortens it.
	IdleTimeout time.Duration
	TLS         TLSOptions // for https:// URLs
}

// Client sends requests to one upstream.
type Client struct {
	hc      *fasthttp.HostClient
	name    string
	prefix  []byte
	host    string
	timeout time.Duration
	idle    time.Duration
	tls     *tls.Config // nil: plain HTTP
}

// New builds the client of one upstream.
func New(o Options) (*Client, error) {
	u := o.URL
	if u == nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s: %s: want http://host:port or https://host:port", o.Name, u)
	}
	if o.Timeout <= 0 {
		return nil, fmt.Errorf("%s: a timeout is required", o.Name)
	}
	if o.HeaderBytes <= 0 {
		o.HeaderBytes = DefaultHeaderBytes
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	addr := u.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr += map[bool]string{true: ":443", false: ":80"}[u.Scheme == "https"]
	}
	d := &dialer{name: o.Name, idle: o.IdleTimeout}
	if u.Scheme == "https" {
		cfg, err := o.TLS.config(o.Name, u.Hostname())
		if err != nil {
			return nil, err
		}
		d.tls = cfg
	}
	c := &fasthttp.HostClient{
		Addr: addr,
		// TLS is set up by the dialer, which sees the raw connection (see
		// conn.go): the HostClient speaks plain HTTP over what it returns.
		DialTimeout:                   d.dial,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		ReadTimeout:                   o.Timeout,
		WriteTimeout:                  o.Timeout,
		MaxIdleConnDuration:           o.IdleTimeout,
		ReadBufferSize:                o.HeaderBytes,
		StreamResponseBody:            o.Stream,
		MaxConns:                      o.MaxConns,
		MaxIdemponentCallAttempts:     staleAttempts,
		RetryIfErr:                    retryIf(o.RetryIdempotent),
		Transport:                     keepDefaults{},
	}
	if o.MaxConns > 0 {
		c.MaxConnWaitTimeout = o.Timeout
	}
	return &Client{hc: c, name: o.Name, prefix: []byte(strings.TrimSuffix(u.Path, "/")), host: u.Host,
		timeout: o.Timeout, idle: o.IdleTimeout, tls: d.tls}, nil
}

// Addr is the upstream's host:port, as dialled.
func (c *Client) Addr() string { return c.hc.Addr }

// TLSConfig returns a copy of the TLS configuration connections to this
// upstream use, or nil for a plain http:// upstream: for a connection
// dialled outside the client (a tunnel of an upgraded request).
func (c *Client) TLSConfig() *tls.Config {
	if c.tls == nil {
		return nil
	}
	return c.tls.Clone()
}

// Name is the upstream's name, as given in Options.
func (c *Client) Name() string { return c.name }

// Target points req at this upstream: its path prefix before target (an
// origin-form path and query), and, with rewriteHost or when the request
// has none, its own Host.
func (c *Client) Target(req *fasthttp.Request, target []byte, rewriteHost bool) {
	if len(c.prefix) > 0 && len(target) > 0 && target[0] == '/' {
		buf := make([]byte, 0, len(c.prefix)+len(target))
		buf = append(append(buf, c.prefix...), target...)
		req.SetRequestURIBytes(buf)
	} else {
		req.SetRequestURIBytes(target)
	}
	if rewriteHost || len(req.Header.Host()) == 0 {
		req.Header.SetHost(c.host)
	}
	// The HostClient speaks plain HTTP over the connection the dialer made
	// (TLS or not) and refuses a request whose URI says otherwise; a
	// request read from a TLS listener parses as https. Parsing the URI
	// to say so must not change the path the upstream gets ("/}" would be
	// written "/%7D"): the path goes out as it came, whoever writes it.
	u := req.URI()
	u.DisablePathNormalizing = true
	u.SetScheme("http")
}

// Do sends req and reads the answer into resp (its body as a stream with
// Options.Stream: the caller closes it). It returns fasthttp's error, which
// Describe turns into words.
func (c *Client) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	err := c.hc.DoTimeout(req, resp, c.timeout)
	if err == nil {
		c.noteKeepAlive(resp)
		return nil
	}
	if a, ok := resp.LocalAddr().(*connAddr); ok && a.c.alert != nil {
		return &TLSError{Upstream: a.c.name, Addr: a.c.addrText, Err: a.c.alert}
	}
	return err
}

// retryIf decides whether fasthttp sends a request again after err.
func retryIf(idempotent bool) fasthttp.RetryIfErrFunc {
	return func(req *fasthttp.Request, attempts int, err error) (bool, bool) {
		if errors.Is(err, errStale) {
			// Never written: the upstream cannot have seen it.
			return false, true
		}
		// Closed before the first byte of an answer (fasthttp reports any
		// error on that byte as io.EOF): the upstream may have acted on
		// the request, so only an idempotent one is sent again.
		if idempotent && attempts < idempotentAttempts && err == io.EOF && isIdempotent(req) {
			return false, true
		}
		return false, false
	}
}

func isIdempotent(req *fasthttp.Request) bool {
	h := &req.Header
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsTrace() || h.IsPut() || h.IsDelete()
}
