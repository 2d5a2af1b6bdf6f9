package mirror

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/upstream"
)

// job is a request chosen for mirroring, with legacy's answer: copies made
// on the client path (fasthttp reuses the originals), pooled.
type job struct {
	req        fasthttp.Request
	legacy     fasthttp.Response // status and headers; the body is legacyBody
	legacySize int64
	legacyHash string // set when the body was over MaxBody
	start      time.Time
	latency    time.Duration
	ep         *rules.Endpoint
	size       int64 // bytes counted against QueueBytes
	// A request given to the candidate on the client path (serve.go):
	// its answer (cand, the body in candBody) or error, and whose answer
	// the client got.
	cand                   fasthttp.Response
	candSize               int64
	candLatency            time.Duration
	candHash, candErr      string
	candKnown, legacyKnown bool
	servedBy               string
	// used by the worker
	secReq fasthttp.Request
	state  atomic.Int32 // jobRunning, jobFinishing, jobAbandoned
	// The bodies, read into buffers that go back to the pool with the job:
	// most exchanges match and are only counted, so their bodies are
	// garbage once judged. An exchange that is stored gets copies.
	legacyBody, candBody, secBody []byte
}

// maxPooledBody bounds the body buffers a pooled job keeps: a rare large
// body must not stay allocated in every job.
const maxPooledBody = 64 << 10

func (j *job) reset() {
	j.req.Reset()
	j.legacy.Reset()
	j.secReq.Reset()
	j.legacySize, j.legacyHash, j.start, j.latency, j.ep, j.size = 0, "", time.Time{}, 0, nil, 0
	j.state.Store(jobRunning)
	j.resetServe()
	for _, b := range []*[]byte{&j.legacyBody, &j.candBody, &j.secBody} {
		if cap(*b) > maxPooledBody {
			*b = nil
		}
		*b = (*b)[:0]
	}
}

func (p *Proxy) worker(slot *atomic.Pointer[job]) {
	defer p.workers.Done()
	for j := range p.queue {
		if p.take(slot, j) { // stop.go
			p.process(j)
		}
		slot.Store(nil)
		p.inFlight.Add(-1)
		p.release(j)
	}
}

// process sends a job to the candidate (and secondary), judges the answers
// and records the verdict.
func (p *Proxy) process(j *job) {
	if p.fetchFrom != nil && !p.fetchLegacy(j) { // a Target's copy: legacy is asked now
		return
	}
	if !p.fetchServedLegacy(j) { // serve.go: a served request's copy
		return
	}
	ex := &tandem.Exchange{Time: j.start, ServedBy: servedBy(j)}
	req := &j.req
	ex.Request = tandem.Request{
		Method: string(req.Header.Method()),
		URL:    string(pathAndQuery(req.Header.RequestURI())),
		Host:   string(req.Header.Host()),
		Header: requestHeaders(&req.Header),
		Body:   bytes.Clone(req.Body()),
	}
	ex.Endpoint = j.ep.EndpointName(ex.Request.Method, ex.Request.Path())
	ex.Legacy = p.legacyResponse(j)

	target := []byte(ex.Request.URL)
	var wg sync.WaitGroup
	if p.secondary != nil {
		req.CopyTo(&j.secReq)
		p.secondary.Target(&j.secReq, target, p.cfg.RewriteHost)
		ex.Secondary = new(tandem.Response)
		wg.Add(1)
		go func() {
			defer wg.Done()
			*ex.Secondary, j.secBody = p.send(p.secondary, &p.secBreaker, &j.secReq, j.secBody)
		}()
	}
	if j.candKnown { // serve.go: the candidate answered on the client path
		ex.Candidate = p.servedCandidate(j)
	} else {
		p.candidate.Target(req, target, p.cfg.RewriteHost)
		ex.Candidate, j.candBody = p.send(p.candidate, &p.candBreaker, req, j.candBody)
	}
	wg.Wait()
	if !p.claim(j) { // stop.go
		return // abandoned by a stop out of time, and counted as dropped
	}
	defer p.finished()
	if p.droppedForDescriptors(ex) { // fdshortage.go
		return
	}
	if ex.Secondary != nil && ex.Secondary.Err != "" {
		// Judged without noise detection: counted, stored with the
		// secondary's error, and logged once per failure streak.
		p.tally.Add(tandem.SecondaryError)
		if p.secFailing.CompareAndSwap(false, true) {
			p.log.Warn("secondary is failing; exchanges are judged without noise detection",
				"endpoint", ex.Endpoint, "err", ex.Secondary.Err)
		}
	} else if ex.Secondary != nil && p.secFailing.CompareAndSwap(true, false) {
		p.log.Info("secondary answers again; noise detection is back")
	}

	j.ep.Comparer.Judge(ex)
	p.observeServed(ex) // serve.go
	p.tally.Add(tandem.Comparisons)
	if ex.Outcome.Compared() { // a verdict; Stats counted only these
		p.tally.Add(ex.Outcome)
	}
	if ex.Outcome == tandem.DiffError {
		if n := p.diffErrLog.allow(time.Now()); n >= 0 {
			p.log.Warn("diff error (stored with the exchange)", "endpoint", ex.Endpoint, "err", firstLine(ex.Error), "suppressed_since_last", n)
		}
	}
	p.metrics.observe(ex)
	// The bodies may be the job's buffers, which are reused: an exchange
	// that is stored gets its own copies; one only counted needs none.
	// A copy not sent because the candidate refuses connections is
	// counted, not stored: thousands of the same error a second would
	// tell no more than the few that tripped the breaker, which are.
	notSent := ex.Candidate.Err == refusedOpen
	keep := !notSent && p.cfg.Recorder.Stores(ex.Outcome)
	for _, r := range []*tandem.Response{&ex.Legacy, &ex.Candidate, ex.Secondary} {
		if r == nil {
			continue
		}
		if keep {
			r.Body = bytes.Clone(r.Body)
		} else {
			r.Body = nil
		}
	}
	if notSent {
		p.cfg.Recorder.CountOnly(ex, j.ep.Redact())
		return
	}
	p.cfg.Recorder.Record(ex, j.ep.Redact())
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func requestHeaders(h *fasthttp.RequestHeader) tandem.Headers {
	var out tandem.Headers
	for k, v := range h.All() {
		out = append(out, tandem.Header{Name: string(k), Value: string(v)})
	}
	return out
}

func (p *Proxy) legacyResponse(j *job) tandem.Response {
	r := tandem.Response{Status: j.legacy.StatusCode(), Header: upstream.Headers(&j.legacy.Header), Latency: j.latency, BodySize: j.legacySize}
	if j.legacyHash != "" {
		r.Truncated, r.BodyHash = true, j.legacyHash
		r.Body = j.legacyBody
		return r
	}
	if len(j.legacy.Header.ContentEncoding()) == 0 {
		r.Body = j.legacyBody
		return r
	}
	j.legacy.SetBodyRaw(j.legacyBody)
	r.Body, r.BodySize, r.Truncated, r.BodyHash = upstream.Decode(&j.legacy, p.cfg.MaxBody)
	return r
}

// send performs a mirror request through its upstream's breaker and reads
// the answer (see upstream.Client.Fetch). A transport failure is logged,
// throttled, with its cause.
func (p *Proxy) send(c *upstream.Client, br *breaker, req *fasthttp.Request, buf []byte) (tandem.Response, []byte) {
	start := time.Now()
	if br.open(start) {
		return tandem.Response{Err: refusedOpen}, buf
	}
	r, buf, err := c.Fetch(req, p.cfg.MaxBody, buf)
	if err != nil && descriptorShortage(err) { // fdshortage.go
		return tandem.Response{Err: noDescriptors, Latency: r.Latency}, buf
	}
	br.record(r.Err == upstream.Refused, start)
	if err != nil {
		p.logUpstreamError(&p.candErrLog, c.Name(), err)
	}
	return r, buf
}
