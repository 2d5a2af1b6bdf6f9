package mirror

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemproxy/tandem"
)

// latencyBounds are the upper bounds, in seconds, of the latency histogram
// buckets exported to Prometheus.
var latencyBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// histogram is a lock-free latency histogram.
type histogram struct {
	buckets [len(latencyBounds) + 1]atomic.Uint64 // the last is +Inf
	sumNS   atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(latencyBounds[:], s)
	h.buckets[i].Add(1)
	h.sumNS.Add(uint64(max(d, 0)))
}

// maxEndpointSeries bounds the endpoints that get their own metric series:
// automatic templating cannot name every kind of path, and a metrics
// endpoint must not grow without bound. The rest are reported as "other".
const maxEndpointSeries = 500

type endpointMetrics struct {
	legacy, candidate histogram
	outcomes          tandem.Tally // the verdicts (Outcome.Compared) are written
}

// metrics holds what the workers observe per endpoint. Only mirror workers
// touch it (never the client path), under a read lock once an endpoint is
// known.
type metrics struct {
	mu        sync.RWMutex
	endpoints map[string]*endpointMetrics
	// legacy latency of every client request, observed on the client path
	// with atomics only.
	legacyAll histogram
}

func (m *metrics) endpoint(name string) *endpointMetrics {
	m.mu.RLock()
	e := m.endpoints[name]
	m.mu.RUnlock()
	if e != nil {
		return e
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e = m.endpoints[name]; e != nil {
		return e
	}
	if m.endpoints == nil {
		m.endpoints = map[string]*endpointMetrics{}
	}
	if len(m.endpoints) >= maxEndpointSeries {
		name = "other"
		if e = m.endpoints[name]; e != nil {
			return e
		}
	}
	e = &endpointMetrics{}
	m.endpoints[name] = e
	return e
}

func (m *metrics) observe(ex *tandem.Exchange) {
	e := m.endpoint(ex.Endpoint)
	e.outcomes.Add(ex.Outcome)
	e.legacy.observe(ex.Legacy.Latency)
	if ex.Candidate.Err == "" {
		e.candidate.observe(ex.Candidate.Latency)
	}
}

// WriteMetrics writes the proxy's metrics in the Prometheus text format.
func (p *Proxy) WriteMetrics(w io.Writer) {
	s := p.Stats()
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	gauge := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, v)
	}
	counter("tandem_requests_total", "Client requests served from legacy.", s.Requests)
	counter("tandem_legacy_errors_total", "Client requests answered 502/504, or cut mid-answer, because legacy failed.", s.LegacyErrors)
	counter("tandem_legacy_body_errors_total", "Client answers cut because legacy failed after its header.", s.LegacyBodyErrors)
	counter("tandem_streamed_total", "Requests not compared because legacy's answer is a stream (text/event-stream, or long without a length).", s.Streamed)
	counter("tandem_client_aborts_total", "Mirror copies given up because the client left before legacy's answer ended.", s.ClientAborts)
	counter("tandem_mirrored_total", "Requests queued for the candidate.", s.Mirrored)
	counter("tandem_skipped_total", "Requests not mirrored because of their side effects.", s.Skipped)
	counter("tandem_sampled_out_total", "Requests not mirrored because they were not in the sample.", s.SampledOut)
	counter("tandem_dropped_total", "Mirror copies dropped because the queue was full.", s.Dropped)
	counter("tandem_compared_total", "Mirrored requests compared.", s.Compared)
	counter("tandem_matched_total", "Comparisons that matched.", s.Matched)
	counter("tandem_mismatched_total", "Comparisons that found a real difference.", s.Mismatched)
	counter("tandem_noise_total", "Comparisons whose differences were all noise.", s.Noise)
	counter("tandem_candidate_errors_total", "Mirrored requests the candidate did not answer.", s.CandidateErrors)
	counter("tandem_diff_errors_total", "Comparisons that failed.", s.DiffErrors)
	counter("tandem_secondary_errors_total", "Mirrored requests the secondary did not answer (judged without noise detection).", s.SecondaryErrors)
	counter("tandem_upgraded_total", "Upgraded connections (WebSocket) tunnelled to legacy, never mirrored.", s.Upgraded)
	counter("tandem_tunnels_refused_total", "Upgrades answered 503 because --max-tunnels were open.", s.TunnelsRefused)
	gauge("tandem_tunnels_open", "Upgraded connections open now.", s.TunnelsOpen)
	gauge("tandem_queue_depth", "Mirror copies waiting or in flight.", s.QueueDepth)
	gauge("tandem_queue_bytes", "Bytes held by mirror copies waiting or in flight.", s.QueueBytes)
	p.writeEdgeMetrics(w)
	p.writeServeMetrics(w) // serve.go

	fmt.Fprintf(w, "# HELP tandem_client_legacy_latency_seconds Legacy's latency as clients saw it, all requests.\n# TYPE tandem_client_legacy_latency_seconds histogram\n")
	writeHistogram(w, "tandem_client_legacy_latency_seconds", "", &p.metrics.legacyAll)

	p.metrics.mu.RLock()
	names := make([]string, 0, len(p.metrics.endpoints))
	for n := range p.metrics.endpoints {
		names = append(names, n)
	}
	p.metrics.mu.RUnlock()
	sort.Strings(names)
	fmt.Fprintf(w, "# HELP tandem_outcomes_total Compared requests by endpoint and outcome.\n# TYPE tandem_outcomes_total counter\n")
	for _, n := range names {
		e := p.metrics.endpoint(n)
		e.outcomes.Counts().Each(func(o tandem.Outcome, v int64) {
			if o.Compared() {
				fmt.Fprintf(w, "tandem_outcomes_total{endpoint=%s,outcome=%q} %d\n", label(n), o, v)
			}
		})
	}
	fmt.Fprintf(w, "# HELP tandem_latency_seconds Upstream latency of mirrored requests by endpoint.\n# TYPE tandem_latency_seconds histogram\n")
	for _, n := range names {
		e := p.metrics.endpoint(n)
		writeHistogram(w, "tandem_latency_seconds", "endpoint="+label(n)+`,upstream="legacy"`, &e.legacy)
		writeHistogram(w, "tandem_latency_seconds", "endpoint="+label(n)+`,upstream="candidate"`, &e.candidate)
	}
}

func writeHistogram(w io.Writer, name, labels string, h *histogram) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum uint64
	for i := range h.buckets {
		cum += h.buckets[i].Load()
		le := "+Inf"
		if i < len(latencyBounds) {
			le = strconv.FormatFloat(latencyBounds[i], 'g', -1, 64)
		}
		fmt.Fprintf(w, "%s_bucket{%s%sle=%q} %d\n", name, labels, sep, le, cum)
	}
	sum := float64(h.sumNS.Load()) / 1e9
	if labels != "" {
		fmt.Fprintf(w, "%s_sum{%s} %s\n%s_count{%s} %d\n", name, labels, fmtFloat(sum), name, labels, cum)
	} else {
		fmt.Fprintf(w, "%s_sum %s\n%s_count %d\n", name, fmtFloat(sum), name, cum)
	}
}

func fmtFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "0"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// label quotes a label value as the exposition format wants: backslash,
// double quote and newline escaped.
func label(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
