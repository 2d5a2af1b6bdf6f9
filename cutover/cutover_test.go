package cutover_test

import (
	"math"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/cutover"
	"github.com/tandemproxy/tandem/rules"
)

// Known binomial cases with closed forms: with 0 of n, the one-sided upper
// bound solves (1−p)^n = 1−c; with 1 of n, the lower bound solves
// 1−(1−p)^n = 1−c; with n of n, the lower bound solves p^n = 1−c.
func TestBounds_ClosedForms(t *testing.T) {
	for _, tc := range []struct {
		name      string
		k, n      int64
		c         float64
		wantLower float64
		wantUpper float64
	}{
		{"0of299", 0, 299, 0.95, 0, 1 - math.Pow(0.05, 1.0/299)},
		{"0of10", 0, 10, 0.99, 0, 1 - math.Pow(0.01, 0.1)},
		{"1of100", 1, 100, 0.95, 1 - math.Pow(0.95, 0.01), -1},
		{"10of10", 10, 10, 0.95, math.Pow(0.05, 0.1), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := cutover.Bounds(tc.k, tc.n, tc.c)
			if math.Abs(lo-tc.wantLower) > 1e-9 || tc.wantUpper >= 0 && math.Abs(hi-tc.wantUpper) > 1e-9 {
				t.Errorf("Bounds(%d, %d, %g) = %v, %v; want %v, %v", tc.k, tc.n, tc.c, lo, hi, tc.wantLower, tc.wantUpper)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	plan := &rules.CutoverPlan{Steps: []float64{0.1, 1}, MinExchanges: 200, Hold: time.Minute, MaxMismatchRate: 0.01,
		MaxErrorRate: 0.01, Confidence: 0.95, FallbackBurst: 5, FallbackWindow: 10 * time.Second}
	for _, tc := range []struct {
		name      string
		c         cutover.Counts
		held      time.Duration
		fallbacks int64
		want      cutover.Action
	}{
		// 0 of 299: upper bound 0.00997 < 1%; 0 of 298: 0.010002 (the
		// "rule of three", exactly).
		{"Promote0of299", cutover.Counts{Match: 299}, time.Hour, 0, cutover.Promote},
		{"Hold0of298", cutover.Counts{Match: 298}, time.Hour, 0, cutover.Hold},
		{"HoldMinExchanges", cutover.Counts{Match: 199}, time.Hour, 0, cutover.Hold},
		{"HoldNotHeld", cutover.Counts{Match: 1000}, 59 * time.Second, 0, cutover.Hold},
		// Noise does not count against the candidate, nor for it.
		{"NoiseNotCounted", cutover.Counts{Match: 299, Noise: 500}, time.Hour, 0, cutover.Promote},
		{"NoiseNotEvidence", cutover.Counts{Match: 100, Noise: 500}, time.Hour, 0, cutover.Hold},
		// 1 of 1000: upper bound 0.0047 < 1%.
		{"PromoteWithAMismatch", cutover.Counts{Match: 999, Mismatch: 1}, time.Hour, 0, cutover.Promote},
		// 5 of 100: lower bound 0.0199 > 1%, at once, before the minimum.
		{"RollbackMismatches", cutover.Counts{Match: 95, Mismatch: 5}, 0, 0, cutover.Rollback},
		{"RollbackErrors", cutover.Counts{Match: 95, Errors: 5}, 0, 0, cutover.Rollback},
		// 2 of 100: lower bound 0.0036 < 1% < upper 0.062: undecided.
		{"HoldUndecided", cutover.Counts{Match: 98, Mismatch: 2}, time.Hour, 0, cutover.Hold},
		{"HoldHighUpper", cutover.Counts{Match: 494, Mismatch: 6}, time.Hour, 0, cutover.Hold},
		{"RollbackBurst", cutover.Counts{Match: 1000, Fallbacks: 5}, time.Hour, 5, cutover.Rollback},
		{"NoBurstBelow", cutover.Counts{Match: 1000, Fallbacks: 50}, time.Hour, 4, cutover.Promote},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason, ev := cutover.Decide(plan, tc.c, tc.held, tc.fallbacks)
			if got != tc.want {
				t.Errorf("Decide = %s (%s; %+v), want %s", got, reason, ev, tc.want)
			}
		})
	}
}
