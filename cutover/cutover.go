// Package cutover owns the strangler cutover's decision: from the
// exchanges compared while the candidate serves a step of an endpoint's
// plan, whether to promote it to the next step, hold it, or roll it back
// to 0 (README, "Cutover").
//
// The test is one-sided and exact: the Clopper–Pearson bound of the
// mismatch rate (and of the error rate) at the plan's confidence. Exact
// because the rates that matter are near 0 (1% allowed, a handful of
// mismatches in a few hundred exchanges), where the normal approximation
// behind Wald and, less so, Wilson intervals undercovers; Clopper–Pearson
// never covers less than its confidence, so a promotion is never easier
// than the plan says. Its price, being conservative, is a few more
// exchanges per step.
package cutover

import (
	"fmt"
	"time"

	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/stats"
)

// State is where an endpoint's cutover is.
type State string

// States (README, "Cutover", has the table of their moves).
const (
	Shadow     State = "shadow"      // share 0: legacy serves, the candidate is compared
	Serving    State = "serving"     // at a step of the plan, gathering evidence
	Paused     State = "paused"      // at a step, held there by an operator
	RolledBack State = "rolled_back" // share 0 after a regression or an operator's rollback
	Done       State = "done"        // the last step (usually 1.0) reached
)

// Valid reports whether s is one of the states.
func (s State) Valid() bool {
	switch s {
	case Shadow, Serving, Paused, RolledBack, Done:
		return true
	}
	return false
}

// Action is a decision.
type Action string

// Actions.
const (
	Hold     Action = "hold"
	Promote  Action = "promote"
	Rollback Action = "rollback"
)

// Counts are the evidence gathered at one step: compared exchanges by
// verdict, and the fallbacks (requests given to the candidate that legacy
// answered).
type Counts struct {
	Match, Mismatch, Noise, Errors, DiffErrors int64
	Fallbacks                                  int64
}

// Judged is the number of exchanges the rates are over: noise is not
// counted (legacy disagrees with itself there, the candidate is not to
// blame), nor are comparisons that failed.
func (c Counts) Judged() int64 { return c.Match + c.Mismatch + c.Errors }

// Evidence is what a decision rests on, as stored with it.
type Evidence struct {
	Exchanges     int64   `json:"exchanges"`
	Mismatches    int64   `json:"mismatches"`
	Errors        int64   `json:"errors"`
	Noise         int64   `json:"noise"`
	Fallbacks     int64   `json:"fallbacks"`
	MismatchLower float64 `json:"mismatch_lower"`
	MismatchUpper float64 `json:"mismatch_upper"`
	ErrorLower    float64 `json:"error_lower"`
	ErrorUpper    float64 `json:"error_upper"`
	HeldSeconds   float64 `json:"held_seconds"`
	Confidence    float64 `json:"confidence"`
}

// Bounds returns the one-sided Clopper–Pearson bounds of k in n at the
// confidence: P(rate < lower) and P(rate > upper) are each at most
// 1 − confidence.
func Bounds(k, n int64, confidence float64) (lower, upper float64) {
	return stats.ClopperPearson(k, n, 2*(1-confidence))
}

// Decide judges one step. recentFallbacks are the fallbacks within the
// plan's fallback window. A rollback needs no minimum: a lower bound over
// the allowed rate is evidence enough at any count, and a fallback burst
// means the candidate is failing now. A promotion needs the plan's
// minimum exchanges, its hold, and both upper bounds under their rates.
func Decide(plan *rules.CutoverPlan, c Counts, held time.Duration, recentFallbacks int64) (Action, string, Evidence) {
	n := c.Judged()
	ev := Evidence{Exchanges: n, Mismatches: c.Mismatch, Errors: c.Errors, Noise: c.Noise, Fallbacks: c.Fallbacks,
		HeldSeconds: held.Seconds(), Confidence: plan.Confidence}
	ev.MismatchLower, ev.MismatchUpper = Bounds(c.Mismatch, n, plan.Confidence)
	ev.ErrorLower, ev.ErrorUpper = Bounds(c.Errors, n, plan.Confidence)
	switch {
	case plan.FallbackBurst > 0 && recentFallbacks >= plan.FallbackBurst:
		return Rollback, fmt.Sprintf("fallback burst: %d fallbacks within %s (limit %d)", recentFallbacks, plan.FallbackWindow, plan.FallbackBurst), ev
	case n > 0 && ev.MismatchLower > plan.MaxMismatchRate:
		return Rollback, fmt.Sprintf("mismatch rate above %g: %d of %d, lower bound %.4f at %g confidence",
			plan.MaxMismatchRate, c.Mismatch, n, ev.MismatchLower, plan.Confidence), ev
	case n > 0 && ev.ErrorLower > plan.MaxErrorRate:
		return Rollback, fmt.Sprintf("error rate above %g: %d of %d, lower bound %.4f at %g confidence",
			plan.MaxErrorRate, c.Errors, n, ev.ErrorLower, plan.Confidence), ev
	case n < plan.MinExchanges:
		return Hold, fmt.Sprintf("%d of %d exchanges", n, plan.MinExchanges), ev
	case held < plan.Hold:
		return Hold, fmt.Sprintf("held %s of %s", held.Truncate(time.Second), plan.Hold), ev
	case ev.MismatchUpper >= plan.MaxMismatchRate:
		return Hold, fmt.Sprintf("mismatch rate not shown under %g: %d of %d, upper bound %.4f", plan.MaxMismatchRate, c.Mismatch, n, ev.MismatchUpper), ev
	case ev.ErrorUpper >= plan.MaxErrorRate:
		return Hold, fmt.Sprintf("error rate not shown under %g: %d of %d, upper bound %.4f", plan.MaxErrorRate, c.Errors, n, ev.ErrorUpper), ev
	}
	return Promote, fmt.Sprintf("%d exchanges, mismatch upper bound %.4f < %g, error upper bound %.4f < %g at %g confidence",
		n, ev.MismatchUpper, plan.MaxMismatchRate, ev.ErrorUpper, plan.MaxErrorRate, plan.Confidence), ev
}
