package report

import (
	"fmt"
	"strings"

	"github.com/tandemproxy/tandem/stats"
	"github.com/tandemproxy/tandem/store"
)

// Gate modes (replay --gate).
const (
	// GateCount fails on every exchange that differs for real (the
	// default, and what tandem did before verdicts).
	GateCount = "count"
	// GateStatistical fails only on the exchanges that differ at a pattern
	// judged a regression: noise never fails a build, and a regression
	// does even when some exchanges of its pattern are noise.
	GateStatistical = "statistical"
)

// ParseGateMode checks a --gate value.
func ParseGateMode(s string) (string, error) {
	switch s {
	case "", GateCount:
		return GateCount, nil
	case GateStatistical:
		return GateStatistical, nil
	}
	return "", fmt.Errorf("--gate %q: want %s or %s", s, GateCount, GateStatistical)
}

// statistical reports whether the gate fails on regressions only.
func (g Gate) statistical() bool { return g.Mode == GateStatistical }

// regressionExchanges counts an endpoint's exchanges that differ at a
// regression pattern: the largest pattern's count at least (an exchange
// may differ at several), at most the endpoint's mismatches.
func regressionExchanges(e *store.EndpointReport) int64 {
	var sum, most int64
	for _, f := range e.Fields {
		if f.Verdict == stats.Regression {
			sum += f.Count
			most = max(most, f.Count)
		}
	}
	if sum > e.Mismatched {
		return max(most, e.Mismatched)
	}
	return sum
}

// undecided counts the report's patterns judged undecided.
func undecided(r *store.Report) int {
	n := 0
	for _, e := range r.Endpoints {
		for _, f := range e.Fields {
			if f.Verdict == stats.Undecided {
				n++
			}
		}
	}
	return n
}

// verdictTag is a field's verdict as the text report shows it, "" when the
// report has none (written before verdicts).
func verdictTag(f *store.Field) string {
	if f.Verdict == "" {
		return ""
	}
	return fmt.Sprintf("%-10s p=%-8s ", f.Verdict, pvalue(f.PValue))
}

// pvalue writes a p-value short: 0.031, 2.1e-09, 0.
func pvalue(p float64) string {
	switch {
	case p == 0:
		return "0"
	case p < 0.001:
		return fmt.Sprintf("%.1e", p)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", p), "0"), ".")
}

// evidence says in words what a verdict rests on.
func evidence(f *store.Field) string {
	switch f.Test {
	case store.TestPaired:
		return fmt.Sprintf("only candidate %d, only secondary %d, both %d, neither %d", f.OnlyCandidate, f.OnlySecondary, f.Both, f.Neither)
	case store.TestBaseline:
		s := fmt.Sprintf("%d of %d differ, baseline rate %s", f.UnpairedDiffers, f.UnpairedCompared, pct100(f.BaselineRate))
		if f.Unexplained > 0 {
			s += fmt.Sprintf(", %d removed or retyped where legacy never is", f.Unexplained)
		}
		return s
	}
	return ""
}

func pct100(r float64) string { return fmt.Sprintf("%.1f%%", 100*r) }

// hasVerdicts reports whether any field of the endpoints has a verdict.
func hasVerdicts(eps []store.EndpointReport) bool {
	for _, e := range eps {
		for _, f := range e.Fields {
			if f.Verdict != "" {
				return true
			}
		}
	}
	return false
}

// patterns says "1 pattern" or "n patterns".
func patterns(n int) string {
	if n == 1 {
		return "1 pattern"
	}
	return fmt.Sprintf("%d patterns", n)
}
