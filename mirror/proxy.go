// Package mirror is tandem's reverse proxy. Every request is answered by
// legacy, and the client gets legacy's answer unchanged. A copy of each
// request chosen for mirroring is queued, after legacy has answered, for
// workers that send it to the candidate (and to a secondary legacy instance,
// when there is one), compare the answers and hand the verdict to a
// Recorder. The queue is bounded in entries and in bytes; when it is full
// the copy is dropped and counted. Nothing the candidate does can delay or
// change what the client receives.
package mirror

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/upstream"
)

// Defaults for Config.
const (
	DefaultCandidateTimeout = 5 * time.Second
	DefaultLegacyTimeout    = 30 * time.Second
	DefaultQueueSize        = 4096
	DefaultQueueBytes       = 64 << 20
	DefaultWorkers          = 256
	DefaultMaxBody          = 4 << 20
	DefaultDrainTimeout     = 10 * time.Second
	DefaultMaxHeaderBytes   = 16 << 10
	// upstreamHeaderBytes bounds an upstream's response header: generous,
	// because legacy's answer must reach the client whatever its cookies.
	upstreamHeaderBytes = 256 << 10
	// mirrorHeaderBytes bounds the candidate's and the secondary's answer
	// headers; a larger one is a candidate error.
	mirrorHeaderBytes = 64 << 10
)

// Recorder receives every verdict and the process-wide counts. The store's
// Writer is one.
type Recorder interface {
	// Record takes ownership of ex; redact names the headers and JSON
	// fields to redact before storage.
	Record(ex *tandem.Exchange, redact []string)
	// Stores reports whether an exchange with this outcome is stored in
	// full: the bodies of one that is not are never copied out of the
	// proxy's reused buffers (Record gets it without them).
	Stores(tandem.Outcome) bool
	// CountOnly counts an exchange that is never stored, whatever the mode.
	CountOnly(ex *tandem.Exchange, redact []string)
	Add(counts ...tandem.Count)
}

// Config configures a Proxy. Zero fields take the defaults above.
type Config struct {
	Legacy    *url.URL // required
	Candidate *url.URL // required
	Secondary *url.URL // nil: no noise detection
	// Sample is the fraction of requests mirrored where the rules set none.
	Sample           float64
	CandidateTimeout time.Duration
	LegacyTimeout    time.Duration
	// QueueSize and QueueBytes bound the requests waiting to be mirrored and
	// being mirrored: beyond either, copies are dropped (and counted).
	QueueSize  int
	QueueBytes int64
	Workers    int
	// MaxBody caps the bytes of a body that are compared and stored; larger
	// bodies are compared by length and SHA-256 and marked truncated.
	MaxBody int
	// StreamCompareAfter: an answer without a length that lasts longer is
	// a stream, counted and not compared unless its rule sets
	// compare_streams (see stream.go).
	StreamCompareAfter time.Duration
	// RewriteHost sends each upstream its own host in the Host header
	// instead of the client's.
	RewriteHost bool
	// MaxHeaderBytes bounds a client request's header; larger requests get
	// 431 from the proxy and reach no upstream.
	MaxHeaderBytes int
	// TLS to each https:// upstream; the zero value trusts the system's
	// roots.
	LegacyTLS, CandidateTLS, SecondaryTLS upstream.TLSOptions
	Rules                                 *rules.Set // nil: rules.Default()
	Recorder                              Recorder
	Logger                                *slog.Logger
	// Edge sets the client side: connection limit, timeouts, body limit
	// and TLS (listen.go).
	Edge EdgeConfig

	// Forwarding chooses the forwarding headers (X-Forwarded-*, Forwarded);
	// the zero value adds them (forward.go).
	Forwarding Forwarding
	// TunnelIdleTimeout ends an upgraded connection (WebSocket) when both
	// sides are silent this long; MaxTunnels bounds those open at once
	// (beyond it, 503). TunnelTLS is the TLS configuration of a tunnel to
	// an https legacy (nil: the system's roots and legacy's host name).
	TunnelIdleTimeout time.Duration
	MaxTunnels        int
	TunnelTLS         *tls.Config
	// ServeTimeout bounds the candidate's answer to a request it serves
	// (cutover, serve.go); 0 means DefaultServeTimeout.
	ServeTimeout time.Duration
	// Observer sees the verdicts and fallbacks of endpoints in cutover
	// (the cutover controller); nil: none.
	Observer Observer
}

// Stats are the proxy's counters since it started.
type Stats struct {
	Requests        int64 // client requests
	LegacyErrors    int64 // answered 502/504 because legacy failed
	Skipped         int64 // not mirrored: side effects not allowed
	SampledOut      int64 // not mirrored: not in the sample
	Mirrored        int64 // queued for the candidate
	Dropped         int64 // not mirrored: the queue was full
	Compared        int64
	Matched         int64
	Mismatched      int64
	Noise           int64
	CandidateErrors int64
	DiffErrors      int64
	SecondaryErrors int64
	QueueDepth      int64 // waiting and in flight now
	QueueBytes      int64
	Upgraded        int64 // upgraded connections tunnelled to legacy, never mirrored
	TunnelsOpen     int64 // upgraded connections open now
	TunnelsRefused  int64 // upgrades answered 503: MaxTunnels were open

	Streamed int64 // not compared: a stream (event stream, or long without a length)
	// LegacyBodyErrors are the legacy errors after legacy's header: the
	// client's answer was cut. They are in LegacyErrors too.
	LegacyBodyErrors int64
	ClientAborts     int64 // mirror copies given up: the client left before legacy's body ended
}

// Proxy is the mirroring reverse proxy. Serve it with Serve or use Handler
// with a fasthttp.Server of your own.
type Proxy struct {
	cfg                          Config
	rules                        atomic.Pointer[rules.Set]
	legacy, candidate, secondary *upstream.Client
	candBreaker, secBreaker      breaker
	queue                        chan *job
	metrics                      metrics
	diffErrLog, legacyErrLog     throttle
	candErrLog                   throttle
	workers                      sync.WaitGroup
	jobs                         sync.Pool
	log                          *slog.Logger

	server *fasthttp.Server
	edge   edgeStats

	// tally counts the requests by outcome (tandem.Tally: one place
	// for a new outcome); the rest are the proxy's own.
	tally                   tandem.Tally
	inFlight, inFlightBytes atomic.Int64
	secFailing              atomic.Bool
	tun                     tunnels // upgrade.go
	serving                 serving // serve.go
	// fetchFrom is legacy's client for the workers of a Target (nil: the
	// client path fetches legacy), target.go.
	fetchFrom *upstream.Client

	drain drain // the workers' side of a stop out of time (stop.go)

	flushMu     sync.Mutex
	flushed     tandem.Counts // process-wide counts already given to the Recorder
	stopFlusher chan struct{}
	flusherDone chan struct{}
	closeQueue  sync.Once
	shutdown    sync.Once
	shutdownErr error
}

// New builds a proxy and starts its mirror workers.
func New(cfg Config) (*Proxy, error) {
	if cfg.Legacy == nil || cfg.Candidate == nil {
		return nil, errors.New("mirror: legacy and candidate are required")
	}
	if cfg.Recorder == nil {
		return nil, errors.New("mirror: a Recorder is required")
	}
	if cfg.CandidateTimeout <= 0 {
		cfg.CandidateTimeout = DefaultCandidateTimeout
	}
	if cfg.LegacyTimeout <= 0 {
		cfg.LegacyTimeout = DefaultLegacyTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.StreamCompareAfter <= 0 {
		cfg.StreamCompareAfter = DefaultStreamCompareAfter
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Edge.setDefaults()
	if cfg.TunnelIdleTimeout <= 0 {
		cfg.TunnelIdleTimeout = DefaultTunnelIdleTimeout
	}
	if cfg.MaxTunnels <= 0 {
		cfg.MaxTunnels = DefaultMaxTunnels
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, queue: make(chan *job, cfg.QueueSize), diffErrLog: throttle{interval: logInterval},
		legacyErrLog: throttle{interval: logInterval}, candErrLog: throttle{interval: logInterval},
		stopFlusher: make(chan struct{}), flusherDone: make(chan struct{})}
	p.tun.refusedLog.interval = 10 * time.Second
	rs := cfg.Rules
	if rs == nil {
		rs = rules.Default()
	}
	p.rules.Store(rs)
	p.edge.init()
	var err error
	// Legacy's answer header must reach the client whatever its cookies;
	// a mirror connection's buffer need not hold it (256 connections at
	// 256 KiB were most of the proxy's memory), and every answer streams
	// so that a huge or endless one costs a bounded buffer (legacy's
	// reaches the client as it comes: stream.go).
	if p.legacy, err = upstream.New(upstream.Options{Name: "legacy", URL: cfg.Legacy, Timeout: cfg.LegacyTimeout,
		HeaderBytes: upstreamHeaderBytes, RetryIdempotent: true, Stream: true, TLS: cfg.LegacyTLS}); err != nil {
		return nil, err
	}
	mirror := func(name string, u *url.URL, o upstream.TLSOptions) (*upstream.Client, error) {
		return upstream.New(upstream.Options{Name: name, URL: u, Timeout: cfg.CandidateTimeout, MaxConns: cfg.Workers,
			HeaderBytes: mirrorHeaderBytes, Stream: true, TLS: o})
	}
	if p.candidate, err = mirror("candidate", cfg.Candidate, cfg.CandidateTLS); err != nil {
		return nil, err
	}
	if cfg.Secondary != nil {
		if p.secondary, err = mirror("secondary", cfg.Secondary, cfg.SecondaryTLS); err != nil {
			return nil, err
		}
	}
	if err = p.initServe(); err != nil { // serve.go
		return nil, err
	}
	p.jobs.New = func() any { return new(job) }
	p.drain.slots = make([]atomic.Pointer[job], cfg.Workers)
	for i := range cfg.Workers {
		p.workers.Add(1)
		go p.worker(&p.drain.slots[i])
	}
	go p.flusher()
	return p, nil
}

// SetRules replaces the rules in force (on reload). Requests already queued
// keep the rules they were queued under.
func (p *Proxy) SetRules(s *rules.Set) { p.rules.Store(s) }

// Rules returns the rules in force (the cutover controller reads the plans
// in them).
func (p *Proxy) Rules() *rules.Set { return p.rules.Load() }

// Handler is the client path: it serves the request from legacy and, when
// the request is chosen, queues a copy for mirroring. It never waits on the
// candidate.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	if p.rejectAmbiguous(ctx) { // smuggle.go
		return
	}
	p.tally.Add(tandem.Requests)
	if p.tunnel(ctx) { // Upgrade: WebSocket and the like, never mirrored
		return
	}
	req := &ctx.Request
	ep := p.rules.Load().Match(req.Header.Method(), req.URI().Path())

	// Hop-by-hop fields go before the copy is made, so that the copy is
	// forwarded as it is.
	upstream.RemoveRequestHop(&req.Header)
	p.forward(ctx)                     // before the copy: every upstream gets the same headers
	if p.serveFromCandidate(ctx, ep) { // serve.go: the cutover's share
		return
	}
	var j *job
	if p.chosen(ep, req) {
		j = p.jobs.Get().(*job)
		req.CopyTo(&j.req) // fasthttp reuses req after we return
		j.ep = ep
	}

	target := pathAndQuery(req.Header.RequestURI())
	p.legacy.Target(req, target, p.cfg.RewriteHost)

	start := time.Now()
	resp := fasthttp.AcquireResponse() // legacy's; its body streams (stream.go)
	err := p.legacy.Do(req, resp)
	if err != nil {
		fasthttp.ReleaseResponse(resp)
		p.metrics.legacyAll.observe(time.Since(start))
		p.tally.Add(tandem.LegacyError)
		p.logUpstreamError(&p.legacyErrLog, "legacy", err)
		answerLegacyFailed(ctx, errors.Is(err, fasthttp.ErrTimeout))
		if j != nil {
			p.release(j)
		}
		return
	}
	p.serveLegacy(ctx, resp, j, start)
}

// chosen decides whether a request is mirrored: side effects only where a
// rule allows them, then sampling (by a hash of the rule's sample_by key
// when there is one, so a user's whole session is in or out).
func (p *Proxy) chosen(ep *rules.Endpoint, req *fasthttp.Request) bool {
	if !ep.MirrorsMethod(rules.ActingMethod(req.Header.Method(), methodOverride(&req.Header))) {
		p.tally.Add(tandem.Skipped)
		return false
	}
	rate := ep.SampleRate(p.cfg.Sample)
	if rate >= 1 {
		return true
	}
	var u float64
	header, query := ep.SampleBy()
	var key []byte
	switch {
	case header != "":
		key = peekFold(&req.Header, header)
	case query != "":
		key = req.URI().QueryArgs().Peek(query)
	}
	if len(key) > 0 {
		u = rules.Hash01(key)
	} else {
		u = rand.Float64()
	}
	if u < rate {
		return true
	}
	p.tally.Add(tandem.SampledOut)
	return false
}

// copyLegacy keeps what the comparison needs of legacy's answer. Bodies over
// MaxBody are hashed here and only their first bytes are kept.
func (p *Proxy) copyLegacy(j *job, resp *fasthttp.Response) {
	resp.Header.CopyTo(&j.legacy.Header)
	body := resp.Body()
	j.legacySize = int64(len(body))
	body, j.legacyHash = upstream.Head(body, p.cfg.MaxBody)
	j.legacyBody = append(j.legacyBody[:0], body...)
}

func (p *Proxy) enqueue(j *job) {
	size := int64(len(j.req.Body()) + len(j.legacyBody) + 1024)
	if p.inFlightBytes.Add(size) > p.cfg.QueueBytes {
		p.inFlightBytes.Add(-size)
		p.tally.Add(tandem.Dropped)
		p.release(j)
		return
	}
	j.size = size
	// Counted before it is queued: a worker may judge and record it before
	// this goroutine runs again, and a verdict must never be seen before
	// the copy it is on (nor the queue depth go below zero).
	p.inFlight.Add(1)
	p.tally.Add(tandem.Mirrored)
	select {
	case p.queue <- j:
	default:
		p.inFlight.Add(-1)
		p.tally.Undo(tandem.Mirrored)
		p.inFlightBytes.Add(-size)
		p.tally.Add(tandem.Dropped)
		p.release(j)
	}
}

func (p *Proxy) release(j *job) {
	if j.size > 0 {
		p.inFlightBytes.Add(-j.size)
	}
	j.reset()
	p.jobs.Put(j)
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	c := p.tally.Counts()
	return Stats{
		Requests: c.Get(tandem.Requests), LegacyErrors: c.Get(tandem.LegacyError), Skipped: c.Get(tandem.Skipped),
		SampledOut: c.Get(tandem.SampledOut), Mirrored: c.Get(tandem.Mirrored), Dropped: c.Get(tandem.Dropped),
		Compared: c.Get(tandem.Comparisons), Matched: c.Get(tandem.Match), Mismatched: c.Get(tandem.Mismatch),
		Noise: c.Get(tandem.Noise), CandidateErrors: c.Get(tandem.CandidateError), DiffErrors: c.Get(tandem.DiffError),
		SecondaryErrors: c.Get(tandem.SecondaryError), QueueDepth: p.inFlight.Load(), QueueBytes: p.inFlightBytes.Load(),
		Upgraded: c.Get(tandem.Upgraded), TunnelsOpen: p.tun.active.Load(), TunnelsRefused: p.tun.refused.Load(),
		Streamed: c.Get(tandem.Streamed), LegacyBodyErrors: c.Get(tandem.LegacyBodyError), ClientAborts: c.Get(tandem.ClientAbort),
	}
}

// flusher hands the process-wide counts to the Recorder once a second.
func (p *Proxy) flusher() {
	defer close(p.flusherDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.flushCounts()
		case <-p.stopFlusher:
			return
		}
	}
}

// flushCounts hands the Recorder what it keeps as counters (tandem.Kept:
// the requests never compared; a compared one reaches it as an exchange)
// counted since the last flush.
func (p *Proxy) flushCounts() {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	now := p.tally.Counts()
	p.cfg.Recorder.Add(now.KeptSince(p.flushed)...)
	p.flushed = now
}

// Serve accepts connections on ln until Shutdown (or until ln is closed):
// an error accepting a connection is retried, never fatal (listen.go).
// With Edge.TLS it serves TLS on ln.
func (p *Proxy) Serve(ln net.Listener) error { return p.serve(ln, p.Handler) }

// serve serves handler on ln with the client side's limits (listen.go):
// the proxy's and a Target's listeners are guarded alike.
func (p *Proxy) serve(ln net.Listener, handler fasthttp.RequestHandler) error {
	e := p.cfg.Edge
	p.server = &fasthttp.Server{
		Handler:                       handler,
		Name:                          "",
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		// ReadTimeout runs from the connection's opening, or a keep-alive
		// request's first byte, to the end of the header: HeaderReceived
		// then gives the body its own deadline. fasthttp has no header-only
		// timeout; this is one.
		ReadTimeout:        e.HeaderTimeout,
		HeaderReceived:     p.headerReceived,
		IdleTimeout:        e.IdleTimeout,
		MaxRequestBodySize: e.MaxRequestBody,
		ErrorHandler:       p.serverError,
		ExpectHandler:      p.expect,
		ReadBufferSize:     p.cfg.MaxHeaderBytes,
		WriteBufferSize:    writeBufferSize,
		Logger:             fasthttpLogger{p.log},
		// One limit, the listener's: fasthttp's own (256 Ki by default)
		// would answer 503 below a larger --max-conns.
		Concurrency: max(e.MaxConns, fasthttp.DefaultConcurrency),
	}
	var l net.Listener = p.edgeListener(ln)
	if e.TLS != nil {
		l = tls.NewListener(l, e.TLS)
	}
	return p.server.Serve(l)
}

// writeBufferSize is the client connection's write buffer. fasthttp sends
// an answer larger than its buffer with one writev only on a *net.TCPConn,
// and the edge listener's connections are not one (listen.go): at
// fasthttp's 4 KiB, a 4 KiB answer went out in two writes, one system call
// per request more than the bare proxy makes (strace, BENCHMARKS.md). The
// buffer is taken at a connection's first answer and kept while it stays
// open, so it costs memory per keep-alive client: 8 KiB holds the header
// and body of the common small API answer at twice fasthttp's cost, not
// more.
const writeBufferSize = 8 << 10

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("fasthttp: " + fmt.Sprintf(format, args...))
}
