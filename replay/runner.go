package replay

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
	"github.com/tandemproxy/tandem/report"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/upstream"
)

// Recorder receives every verdict and, at the end, the counts of requests
// that were not compared. The store's Writer is one.
type Recorder interface {
	// Record takes ownership of ex; redact names the headers and JSON
	// fields to redact before storage.
	Record(ex *tandem.Exchange, redact []string)
	Add(counts ...tandem.Count)
}

// Defaults for Config.
const (
	DefaultConcurrency = 8
	DefaultRate        = 500 // requests per second
	DefaultTimeout     = 10 * time.Second
)

// Config configures a Runner. Zero fields take the defaults, except Rate,
// whose zero means no limit.
type Config struct {
	Candidate *url.URL // required
	// Legacy is the live legacy service. nil is golden mode: the candidate
	// is compared with legacy's recorded answers.
	Legacy *url.URL
	// Secondary is a second live legacy instance: the differences legacy
	// has with itself (or, in golden mode, with its recording) are noise.
	Secondary *url.URL
	Rules     *rules.Set // nil: rules.Default()
	Recorder  Recorder   // required
	// Concurrency is how many requests are in flight at once.
	Concurrency int
	// Rate caps the requests started per second; 0 means no cap.
	Rate float64
	// Ordered keeps the source's order within each endpoint: a request is
	// sent only after the one before it on its endpoint has been answered.
	Ordered bool
	// SkipInvalid goes on past invalid records, counting them; otherwise
	// the first one stops the run.
	SkipInvalid bool
	Timeout     time.Duration // per request and service
	MaxBody     int           // bytes of a body compared and stored (0: DefaultMaxBody)
	// RewriteHost sends each service its own host instead of the
	// recorded Host.
	RewriteHost bool
	// Header is set on every request, replacing recorded values of the
	// same name (a token the store redacted, say).
	Header tandem.Headers
	// TLS to each https:// service; the zero value trusts the system's
	// roots.
	LegacyTLS, CandidateTLS, SecondaryTLS upstream.TLSOptions
}

// Result counts what a run did. Its Counts hold the outcomes, by the
// names the proxy's tally uses: Requests (the valid records read), the
// verdicts and Comparisons, LegacyError (live legacy gave no answer: not
// compared), and the records not sent: Skipped (side effects the rules do
// not allow), Unrecorded (golden mode, and no recorded answer) and
// WebSocket (which replay does not speak).
type Result struct {
	tandem.Counts
	Invalid int64 // records skipped as invalid
	// WithoutBody counts the exchanges compared by status and headers only
	// (golden mode: a 304, or a recorded answer whose body is unknown).
	WithoutBody int64
	// Skipped counts the requests not sent, by endpoint.
	Skipped map[string]Skips
	// Errors holds, by endpoint, the first error that stood in for an
	// answer or a comparison (a candidate error, a diff error): the stored
	// report counts them without saying why.
	Errors map[string]string
	// LegacyError is the first live legacy failure to answer.
	LegacyError string
	Elapsed     time.Duration
}

// Skips counts an endpoint's requests that were not sent, by reason: the
// report's form, which the run's report is written with.
type Skips = report.Skipped

// Runner replays sources. Its counters can be read (Progress) while it runs.
type Runner struct {
	cfg                          Config
	legacy, candidate, secondary *service

	done, failed, erred atomic.Int64
	tally               tandem.Tally
	mu                  sync.Mutex
	res                 Result // what is not tallied: skips by endpoint, errors
	start, end          time.Time
}

// New checks a configuration and builds a runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Candidate == nil {
		return nil, errors.New("replay: a candidate is required")
	}
	if cfg.Recorder == nil {
		return nil, errors.New("replay: a Recorder is required")
	}
	if cfg.Rules == nil {
		cfg.Rules = rules.Default()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	r := &Runner{cfg: cfg, res: Result{Skipped: map[string]Skips{}, Errors: map[string]string{}}}
	var err error
	build := func(name string, u *url.URL, tls upstream.TLSOptions) (*service, error) {
		if u == nil {
			return nil, nil
		}
		return newService(name, u, cfg.Concurrency, cfg.Timeout, cfg.MaxBody, cfg.RewriteHost, tls)
	}
	if r.candidate, err = build("candidate", cfg.Candidate, cfg.CandidateTLS); err != nil {
		return nil, err
	}
	if r.legacy, err = build("legacy", cfg.Legacy, cfg.LegacyTLS); err != nil {
		return nil, err
	}
	if r.secondary, err = build("secondary", cfg.Secondary, cfg.SecondaryTLS); err != nil {
		return nil, err
	}
	return r, nil
}

// job is a record on its way to the services.
type job struct {
	rec  *Record
	ep   *rules.Endpoint
	name string
}

// Run replays src to its end (or until ctx is done, or an invalid record
// when SkipInvalid is off) and returns what it did. Requests already sent
// are finished and recorded whatever the error.
func (r *Runner) Run(ctx context.Context, src Source) (Result, error) {
	r.mu.Lock()
	r.start, r.end = time.Now(), time.Time{}
	r.mu.Unlock()
	r.cfg.Recorder.Add(tandem.Count{Name: runMarker, N: 1})
	// Ordered mode gives each endpoint one worker (by hash), which sends
	// its requests one at a time in source order; otherwise any worker
	// takes the next request.
	queues := make([]chan *job, 1)
	if r.cfg.Ordered {
		queues = make([]chan *job, r.cfg.Concurrency)
	}
	for i := range queues {
		queues[i] = make(chan *job, r.cfg.Concurrency)
	}
	var wg sync.WaitGroup
	for i := range r.cfg.Concurrency {
		q := queues[i%len(queues)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range q {
				r.process(j)
			}
		}()
	}
	pace := pacer{interval: interval(r.cfg.Rate)}
	err := r.dispatch(ctx, src, queues, &pace)
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	r.mu.Lock()
	r.end = time.Now()
	r.mu.Unlock()
	res := r.Result()
	// The store keeps what was never compared as counters, under the
	// tally's names (the proxy's for the same requests).
	r.cfg.Recorder.Add(res.KeptSince(tandem.Counts{})...)
	return res, err
}

func (r *Runner) dispatch(ctx context.Context, src Source, queues []chan *job, pace *pacer) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := src.Next()
		var inv *InvalidError
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &inv) && r.cfg.SkipInvalid:
			r.count(func(res *Result) { res.Invalid++ })
			r.done.Add(1)
			continue
		case err != nil:
			return err
		}
		j := r.prepare(rec)
		if j == nil {
			r.done.Add(1)
			continue
		}
		if d := pace.reserve(time.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		q := queues[0]
		if len(queues) > 1 {
			h := fnv.New32a()
			h.Write([]byte(j.name))
			q = queues[h.Sum32()%uint32(len(queues))]
		}
		select {
		case q <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// prepare names a record's endpoint and decides whether it is sent: nil
// when it is not (side effects the rules do not allow; no recorded answer
// to compare with in golden mode), after counting it.
func (r *Runner) prepare(rec *Record) *job {
	req := &rec.Request
	path := req.Path()
	ep := r.cfg.Rules.Match([]byte(req.Method), []byte(path))
	name := ep.EndpointName(req.Method, path)
	r.tally.Add(tandem.Requests)
	if isWebSocket(rec) {
		// Sent as a plain GET it would fail (or hang on a 101): not an
		// HTTP exchange to compare, in either mode.
		r.tally.Add(tandem.WebSocket)
		r.count(func(res *Result) {
			s := res.Skipped[name]
			s.WebSocket++
			res.Skipped[name] = s
		})
		return nil
	}
	var override string
	for _, h := range rules.MethodOverrideHeaders {
		if override = req.Header.Get(h); override != "" {
			break
		}
	}
	unsafe := !ep.MirrorsMethod(rules.ActingMethod([]byte(req.Method), []byte(override)))
	if unsafe || (r.legacy == nil && rec.Legacy == nil) {
		if unsafe {
			r.tally.Add(tandem.Skipped)
		} else {
			r.tally.Add(tandem.Unrecorded)
		}
		r.count(func(res *Result) {
			s := res.Skipped[name]
			if unsafe {
				s.SideEffects++
			} else {
				s.Unrecorded++
			}
			res.Skipped[name] = s
		})
		return nil
	}
	for _, h := range r.cfg.Header {
		req.Header = setHeader(req.Header, h)
	}
	return &job{rec: rec, ep: ep, name: name}
}

// setHeader replaces every field named h.Name with h (appending it when
// there is none), keeping the others in order.
func setHeader(hs tandem.Headers, h tandem.Header) tandem.Headers {
	out := make(tandem.Headers, 0, len(hs)+1)
	for _, f := range hs {
		if !strings.EqualFold(f.Name, h.Name) {
			out = append(out, f)
		}
	}
	return append(out, h)
}

// process sends a request to every service, judges the answers and
// records the verdict.
func (r *Runner) process(j *job) {
	defer r.done.Add(1)
	ex := &tandem.Exchange{Time: time.Now(), Endpoint: j.name, Request: j.rec.Request}
	var wg sync.WaitGroup
	var legacy tandem.Response
	if r.secondary != nil {
		ex.Secondary = new(tandem.Response)
		wg.Add(1)
		go func() { defer wg.Done(); *ex.Secondary = r.secondary.do(&ex.Request) }()
	}
	if r.legacy != nil {
		wg.Add(1)
		go func() { defer wg.Done(); legacy = r.legacy.do(&ex.Request) }()
	}
	ex.Candidate = r.candidate.do(&ex.Request)
	wg.Wait()
	if r.legacy == nil {
		ex.Legacy = *j.rec.Legacy
	} else if legacy.Err != "" {
		// The proxy's client would have had a 502: nothing to compare.
		r.erred.Add(1)
		r.tally.Add(tandem.LegacyError)
		r.count(func(res *Result) {
			if res.LegacyError == "" {
				res.LegacyError = legacy.Err
			}
		})
		return
	} else {
		ex.Legacy = legacy
	}
	withoutBody := r.legacy == nil && (j.rec.BodyUnknown || ex.Legacy.Status == http.StatusNotModified)
	if withoutBody {
		judgeWithoutBody(j.ep.Comparer, ex)
	} else {
		j.ep.Comparer.Judge(ex)
	}
	r.tally.Add(tandem.Comparisons)
	r.tally.Add(ex.Outcome)
	r.count(func(res *Result) {
		if withoutBody {
			res.WithoutBody++
		}
		if _, ok := res.Errors[j.name]; !ok && ex.Error != "" {
			res.Errors[j.name] = ex.Error
		}
	})
	switch ex.Outcome {
	case tandem.Mismatch, tandem.DiffError:
		r.failed.Add(1)
	case tandem.CandidateError:
		r.erred.Add(1)
	}
	r.cfg.Recorder.Record(ex, j.ep.Redact())
}

// judgeWithoutBody judges an exchange by status and headers only, for a
// recorded answer whose body is not legacy's: a 304's (browsers store the
// cached copy they revalidated in content.text, while the answer on the
// wire had no body, RFC 9110 §15.4.5), or one whose body was not
// recorded. The exchange keeps its bodies for the store.
//
// A 304 is compared without the metadata of the body it does not carry
// too: RFC 9110 §15.4.5 has a server send only the fields a 200 would
// have that guide caches (ETag, Cache-Control, Vary, …), so a recording's
// Content-Type on a 304 is the browser's cached one, or legacy's choice,
// and net/http, for one, drops it.
func judgeWithoutBody(c *diff.Comparer, ex *tandem.Exchange) {
	bare := *ex
	notModified := ex.Legacy.Status == http.StatusNotModified
	strip := func(r tandem.Response) tandem.Response {
		r = withoutBody(r)
		if notModified && r.Status == http.StatusNotModified {
			r.Header = withoutFields(r.Header, bodyMetadata)
		}
		return r
	}
	bare.Legacy, bare.Candidate = strip(ex.Legacy), strip(ex.Candidate)
	if ex.Secondary != nil {
		s := strip(*ex.Secondary)
		bare.Secondary = &s
	}
	c.Judge(&bare)
	ex.Outcome, ex.Differences, ex.NoisePatterns, ex.Error = bare.Outcome, bare.Differences, bare.NoisePatterns, bare.Error
}

// bodyMetadata are the fields that describe a body (RFC 9110 §8.3–8.6).
var bodyMetadata = []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Language"}

// withoutFields returns h without the fields named (a copy: h is the
// stored exchange's).
func withoutFields(h tandem.Headers, names []string) tandem.Headers {
	out := make(tandem.Headers, 0, len(h))
	for _, f := range h {
		if !slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, f.Name) }) {
			out = append(out, f)
		}
	}
	return out
}

func withoutBody(r tandem.Response) tandem.Response {
	r.Body, r.BodySize, r.Truncated, r.BodyHash = nil, 0, false, ""
	return r
}

func (r *Runner) count(f func(*Result)) {
	r.mu.Lock()
	f(&r.res)
	r.mu.Unlock()
}

// Result returns the counts so far.
func (r *Runner) Result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Counts = r.tally.Counts()
	res.Skipped = maps.Clone(r.res.Skipped)
	res.Errors = maps.Clone(r.res.Errors)
	res.Elapsed = r.elapsed()
	return res
}

// elapsed is the time the run took, or has taken so far; r.mu is held.
func (r *Runner) elapsed() time.Duration {
	switch {
	case r.start.IsZero():
		return 0
	case r.end.IsZero():
		return time.Since(r.start)
	}
	return r.end.Sub(r.start)
}

// Progress returns where the run is; total is what Scan counted.
func (r *Runner) Progress(total int64) Progress {
	p := Progress{Done: r.done.Load(), Total: total, Mismatches: r.failed.Load(), Errors: r.erred.Load()}
	r.mu.Lock()
	p.Elapsed = r.elapsed()
	r.mu.Unlock()
	return p
}

// interval is the time between request starts at rate per second.
func interval(rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate)
}

// pacer spaces request starts evenly. It does not catch up after a stall
// with a burst: a start that comes late books the next one an interval
// after it.
type pacer struct {
	interval time.Duration
	next     time.Time
}

// reserve books the next start and returns how long to wait for it.
func (p *pacer) reserve(now time.Time) time.Duration {
	if p.interval <= 0 {
		return 0
	}
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	return d
}
