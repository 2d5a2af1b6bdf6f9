package replay

import (
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
	"github.com/tandemproxy/tandem/upstream"
)

// service sends replayed requests to one service, through the proxy's own
// client (package upstream), so that a replayed request is what the proxy
// would have mirrored: header names keep their case and order, and nothing
// is added (net/http would add User-Agent and Accept-Encoding, and then undo
// the gzip it asked for, hiding the Content-Encoding the candidate chose).
type service struct {
	client      *upstream.Client
	maxBody     int
	rewriteHost bool
}

func newService(name string, u *url.URL, conns int, timeout time.Duration, maxBody int, rewriteHost bool, tls upstream.TLSOptions) (*service, error) {
	// Bodies are read as a stream so that a huge answer costs a bounded
	// buffer, and a request is sent again only when it was never written:
	// a retried request would reach the service twice (a write twice).
	c, err := upstream.New(upstream.Options{Name: name, URL: u, Timeout: timeout, MaxConns: max(conns, 1), Stream: true, TLS: tls})
	if err != nil {
		return nil, err
	}
	return &service{client: c, maxBody: maxBody, rewriteHost: rewriteHost}, nil
}

// unsent are recorded request headers that are not replayed besides the
// hop-by-hop ones (upstream.HopHeaders): Expect, as the whole body is sent
// at once, and those the client sets from the request itself.
var unsent = []string{"Expect", "Content-Length", "Host"}

func sendable(h tandem.Header) bool {
	if upstream.IsHop(h.Name) {
		return false
	}
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
func (s *service) request(req *fasthttp.Request, r *tandem.Request) {
	req.Header.DisableNormalizing()
	req.Header.SetNoDefaultContentType(true)
	req.Header.SetMethod(r.Method)
	if r.Host != "" {
		req.Header.SetHost(r.Host)
	}
	for _, h := range r.Header {
		if sendable(h) {
			req.Header.Add(h.Name, h.Value)
		}
	}
	// OPTIONS * has no path to put a prefix before: Target keeps it.
	s.client.Target(req, []byte(r.URL), s.rewriteHost)
	req.SetBody(r.Body)
}

// do sends r and returns the answer, or the error that stands in for it.
func (s *service) do(r *tandem.Request) tandem.Response {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	s.request(req, r)
	a, _, _ := s.client.Fetch(req, s.maxBody, nil)
	return a
}
