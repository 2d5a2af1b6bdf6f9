package mirror

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
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
	for _, b := range []*[]byte{&j.legacyBody, &j.candBody, &j.secBody} {
		if cap(*b) > maxPooledBody {
			*b = nil
		}
		*b = (*b)[:0]
	}
}

// Job states: a job is finished by its worker or abandoned by a stop that
// ran out of time, never both (the one that moves it out of jobRunning
// counts it).
const (
	jobRunning int32 = iota
	jobFinishing
	jobAbandoned
)

func (p *Proxy) worker(slot *atomic.Pointer[job]) {
	defer p.workers.Done()
	for j := range p.queue {
		// The slot is set before the stop flag is read, so that a stop
		// that sets the flag and then looks at the slots sees this job.
		slot.Store(j)
		if p.abandon.Load() {
			if j.state.CompareAndSwap(jobRunning, jobAbandoned) {
				p.dropped.Add(1)
			}
		} else {
			p.process(j)
		}
		slot.Store(nil)
		p.inFlight.Add(-1)
		p.release(j)
	}
}

// abandonInFlight is a stop out of time, after it set p.abandon: the copies workers hold are
// counted as dropped, unless a worker is already recording its verdict,
// which is waited for (briefly: it needs no network) so that it reaches the
// Recorder before it is closed.
func (p *Proxy) abandonInFlight() {
	// p.abandon is already set: no worker starts another job.
	for i := range p.slots {
		if j := p.slots[i].Load(); j != nil && j.state.CompareAndSwap(jobRunning, jobAbandoned) {
			p.dropped.Add(1)
		}
	}
	for deadline := time.Now().Add(2 * time.Second); p.finishing.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// process sends a job to the candidate (and secondary), judges the answers
// and records the verdict.
func (p *Proxy) process(j *job) {
	if p.fetchFrom != nil && !p.fetchLegacy(j) { // a Target's copy: legacy is asked now
		return
	}
	ex := &tandem.Exchange{Time: j.start}
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
		p.setTarget(&j.secReq, p.secPrefix, target, p.secHost)
		ex.Secondary = new(tandem.Response)
		wg.Add(1)
		go func() {
			defer wg.Done()
			*ex.Secondary, j.secBody = p.send(p.secondary, &p.secBreaker, &j.secReq, j.secBody)
		}()
	}
	p.setTarget(req, p.candidatePrefix, target, p.candidateHost)
	ex.Candidate, j.candBody = p.send(p.candidate, &p.candBreaker, req, j.candBody)
	wg.Wait()
	p.finishing.Add(1)
	defer p.finishing.Add(-1)
	if !j.state.CompareAndSwap(jobRunning, jobFinishing) {
		return // abandoned by a stop out of time, and counted as dropped
	}
	if ex.Secondary != nil && ex.Secondary.Err != "" {
		// Judged without noise detection: counted, stored with the
		// secondary's error, and logged once per failure streak.
		p.secErrors.Add(1)
		if p.secFailing.CompareAndSwap(false, true) {
			p.log.Warn("secondary is failing; exchanges are judged without noise detection",
				"endpoint", ex.Endpoint, "err", ex.Secondary.Err)
		}
	} else if ex.Secondary != nil && p.secFailing.CompareAndSwap(true, false) {
		p.log.Info("secondary answers again; noise detection is back")
	}

	j.ep.Compare.Judge(ex)
	p.compared.Add(1)
	switch ex.Outcome {
	case tandem.Match:
		p.matched.Add(1)
	case tandem.Mismatch:
		p.mismatched.Add(1)
	case tandem.Noise:
		p.noise.Add(1)
	case tandem.CandidateError:
		p.candErrors.Add(1)
	case tandem.DiffError:
		p.diffErrors.Add(1)
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
		p.cfg.Recorder.Count(ex, j.ep.Redact())
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

func responseHeaders(h *fasthttp.ResponseHeader) tandem.Headers {
	var out tandem.Headers
	for k, v := range h.All() {
		out = append(out, tandem.Header{Name: string(k), Value: string(v)})
	}
	return out
}

func (p *Proxy) legacyResponse(j *job) tandem.Response {
	r := tandem.Response{Status: j.legacy.StatusCode(), Header: responseHeaders(&j.legacy.Header), Latency: j.latency, BodySize: j.legacySize}
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
	r.Body, r.BodySize, r.Truncated, r.BodyHash = p.decode(&j.legacy)
	return r
}

// decode returns a response's body decoded from its Content-Encoding (gzip,
// deflate, br, zstd), so that bodies compare by content, within MaxBody.
// A body that cannot be decoded, or decodes to more than MaxBody, is kept
// as received and compared by its hash.
func (p *Proxy) decode(resp *fasthttp.Response) (body []byte, size int64, truncated bool, sum string) {
	raw := resp.Body()
	if len(resp.Header.ContentEncoding()) > 0 {
		dec, err := resp.BodyUncompressedWithLimit(p.cfg.MaxBody)
		if err == nil {
			return bytes.Clone(dec), int64(len(dec)), false, ""
		}
		h := sha256.Sum256(raw)
		return bytes.Clone(raw[:min(len(raw), p.cfg.MaxBody)]), int64(len(raw)), true, hex.EncodeToString(h[:])
	}
	return bytes.Clone(raw), int64(len(raw)), false, ""
}

// Breaker settings: after breakerTrips refused connections in a row, an
// upstream is not dialled for breakerOpen; its copies fail at once.
const (
	breakerTrips = 3
	breakerOpen  = time.Second
)

// refusedOpen is the error of a copy not sent because the breaker is open.
const refusedOpen = "connection refused (the candidate refuses connections; tried again every second)"

// breaker stops tandem from dialling, for every copy, an upstream that is
// down: each attempt costs a socket and a connect, and a dead candidate
// must cost production as little as a live one. Only refused connections
// trip it: a timeout already costs no more than waiting.
type breaker struct {
	refused   atomic.Int32
	openUntil atomic.Int64 // unix nanoseconds
}

func (b *breaker) open(now time.Time) bool { return now.UnixNano() < b.openUntil.Load() }

func (b *breaker) record(refused bool, now time.Time) {
	if !refused {
		if b.refused.Load() != 0 {
			b.refused.Store(0)
		}
		return
	}
	if b.refused.Add(1) >= breakerTrips {
		b.refused.Store(0)
		b.openUntil.Store(now.Add(breakerOpen).UnixNano())
	}
}

// send performs a mirror request and reads the answer: up to MaxBody bytes
// are kept; beyond that the body is only hashed, and the whole exchange is
// bounded by the candidate timeout (an endless body ends as a timeout). The
// body is read into buf, which is returned (grown) for the next use: the
// response's Body may alias it.
func (p *Proxy) send(c *fasthttp.HostClient, br *breaker, req *fasthttp.Request, buf []byte) (tandem.Response, []byte) {
	start := time.Now()
	if br.open(start) {
		return tandem.Response{Err: refusedOpen}, buf
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.Header.SetNoDefaultContentType(true)
	err := c.DoTimeout(req, resp, p.cfg.CandidateTimeout)
	if err != nil {
		d := describe(err)
		br.record(d == "connection refused", start)
		return tandem.Response{Err: d, Latency: time.Since(start)}, buf
	}
	br.record(false, start)
	var head []byte
	var size int64
	var sum string
	streamed := false
	if stream := resp.BodyStream(); stream != nil {
		streamed = true
		head, size, sum, err = p.readStream(stream, buf[:0])
		resp.CloseBodyStream()
		if head != nil {
			buf = head
		}
		if err != nil {
			return tandem.Response{Err: describe(err), Latency: time.Since(start)}, buf
		}
		resp.SetBodyRaw(head)
	}
	r := tandem.Response{Status: resp.StatusCode(), Header: responseHeaders(&resp.Header), Latency: time.Since(start)}
	if sum != "" {
		r.Body, r.BodySize, r.Truncated, r.BodyHash = head, size, true, sum
		return r, buf
	}
	if streamed && len(resp.Header.ContentEncoding()) == 0 {
		r.Body, r.BodySize = head, int64(len(head))
		return r, buf
	}
	r.Body, r.BodySize, r.Truncated, r.BodyHash = p.decode(resp)
	return r, buf
}

// readBufs are readStream's buffers: one per answer would be most of what
// a mirror worker allocates.
var readBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// readStream reads a streamed body. It returns the first MaxBody bytes,
// appended to head, and, when there was more, the size and SHA-256 of the
// whole body (the rest is hashed and discarded).
func (p *Proxy) readStream(stream io.Reader, head []byte) (_ []byte, size int64, sum string, err error) {
	pb := readBufs.Get().(*[32 << 10]byte)
	defer readBufs.Put(pb)
	buf := pb[:]
	var h hash.Hash
	for {
		n, rerr := stream.Read(buf)
		if n > 0 {
			size += int64(n)
			chunk := buf[:n]
			if h == nil && len(head)+n > p.cfg.MaxBody {
				h = sha256.New()
				h.Write(head)
			}
			if h != nil {
				h.Write(chunk)
				if room := p.cfg.MaxBody - len(head); room > 0 {
					head = append(head, chunk[:min(room, n)]...)
				}
			} else {
				head = append(head, chunk...)
			}
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return head, 0, "", rerr
		}
	}
	if h != nil {
		sum = hex.EncodeToString(h.Sum(nil))
	}
	return head, size, sum, nil
}

// describe turns a client error into the short text stored with a
// candidate error.
func describe(err error) string {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout):
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnectionClosed):
		return err.Error()
	}
	s := err.Error()
	if strings.Contains(s, "connection refused") {
		return "connection refused"
	}
	if strings.Contains(s, "i/o timeout") {
		return "timeout"
	}
	return s
}

// throttle lets a repeated warning through at most once per interval and
// counts what it held back, so that a bad body shape repeated on every
// request does not become a log line per request.
type throttle struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
	held     int
}

// allow returns how many warnings were held back since the last one let
// through, or -1 when this one is held back.
func (t *throttle) allow(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.interval {
		t.held++
		return -1
	}
	n := t.held
	t.last, t.held = now, 0
	return n
}
