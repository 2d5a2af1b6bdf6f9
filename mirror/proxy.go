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
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
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
	// Count counts an exchange that is never stored, whatever the mode.
	Count(ex *tandem.Exchange, redact []string)
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
	// RewriteHost sends each upstream its own host in the Host header
	// instead of the client's.
	RewriteHost bool
	// MaxHeaderBytes bounds a client request's header; larger requests get
	// 431 from the proxy and reach no upstream.
	MaxHeaderBytes int
	Rules          *rules.Set // nil: rules.Default()
	Recorder       Recorder
	Logger         *slog.Logger

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
}

// Proxy is the mirroring reverse proxy. Serve it with Serve or use Handler
// with a fasthttp.Server of your own.
type Proxy struct {
	cfg                          Config
	rules                        atomic.Pointer[rules.Set]
	legacy, candidate, secondary *fasthttp.HostClient
	candBreaker, secBreaker      breaker
	legacyPrefix                 []byte
	candidatePrefix, secPrefix   []byte
	candidateHost, secHost       string
	legacyHost                   string
	queue                        chan *job
	metrics                      metrics
	diffErrLog                   throttle
	workers                      sync.WaitGroup
	jobs                         sync.Pool
	log                          *slog.Logger

	server *fasthttp.Server

	requests, legacyErrors, skipped, sampledOut, mirrored, dropped atomic.Int64
	compared, matched, mismatched, noise, candErrors, diffErrors   atomic.Int64
	secErrors, inFlight, inFlightBytes                             atomic.Int64
	secFailing                                                     atomic.Bool
	tun                                                            tunnels // upgrade.go
	// fetchFrom is legacy's client for the workers of a Target (nil: the
	// client path fetches legacy), target.go.
	fetchFrom    *fasthttp.HostClient
	legacyErrLog throttle

	// For a stop that runs out of time: the job each worker holds, whether
	// to abandon what is left, and how many workers are recording a verdict.
	slots     []atomic.Pointer[job]
	abandon   atomic.Bool
	finishing atomic.Int64

	flushMu     sync.Mutex
	flushed     map[string]int64 // process-wide counts already given to the Recorder
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
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TunnelIdleTimeout <= 0 {
		cfg.TunnelIdleTimeout = DefaultTunnelIdleTimeout
	}
	if cfg.MaxTunnels <= 0 {
		cfg.MaxTunnels = DefaultMaxTunnels
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger, queue: make(chan *job, cfg.QueueSize), diffErrLog: throttle{interval: 10 * time.Second},
		flushed: map[string]int64{}, stopFlusher: make(chan struct{}), flusherDone: make(chan struct{})}
	p.tun.refusedLog.interval = 10 * time.Second
	rs := cfg.Rules
	if rs == nil {
		rs = rules.Default()
	}
	p.rules.Store(rs)
	var err error
	if p.legacy, p.legacyPrefix, p.legacyHost, err = upstream(cfg.Legacy, cfg.LegacyTimeout, 0, false); err != nil {
		return nil, fmt.Errorf("legacy: %w", err)
	}
	if p.candidate, p.candidatePrefix, p.candidateHost, err = upstream(cfg.Candidate, cfg.CandidateTimeout, cfg.Workers, true); err != nil {
		return nil, fmt.Errorf("candidate: %w", err)
	}
	if cfg.Secondary != nil {
		if p.secondary, p.secPrefix, p.secHost, err = upstream(cfg.Secondary, cfg.CandidateTimeout, cfg.Workers, true); err != nil {
			return nil, fmt.Errorf("secondary: %w", err)
		}
	}
	p.jobs.New = func() any { return new(job) }
	p.slots = make([]atomic.Pointer[job], cfg.Workers)
	for i := range cfg.Workers {
		p.workers.Add(1)
		go p.worker(&p.slots[i])
	}
	go p.flusher()
	return p, nil
}

// upstream builds the client of one upstream. Mirror clients stream
// response bodies so that a huge or endless answer costs a bounded buffer
// (and the timeout), never unbounded memory.
func upstream(u *url.URL, timeout time.Duration, maxConns int, mirror bool) (*fasthttp.HostClient, []byte, string, error) {
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, nil, "", fmt.Errorf("%s: want an http:// or https:// URL", u)
	}
	if u.Host == "" {
		return nil, nil, "", fmt.Errorf("%s: no host", u)
	}
	addr := u.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	c := &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https",
		Name:                          "",
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		ReadTimeout:                   timeout,
		WriteTimeout:                  timeout,
		MaxIdleConnDuration:           90 * time.Second,
		ReadBufferSize:                upstreamHeaderBytes,
	}
	if mirror {
		// A mirror connection's buffer need not hold legacy's largest
		// answer header: 256 connections at 256 KiB were most of the
		// proxy's memory.
		c.ReadBufferSize = mirrorHeaderBytes
		c.StreamResponseBody = true
		c.MaxConns = max(maxConns, 1)
		// A retried mirror copy would reach the candidate twice.
		c.MaxIdemponentCallAttempts = 1
		c.MaxConnWaitTimeout = timeout
	}
	prefix := strings.TrimSuffix(u.Path, "/")
	return c, []byte(prefix), u.Host, nil
}

// SetRules replaces the rules in force (on reload). Requests already queued
// keep the rules they were queued under.
func (p *Proxy) SetRules(s *rules.Set) { p.rules.Store(s) }

// Rules returns the rules in force.
func (p *Proxy) Rules() *rules.Set { return p.rules.Load() }

// Handler is the client path: it serves the request from legacy and, when
// the request is chosen, queues a copy for mirroring. It never waits on the
// candidate.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	p.requests.Add(1)
	if p.tunnel(ctx) { // Upgrade: WebSocket and the like, never mirrored
		return
	}
	req := &ctx.Request
	ep := p.rules.Load().Match(req.Header.Method(), req.URI().Path())

	// Hop-by-hop fields go before the copy is made, so that the copy is
	// forwarded as it is.
	removeRequestHop(&req.Header)
	p.forward(ctx) // before the copy: every upstream gets the same headers
	var j *job
	if p.chosen(ep, req) {
		j = p.jobs.Get().(*job)
		req.CopyTo(&j.req) // fasthttp reuses req after we return
		j.ep = ep
	}

	target := pathAndQuery(req.Header.RequestURI())
	p.setTarget(req, p.legacyPrefix, target, p.legacyHost)
	ctx.Response.Header.SetNoDefaultContentType(true)

	start := time.Now()
	err := p.legacy.DoTimeout(req, &ctx.Response, p.cfg.LegacyTimeout)
	latency := time.Since(start)
	p.metrics.legacyAll.observe(latency)
	if err != nil {
		p.legacyErrors.Add(1)
		ctx.Response.Reset()
		if errors.Is(err, fasthttp.ErrTimeout) {
			ctx.Error("tandem: legacy did not answer in time\n", fasthttp.StatusGatewayTimeout)
		} else {
			ctx.Error("tandem: legacy is unavailable\n", fasthttp.StatusBadGateway)
		}
		if j != nil {
			p.release(j)
		}
		return
	}
	removeResponseHop(&ctx.Response.Header)
	if j == nil {
		return
	}
	j.start, j.latency = start, latency
	p.copyLegacy(j, &ctx.Response)
	p.enqueue(j)
}

// chosen decides whether a request is mirrored: side effects only where a
// rule allows them, then sampling (by a hash of the rule's sample_by key
// when there is one, so a user's whole session is in or out).
func (p *Proxy) chosen(ep *rules.Endpoint, req *fasthttp.Request) bool {
	if !ep.MirrorsMethod(rules.ActingMethod(req.Header.Method(), methodOverride(&req.Header))) {
		p.skipped.Add(1)
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
	p.sampledOut.Add(1)
	return false
}

// setTarget points a request at an upstream: its path prefix plus the
// client's path and query, and (with RewriteHost) its own Host.
func (p *Proxy) setTarget(req *fasthttp.Request, prefix, target []byte, host string) {
	if len(prefix) > 0 && len(target) > 0 && target[0] == '/' {
		buf := make([]byte, 0, len(prefix)+len(target))
		buf = append(append(buf, prefix...), target...)
		req.SetRequestURIBytes(buf)
	} else {
		req.SetRequestURIBytes(target)
	}
	if p.cfg.RewriteHost || len(req.Header.Host()) == 0 {
		req.Header.SetHost(host)
	}
}

// copyLegacy keeps what the comparison needs of legacy's answer. Bodies over
// MaxBody are hashed here and only their first bytes are kept.
func (p *Proxy) copyLegacy(j *job, resp *fasthttp.Response) {
	resp.Header.CopyTo(&j.legacy.Header)
	body := resp.Body()
	j.legacySize = int64(len(body))
	if len(body) > p.cfg.MaxBody {
		sum := sha256.Sum256(body)
		j.legacyHash = hex.EncodeToString(sum[:])
		body = body[:p.cfg.MaxBody]
	}
	j.legacyBody = append(j.legacyBody[:0], body...)
}

func (p *Proxy) enqueue(j *job) {
	size := int64(len(j.req.Body()) + len(j.legacyBody) + 1024)
	if p.inFlightBytes.Add(size) > p.cfg.QueueBytes {
		p.inFlightBytes.Add(-size)
		p.dropped.Add(1)
		p.release(j)
		return
	}
	j.size = size
	select {
	case p.queue <- j:
		p.inFlight.Add(1)
		p.mirrored.Add(1)
	default:
		p.inFlightBytes.Add(-size)
		p.dropped.Add(1)
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
	return Stats{
		Requests: p.requests.Load(), LegacyErrors: p.legacyErrors.Load(), Skipped: p.skipped.Load(),
		SampledOut: p.sampledOut.Load(), Mirrored: p.mirrored.Load(), Dropped: p.dropped.Load(),
		Compared: p.compared.Load(), Matched: p.matched.Load(), Mismatched: p.mismatched.Load(),
		Noise: p.noise.Load(), CandidateErrors: p.candErrors.Load(), DiffErrors: p.diffErrors.Load(),
		SecondaryErrors: p.secErrors.Load(), QueueDepth: p.inFlight.Load(), QueueBytes: p.inFlightBytes.Load(),
		Upgraded: p.tun.upgraded.Load(), TunnelsOpen: p.tun.active.Load(), TunnelsRefused: p.tun.refused.Load(),
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

func (p *Proxy) flushCounts() {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	now := map[string]int64{
		"requests":                 p.requests.Load(),
		string(tandem.Dropped):     p.dropped.Load(),
		string(tandem.Skipped):     p.skipped.Load(),
		string(tandem.LegacyError): p.legacyErrors.Load(),
		"sampled_out":              p.sampledOut.Load(),
		"upgraded":                 p.tun.upgraded.Load(),
	}
	var counts []tandem.Count
	for name, n := range now {
		if d := n - p.flushed[name]; d != 0 {
			counts = append(counts, tandem.Count{Name: name, N: d})
			p.flushed[name] = n
		}
	}
	p.cfg.Recorder.Add(counts...)
}

// Serve accepts connections on ln until Shutdown.
func (p *Proxy) Serve(ln net.Listener) error {
	p.server = &fasthttp.Server{
		Handler:                       p.Handler,
		Name:                          "",
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		ReadTimeout:                   p.cfg.LegacyTimeout + 30*time.Second,
		IdleTimeout:                   2 * time.Minute,
		MaxRequestBodySize:            64 << 20,
		ReadBufferSize:                p.cfg.MaxHeaderBytes,
		Logger:                        fasthttpLogger{p.log},
	}
	return p.server.Serve(ln)
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("fasthttp: " + fmt.Sprintf(format, args...))
}

// Shutdown stops a clean stop: it stops accepting, lets in-flight client
// requests finish, then drains the mirror queue until ctx is done (copies
// still queued then are counted as dropped) and flushes the counts. The
// Recorder is not closed: its owner does that next. Calling it again
// returns what the first call did.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.shutdown.Do(func() { p.shutdownErr = p.stop(ctx) })
	return p.shutdownErr
}

func (p *Proxy) stop(ctx context.Context) error {
	var err error
	if p.server != nil {
		err = p.server.ShutdownWithContext(ctx)
	}
	p.tun.closeAll()
	p.closeQueue.Do(func() { close(p.queue) })
	done := make(chan struct{})
	go func() { p.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// Out of time: what the workers have not taken is dropped, and so
		// is what they hold (it would come after the Recorder is closed).
		p.abandon.Store(true)
		for j := range p.queue {
			p.dropped.Add(1)
			p.inFlight.Add(-1)
			p.release(j)
		}
		p.abandonInFlight()
		if err == nil {
			err = fmt.Errorf("mirror queue not drained in time: %w", ctx.Err())
		}
	}
	close(p.stopFlusher)
	<-p.flusherDone
	p.flushCounts()
	return err
}
