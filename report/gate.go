package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tandemproxy/tandem/store"
)

// Gate is the pass/fail rule of a replay in CI. Mismatches and diff errors
// (a comparison that could not finish verifies nothing) always fail;
// candidate errors, and live legacy's failures to answer, fail unless
// AllowErrors. The run passes when at most MaxMismatches exchanges fail and
// at least one request was compared with an answer: a gate that compared
// nothing proves nothing.
type Gate struct {
	MaxMismatches int64
	AllowErrors   bool
	// Mode is GateCount ("" too) or GateStatistical: with it, only the
	// mismatches at patterns judged regressions fail (verdict.go).
	Mode string
}

// EndpointFailures counts an endpoint's exchanges that fail the gate.
func (g Gate) EndpointFailures(e *store.EndpointReport) int64 {
	n := e.Mismatched + e.DiffErrors
	if g.statistical() {
		n = regressionExchanges(e) + e.DiffErrors
	}
	if !g.AllowErrors {
		n += e.CandidateErrors
	}
	return n
}

// regressions counts the report's patterns judged regressions.
func regressions(r *store.Report) int {
	n := 0
	for i := range r.Endpoints {
		n += r.Endpoints[i].Regressions()
	}
	return n
}

// GateResult is what a gate made of a report (a verdict is a pattern's, stats.Verdict).
type GateResult struct {
	Passed   bool
	Failures int64  // exchanges that fail the gate
	Reason   string // one line: why it passed or failed
}

// Check holds a report to the gate.
func (g Gate) Check(r *store.Report) GateResult {
	var v GateResult
	answered := int64(0)
	for i := range r.Endpoints {
		e := &r.Endpoints[i]
		v.Failures += g.EndpointFailures(e)
		answered += e.Compared - e.CandidateErrors
	}
	if !g.AllowErrors {
		v.Failures += r.Totals.LegacyErrors
	}
	switch {
	case v.Failures > g.MaxMismatches:
		v.Reason = fmt.Sprintf("%d failing exchanges, more than --max-mismatches %d", v.Failures, g.MaxMismatches)
	case answered == 0:
		v.Reason = "no request was compared with an answer: nothing was verified"
	default:
		v.Passed = true
		v.Reason = fmt.Sprintf("%d failing exchanges, at most %d allowed", v.Failures, g.MaxMismatches)
	}
	if g.statistical() {
		v.Reason += fmt.Sprintf(" (--gate statistical: only regressions fail; %s judged regressions", patterns(regressions(r)))
		if n := undecided(r); n > 0 {
			v.Reason += fmt.Sprintf(", %s undecided for want of exchanges", patterns(n))
		}
		v.Reason += ")"
	}
	return v
}

// Run describes a replay for the CI renderings: the gate it was held to,
// and what the store's report does not hold.
type Run struct {
	Name string // what was replayed ("traffic.har")
	Gate Gate
	// Skipped counts the requests not sent, by endpoint.
	Skipped  map[string]Skipped
	Invalid  int64 // input records skipped as invalid (--skip-invalid)
	Duration time.Duration
	// Errors holds an example error per endpoint (why the candidate gave
	// no answer, or why a comparison failed), which the report only counts.
	Errors map[string]string
	// LegacyError is an example of live legacy's failures to answer.
	LegacyError string
}

// failingError is the endpoint's example error when its errors fail the
// gate, or "".
func (run *Run) failingError(e *store.EndpointReport) string {
	if e.DiffErrors > 0 || e.CandidateErrors > 0 && !run.Gate.AllowErrors {
		return run.Errors[e.Endpoint]
	}
	return ""
}

// Skipped counts an endpoint's requests that were not sent, by reason.
type Skipped struct {
	SideEffects int64 // unsafe methods the rules do not allow
	Unrecorded  int64 // golden mode, and no recorded answer to compare with
	WebSocket   int64 // WebSocket handshakes, which replay does not send
}

func (s Skipped) total() int64 { return s.SideEffects + s.Unrecorded + s.WebSocket }

func (s Skipped) String() string {
	var parts []string
	for _, p := range []struct {
		n    int64
		what string
	}{
		{s.SideEffects, "with side effects (allow_side_effects is off)"},
		{s.Unrecorded, "without a recorded answer"},
		{s.WebSocket, "WebSocket"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	switch {
	case len(parts) > 1:
		return fmt.Sprintf("%d not sent: %s", s.total(), strings.Join(parts, ", "))
	case s.SideEffects > 0:
		return fmt.Sprintf("%d not sent: side effects (allow_side_effects is off)", s.SideEffects)
	case s.WebSocket > 0:
		return fmt.Sprintf("%d not sent: WebSocket (replay sends HTTP exchanges only)", s.WebSocket)
	}
	return fmt.Sprintf("%d not sent: no recorded answer to compare with", s.Unrecorded)
}

// endpoints lists the report's endpoints and then those that were only
// skipped, so that every endpoint the input named is shown.
func (run *Run) endpoints(r *store.Report) []store.EndpointReport {
	out := append([]store.EndpointReport(nil), r.Endpoints...)
	seen := map[string]bool{}
	for _, e := range r.Endpoints {
		seen[e.Endpoint] = true
	}
	var only []string
	for name := range run.Skipped {
		if !seen[name] {
			only = append(only, name)
		}
	}
	slices.Sort(only)
	for _, name := range only {
		out = append(out, store.EndpointReport{Endpoint: name})
	}
	return out
}
