package mirror

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/upstream"
)

// DefaultServeTimeout bounds the candidate's answer to a request it
// serves: the extra latency a client can pay before a safe request falls
// back to legacy.
const DefaultServeTimeout = 2 * time.Second

// serving is the strangler cutover's part of the proxy: the clients that
// send a served request to the candidate and its shadow copy to legacy,
// the shares in force and the counts per endpoint.
type serving struct {
	// client sends requests the candidate serves: legacy's header limit
	// (the answer goes to a client), the serve timeout, never retried (a
	// write it serves must reach it once).
	client *upstream.Client
	// shadow fetches legacy's answer to a served request's copy, in the
	// workers, like a Target's legacy client.
	shadow *upstream.Client
	// shares overrides the rules' serve shares, by endpoint name: set by
	// the cutover controller (nil: the rules' shares).
	shares atomic.Pointer[map[string]float64]

	mu        sync.RWMutex
	endpoints map[string]*tandem.Tally // who answered: tandem.ServedLegacy, ServedCandidate, Fallback, CandidateWrite
}

// ServedCounts are one endpoint's requests by the side that answered them.
type ServedCounts struct {
	Legacy    int64 // answered by legacy (fallbacks included)
	Candidate int64 // answered by the candidate (writes included)
	Fallback  int64 // given to the candidate, answered by legacy
	Writes    int64 // writes the candidate answered (never sent to legacy)
}

func (p *Proxy) initServe() error {
	timeout := p.cfg.ServeTimeout
	if timeout <= 0 {
		timeout = DefaultServeTimeout
	}
	var err error
	if p.serving.client, err = upstream.New(upstream.Options{Name: "candidate", URL: p.cfg.Candidate, Timeout: timeout,
		HeaderBytes: upstreamHeaderBytes, TLS: p.cfg.CandidateTLS}); err != nil {
		return err
	}
	p.serving.shadow, err = upstream.New(upstream.Options{Name: "legacy", URL: p.cfg.Legacy, Timeout: p.cfg.LegacyTimeout,
		MaxConns: p.cfg.Workers, HeaderBytes: mirrorHeaderBytes, Stream: true, TLS: p.cfg.LegacyTLS})
	return err
}

// Observer sees what the cutover's decisions rest on: every compared
// exchange of an endpoint the candidate can serve (from the workers), and
// every fallback (from the client path: it must not block).
type Observer interface {
	Observe(ex *tandem.Exchange)
	Fallback(endpoint string)
}

func (p *Proxy) observeServed(ex *tandem.Exchange) {
	if p.cfg.Observer != nil && ex.ServedBy != "" {
		p.cfg.Observer.Observe(ex)
	}
}

// SetShares sets the candidate's share of each named endpoint, overriding
// the rules' serve: keys (the cutover controller's decisions). An endpoint
// not named keeps its rule's share.
func (p *Proxy) SetShares(shares map[string]float64) {
	m := make(map[string]float64, len(shares))
	for k, v := range shares {
		m[k] = v
	}
	p.serving.shares.Store(&m)
}

func (p *Proxy) share(ep *rules.Endpoint, name string) float64 {
	if m := p.serving.shares.Load(); m != nil {
		if s, ok := (*m)[name]; ok {
			return s
		}
	}
	return ep.ServeShare()
}

func (p *Proxy) served(name string) *tandem.Tally {
	s := &p.serving
	s.mu.RLock()
	c := s.endpoints[name]
	s.mu.RUnlock()
	if c != nil {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c = s.endpoints[name]; c == nil {
		if s.endpoints == nil {
			s.endpoints = map[string]*tandem.Tally{}
		}
		if len(s.endpoints) >= maxEndpointSeries {
			name = "other"
			if c = s.endpoints[name]; c != nil {
				return c
			}
		}
		c = &tandem.Tally{}
		s.endpoints[name] = c
	}
	return c
}

// Served returns, per endpoint that can be served by the candidate, who
// answered its requests.
func (p *Proxy) Served() map[string]ServedCounts {
	s := &p.serving
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]ServedCounts, len(s.endpoints))
	for n, c := range s.endpoints {
		k := c.Counts()
		out[n] = ServedCounts{Legacy: k.Get(tandem.ServedLegacy), Candidate: k.Get(tandem.ServedCandidate),
			Fallback: k.Get(tandem.Fallback), Writes: k.Get(tandem.CandidateWrite)}
	}
	return out
}

// serveFromCandidate is the client path's cutover: it reports whether it
// answered the request (from the candidate, or from legacy after the
// candidate failed a safe one). Endpoints with no serve share return at
// once, with no allocation.
func (p *Proxy) serveFromCandidate(ctx *fasthttp.RequestCtx, ep *rules.Endpoint) bool {
	if !ep.Serving() {
		return false
	}
	req := &ctx.Request
	safe := rules.SafeMethod(rules.ActingMethod(req.Header.Method(), methodOverride(&req.Header)))
	name := ep.EndpointName(string(req.Header.Method()), string(req.URI().Path()))
	counts := p.served(name)
	if !safe && !ep.ServesWrites() {
		counts.Add(tandem.ServedLegacy)
		return false
	}
	share := p.share(ep, name)
	if share <= 0 || p.serveDraw(ep, req) >= share {
		counts.Add(tandem.ServedLegacy)
		return false
	}
	if !safe {
		p.serveWrite(ctx, counts)
		return true
	}
	p.serveSafe(ctx, ep, name, counts)
	return true
}

// serveDraw is the request's place in [0, 1) for the serve choice: by its
// sample_by key when the rule has one (sticky: a session stays on one
// side), at random otherwise.
func (p *Proxy) serveDraw(ep *rules.Endpoint, req *fasthttp.Request) float64 {
	header, query := ep.SampleBy()
	var key []byte
	switch {
	case header != "":
		key = peekFold(&req.Header, header)
	case query != "":
		key = req.URI().QueryArgs().Peek(query)
	}
	if len(key) > 0 {
		return rules.ServeHash01(key)
	}
	return rand.Float64()
}

// serveWrite sends a write to the candidate alone: it is never sent to
// legacy too (it would act twice) nor retried on legacy after a failure
// (the candidate may have acted on it before failing).
func (p *Proxy) serveWrite(ctx *fasthttp.RequestCtx, counts *tandem.Tally) {
	req := &ctx.Request
	p.serving.client.Target(req, pathAndQuery(req.Header.RequestURI()), p.cfg.RewriteHost)
	counts.Add(tandem.ServedCandidate)
	counts.Add(tandem.CandidateWrite)
	if err := p.serving.client.Do(req, &ctx.Response); err != nil {
		p.logUpstreamError(&p.candErrLog, "candidate", err)
		ctx.Response.Reset()
		if errors.Is(err, fasthttp.ErrTimeout) {
			ctx.Error("tandem: the candidate did not answer in time\n", fasthttp.StatusGatewayTimeout)
		} else {
			ctx.Error("tandem: the candidate is unavailable\n", fasthttp.StatusBadGateway)
		}
		return
	}
	upstream.RemoveResponseHop(&ctx.Response.Header)
}

// serveSafe answers a safe request from the candidate and queues its copy
// for legacy, whose answer the worker compares with the candidate's; when
// the candidate fails (or answers 5xx and the rule says so) the client
// gets legacy's answer instead, and the failure is compared as a candidate
// error.
func (p *Proxy) serveSafe(ctx *fasthttp.RequestCtx, ep *rules.Endpoint, name string, counts *tandem.Tally) {
	req := &ctx.Request
	j := p.jobs.Get().(*job)
	req.CopyTo(&j.req)
	j.ep = ep
	target := pathAndQuery(j.req.Header.RequestURI())

	start := time.Now()
	var err error
	if p.candBreaker.open(start) {
		j.candErr = refusedOpen
	} else {
		p.serving.client.Target(req, target, p.cfg.RewriteHost)
		err = p.serving.client.Do(req, &ctx.Response)
		p.candBreaker.record(err != nil && upstream.Describe(err) == upstream.Refused, start)
	}
	j.candLatency = time.Since(start)
	j.candKnown = true
	if err == nil && j.candErr == "" && !(ep.FallsBackOn5xx() && ctx.Response.StatusCode() >= 500) {
		upstream.RemoveResponseHop(&ctx.Response.Header)
		counts.Add(tandem.ServedCandidate)
		j.servedBy = tandem.ServedByCandidate
		j.start = start
		p.copyCandidate(j, &ctx.Response)
		p.enqueue(j)
		return
	}
	if err != nil {
		p.logUpstreamError(&p.candErrLog, "candidate", err)
		j.candErr = upstream.Describe(err)
	} else if j.candErr == "" {
		p.copyCandidate(j, &ctx.Response) // its 5xx, compared with legacy's answer
	}
	counts.Add(tandem.Fallback)
	if p.cfg.Observer != nil {
		p.cfg.Observer.Fallback(name)
	}
	counts.Add(tandem.ServedLegacy)
	j.servedBy = tandem.ServedByLegacy

	// The fallback: legacy answers the client, as it would have without
	// the cutover; the extra latency is at most the serve timeout.
	ctx.Response.Reset()
	j.req.CopyTo(req)
	p.legacy.Target(req, target, p.cfg.RewriteHost)
	lstart := time.Now()
	err = p.legacy.Do(req, &ctx.Response)
	j.start, j.latency = lstart, time.Since(lstart)
	p.metrics.legacyAll.observe(j.latency)
	if err != nil {
		p.tally.Add(tandem.LegacyError)
		p.logUpstreamError(&p.legacyErrLog, "legacy", err)
		answerLegacyFailed(ctx, errors.Is(err, fasthttp.ErrTimeout))
		p.release(j)
		return
	}
	upstream.RemoveResponseHop(&ctx.Response.Header)
	p.copyLegacy(j, &ctx.Response)
	j.legacyKnown = true
	p.enqueue(j)
}

// copyCandidate keeps what the comparison needs of the candidate's answer
// to a request it served.
func (p *Proxy) copyCandidate(j *job, resp *fasthttp.Response) {
	resp.Header.CopyTo(&j.cand.Header)
	body := resp.Body()
	j.candSize = int64(len(body))
	body, j.candHash = upstream.Head(body, p.cfg.MaxBody)
	j.candBody = append(j.candBody[:0], body...)
}

// servedCandidate is the candidate's answer to a request it was given on
// the client path, as the comparison sees it.
func (p *Proxy) servedCandidate(j *job) tandem.Response {
	if j.candErr != "" {
		return tandem.Response{Err: j.candErr, Latency: j.candLatency}
	}
	r := tandem.Response{Status: j.cand.StatusCode(), Header: upstream.Headers(&j.cand.Header), Latency: j.candLatency, BodySize: j.candSize}
	switch {
	case j.candHash != "":
		r.Truncated, r.BodyHash, r.Body = true, j.candHash, j.candBody
	case len(j.cand.Header.ContentEncoding()) == 0:
		r.Body = j.candBody
	default:
		j.cand.SetBodyRaw(j.candBody)
		r.Body, r.BodySize, r.Truncated, r.BodyHash = upstream.Decode(&j.cand, p.cfg.MaxBody)
	}
	return r
}

// fetchServedLegacy asks legacy, in the worker, for its answer to a
// request the candidate served: the shadow copy, the other way round.
func (p *Proxy) fetchServedLegacy(j *job) bool {
	if !j.candKnown || j.legacyKnown {
		return true
	}
	return p.fetchLegacyWith(p.serving.shadow, j)
}

// servedBy names the side whose answer the client got, for the exchange:
// empty for an endpoint the candidate cannot serve (as before the
// cutover).
func servedBy(j *job) string {
	if j.servedBy != "" {
		return j.servedBy
	}
	if j.ep != nil && j.ep.Serving() {
		return tandem.ServedByLegacy
	}
	return ""
}

func (j *job) resetServe() {
	j.cand.Reset()
	j.candSize, j.candHash, j.candLatency, j.candErr = 0, "", 0, ""
	j.candKnown, j.legacyKnown, j.servedBy = false, false, ""
}

// writeServeMetrics exports, per endpoint the candidate can serve, its
// share now and who answered its requests.
func (p *Proxy) writeServeMetrics(w io.Writer) {
	served := p.Served()
	if len(served) == 0 {
		return
	}
	names := make([]string, 0, len(served))
	for n := range served {
		names = append(names, n)
	}
	sort.Strings(names)
	rs := p.rules.Load()
	fmt.Fprintf(w, "# HELP tandem_served_total Client requests of endpoints in cutover, by the side that answered (fallback: given to the candidate, answered by legacy).\n# TYPE tandem_served_total counter\n")
	for _, n := range names {
		c := served[n]
		fmt.Fprintf(w, "tandem_served_total{endpoint=%s,served_by=\"legacy\"} %d\n", label(n), c.Legacy)
		fmt.Fprintf(w, "tandem_served_total{endpoint=%s,served_by=\"candidate\"} %d\n", label(n), c.Candidate)
		fmt.Fprintf(w, "tandem_served_total{endpoint=%s,served_by=\"fallback\"} %d\n", label(n), c.Fallback)
	}
	fmt.Fprintf(w, "# HELP tandem_serve_share The fraction of an endpoint's requests the candidate serves now.\n# TYPE tandem_serve_share gauge\n")
	for _, n := range names {
		fmt.Fprintf(w, "tandem_serve_share{endpoint=%s} %s\n", label(n), fmtFloat(p.share(rs.Lookup(n), n)))
	}
}
