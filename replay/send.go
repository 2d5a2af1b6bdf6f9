package replay

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// upstream sends replayed requests to one service. It uses fasthttp, as
// the proxy does, so that a replayed request is what the proxy would have
// mirrored: header names keep their case and order, and nothing is added
// (net/http would add User-Agent and Accept-Encoding, and then undo the
// gzip it asked for, hiding the Content-Encoding the candidate chose).
type upstream struct {
	client      *fasthttp.HostClient
	prefix      string // the URL's path, put before every request's
	host        string // the URL's host, sent as Host with RewriteHost
	timeout     time.Duration
	maxBody     int
	rewriteHost bool
}

func newUpstream(u *url.URL, conns int, timeout time.Duration, maxBody int, rewriteHost bool) (*upstream, error) {
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s: want http://host:port or https://host:port", u)
	}
	addr := u.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr += map[bool]string{true: ":443", false: ":80"}[u.Scheme == "https"]
	}
	c := &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https",
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		MaxConns:                      max(conns, 1),
		ReadTimeout:                   timeout,
		WriteTimeout:                  timeout,
		MaxConnWaitTimeout:            timeout,
		// Bodies are read as a stream so that a huge answer costs a bounded
		// buffer (see headWriter).
		StreamResponseBody: true,
		// A retried request would reach the service twice: a write twice.
		MaxIdemponentCallAttempts: 1,
	}
	return &upstream{client: c, prefix: strings.TrimSuffix(u.Path, "/"), host: u.Host,
		timeout: timeout, maxBody: maxBody, rewriteHost: rewriteHost}, nil
}

// unsent are recorded request headers that are not replayed: those that
// describe the recorded connection rather than the request (the hop-by-hop
// headers of RFC 9110 §7.6.1 and Expect, as the whole body is sent at
// once), and those the client sets from the request itself.
var unsent = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Expect", "Content-Length", "Host",
}

func sendable(h tandem.Header) bool {
	for _, n := range unsent {
		if strings.EqualFold(h.Name, n) {
			return false
		}
	}
	// The store replaced this secret before storage: sending the
	// placeholder would only be a wrong credential (--header gives the
	// real one).
	return h.Value != store.Redacted
}

// request fills req with r as it is sent to this service.
func (u *upstream) request(req *fasthttp.Request, r *tandem.Request) {
	req.Header.DisableNormalizing()
	req.Header.SetNoDefaultContentType(true)
	req.Header.SetMethod(r.Method)
	if strings.HasPrefix(r.URL, "/") {
		req.SetRequestURI(u.prefix + r.URL)
	} else {
		req.SetRequestURI(r.URL) // OPTIONS *: no path to put a prefix before
	}
	host := r.Host
	if u.rewriteHost || host == "" {
		host = u.host
	}
	req.Header.SetHost(host)
	for _, h := range r.Header {
		if sendable(h) {
			req.Header.Add(h.Name, h.Value)
		}
	}
	req.SetBody(r.Body)
}

// do sends r and returns the answer, or the error that stands in for it.
func (u *upstream) do(r *tandem.Request) tandem.Response {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	u.request(req, r)
	resp.Header.SetNoDefaultContentType(true)

	start := time.Now()
	if err := u.client.DoTimeout(req, resp, u.timeout); err != nil {
		return tandem.Response{Err: describe(err), Latency: time.Since(start)}
	}
	if stream := resp.BodyStream(); stream != nil {
		w := newHeadWriter(u.maxBody)
		_, err := io.Copy(w, stream)
		resp.CloseBodyStream()
		if err != nil {
			return tandem.Response{Err: describe(err), Latency: time.Since(start)}
		}
		if w.over() {
			a := answer(resp, u.maxBody) // the headers; the body is w's
			w.truncated(&a)
			a.Latency = time.Since(start)
			return a
		}
		resp.SetBodyRaw(w.head)
	}
	a := answer(resp, u.maxBody)
	a.Latency = time.Since(start)
	return a
}

// describe turns a client error into the short text stored with a
// candidate error.
func describe(err error) string {
	s := err.Error()
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), strings.Contains(s, "i/o timeout"):
		return "timeout"
	case strings.Contains(s, "connection refused"):
		return "connection refused"
	case errors.Is(err, fasthttp.ErrConnectionClosed), strings.Contains(s, "connection reset by peer"):
		// fasthttp's text for this advises the server's author on
		// Connection: close, which misleads a CI log's reader.
		return "connection closed before an answer"
	}
	return s
}
