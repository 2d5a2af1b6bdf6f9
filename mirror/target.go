package mirror

import (
	"bytes"
	"context"
	"net"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/upstream"
	"github.com/valyala/fasthttp"
)

// DefaultShadowSuffix is what Envoy (and so Istio) appends to the Host of
// a mirrored copy: "api.example" is mirrored as "api.example-shadow".
const DefaultShadowSuffix = "-shadow"

// Target is tandem's mirror-target mode (tandem compare): it receives the
// shadow copies that someone else's mirror sends (Envoy's
// request_mirror_policies, Istio's mirror, nginx's mirror, Traefik's
// mirroring), answers each at once with an empty 200 (the mirror discards
// the answer, and nginx holds the client's next request until it comes),
// and queues it for the proxy's workers, which send it to legacy (and the
// secondary) and to the candidate, then compare and record exactly as the
// proxy does. Nothing a client waits on passes through it.
type Target struct {
	*Proxy
	suffix []byte
}

// NewTarget builds a Target and starts its workers. Sample is the
// fraction of copies compared where no rule says (the mesh samples already:
// 1 is the usual choice). shadowSuffix is removed from the end of the Host
// of each copy ("" keeps the Host as it comes).
func NewTarget(cfg Config, shadowSuffix string) (*Target, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	// Legacy is fetched by the workers, with a client like the
	// candidate's: streamed bodies, bounded by MaxBody and the timeout, no
	// retries (a copy must reach legacy once).
	if p.fetchFrom, err = upstream.New(upstream.Options{Name: "legacy", URL: cfg.Legacy, Timeout: p.cfg.LegacyTimeout,
		MaxConns: p.cfg.Workers, HeaderBytes: mirrorHeaderBytes, Stream: true, TLS: cfg.LegacyTLS}); err != nil {
		p.Shutdown(context.Background())
		return nil, err
	}
	return &Target{Proxy: p, suffix: []byte(shadowSuffix)}, nil
}

// Handler takes a shadow copy: it is answered at once and, when the rules
// and the sample choose it, queued for comparison.
func (t *Target) Handler(ctx *fasthttp.RequestCtx) {
	p := t.Proxy
	p.tally.Add(tandem.Requests)
	ctx.Response.Header.SetNoDefaultContentType(true)
	ctx.SetStatusCode(fasthttp.StatusOK)
	req := &ctx.Request
	if upgradeProtocol(&req.Header) != nil {
		// A mesh does not mirror upgrades; one that comes anyway is a
		// conversation, which cannot be compared.
		p.tally.Add(tandem.Skipped)
		return
	}
	if host := stripShadow(req.Header.Host(), t.suffix); host != nil {
		req.Header.SetHostBytes(host)
	}
	ep := p.rules.Load().Match(req.Header.Method(), req.URI().Path())
	upstream.RemoveRequestHop(&req.Header)
	p.forward(ctx)
	if !p.chosen(ep, req) {
		return
	}
	j := p.jobs.Get().(*job)
	req.CopyTo(&j.req)
	j.ep = ep
	j.start = time.Now()
	p.enqueue(j)
}

// stripShadow returns host without the shadow suffix, or nil when it has
// none. The suffix is found at the end of the name, before a port
// ("api.example-shadow:8080", as Envoy writes it since it keeps the port
// last) or after it ("api.example:8080-shadow", as older Envoys did).
func stripShadow(host, suffix []byte) []byte {
	if len(suffix) == 0 || len(host) <= len(suffix) {
		return nil
	}
	if hasSuffixFold(host, suffix) {
		return bytes.Clone(host[:len(host)-len(suffix)])
	}
	i := bytes.LastIndexByte(host, ':')
	if i < 0 || bytes.IndexByte(host[i:], ']') >= 0 {
		return nil // no port (or an IPv6 literal's colon)
	}
	name, port := host[:i], host[i:]
	if len(name) <= len(suffix) || !hasSuffixFold(name, suffix) {
		return nil
	}
	out := append([]byte(nil), name[:len(name)-len(suffix)]...)
	return append(out, port...)
}

func hasSuffixFold(s, suffix []byte) bool {
	return len(s) >= len(suffix) && bytes.EqualFold(s[len(s)-len(suffix):], suffix)
}

// Serve accepts shadow copies on ln until Shutdown, with the proxy's
// client-side limits (connections, timeouts, body size, TLS).
func (t *Target) Serve(ln net.Listener) error { return t.serve(ln, t.Handler) }

// fetchLegacy is the first step of a job queued by a Target: legacy is
// asked now, by the worker, as the proxy's client path would have asked
// it. It reports whether legacy answered; a job it did not is counted as a
// legacy error (the client behind the mesh had an answer from elsewhere)
// and compared with nothing.
func (p *Proxy) fetchLegacy(j *job) bool { return p.fetchLegacyWith(p.fetchFrom, j) }

func (p *Proxy) fetchLegacyWith(c *upstream.Client, j *job) bool {
	// secReq is free until the secondary's copy is made from req.
	lreq := &j.secReq
	j.req.CopyTo(lreq)
	c.Target(lreq, pathAndQuery(j.req.Header.RequestURI()), p.cfg.RewriteHost)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.Header.SetNoDefaultContentType(true)
	start := time.Now()
	err := c.Do(lreq, resp)
	if err == nil {
		var head []byte
		var size int64
		var sum string
		if stream := resp.BodyStream(); stream != nil {
			head, size, sum, err = upstream.ReadBody(stream, j.legacyBody[:0], p.cfg.MaxBody)
			resp.CloseBodyStream()
		} else {
			head = append(j.legacyBody[:0], resp.Body()...)
			size = int64(len(head))
		}
		if head != nil {
			j.legacyBody = head
		}
		j.legacySize, j.legacyHash = size, sum
		// Legacy's answer is held from now on: counted in the queue's
		// bytes (the copy was admitted before it existed).
		extra := int64(len(j.legacyBody))
		j.size += extra
		p.inFlightBytes.Add(extra)
	}
	j.latency = time.Since(start)
	p.metrics.legacyAll.observe(j.latency)
	if err != nil {
		if p.claim(j) { // not abandoned by a stop (stop.go)
			p.finished()
			p.tally.Add(tandem.LegacyError)
			if n := p.legacyErrLog.allow(time.Now()); n >= 0 {
				p.log.Warn("legacy did not answer a shadow copy (counted as legacy_error)", "err", upstream.Describe(err), "cause", err, "suppressed_since_last", n)
			}
		}
		return false
	}
	resp.Header.CopyTo(&j.legacy.Header)
	j.legacy.Header.SetStatusCode(resp.StatusCode())
	return true
}
