package store

import (
	"context"
	"fmt"

	"github.com/tandemproxy/tandem/stats"
)

// Tests a verdict can rest on (FieldVerdict.Test).
const (
	// TestPaired is the exact McNemar test on the exchanges judged with a
	// secondary.
	TestPaired = "paired"
	// TestBaseline is the exact binomial test of the exchanges judged
	// without one against the rate the baseline learned.
	TestBaseline = "baseline"
)

// DefaultBaselineConfidence is the one-sided confidence of the
// Clopper–Pearson upper bound on a baseline's rate that the binomial test
// takes as legacy's own rate: a baseline of 50 exchanges that saw no
// difference at a pattern is consistent with a rate of up to 5.8%, and
// taking it as 0 would call a candidate with legacy's own 1% of noise a
// regression.
const DefaultBaselineConfidence = 0.95

// FieldVerdict is the statistical verdict on a pattern, with the counts it
// rests on (README, "Verdicts").
type FieldVerdict struct {
	Verdict stats.Verdict `json:"verdict"`
	// PValue is the one-sided p-value of "the candidate differs here no
	// more often than legacy differs from itself"; QValue is it adjusted
	// by Benjamini–Hochberg across every pattern of the report.
	PValue float64 `json:"p_value"`
	QValue float64 `json:"q_value"`
	// Test is what the verdict rests on: "paired", "baseline", or "" when
	// there is nothing to test (a database written before verdicts).
	Test string `json:"test"`
	// Over the exchanges judged with a secondary that answered: those
	// that differ here between legacy and candidate only (b), between
	// legacy and secondary only (c), in both, in neither.
	OnlyCandidate int64 `json:"only_candidate"`
	OnlySecondary int64 `json:"only_secondary"`
	Both          int64 `json:"both"`
	Neither       int64 `json:"neither"`
	// Over the exchanges judged without one: how many, how many differ
	// here, the baseline's rate for the pattern and the upper bound the
	// test uses, and how many of them differ in a way (a removed value, a
	// type change) the baseline never saw legacy make here, which are
	// tested against a rate of 0.
	UnpairedCompared int64   `json:"unpaired_compared"`
	UnpairedDiffers  int64   `json:"unpaired_differs"`
	BaselineRate     float64 `json:"baseline_rate"`
	BaselineBound    float64 `json:"baseline_bound"`
	Unexplained      int64   `json:"unexplained"`
}

// VerdictSettings are the settings verdicts are reached with.
type VerdictSettings struct {
	Q           float64 `json:"q"`
	MinRelative float64 `json:"min_relative"`
	MinAbsolute float64 `json:"min_absolute"`
}

func settings(o stats.Options) VerdictSettings {
	return VerdictSettings{Q: o.Q, MinRelative: o.MinRelative, MinAbsolute: o.MinAbsolute}
}

// test chooses the test for a pattern: paired when at least as many
// exchanges were judged with a secondary as without, the baseline
// otherwise.
func (f *FieldVerdict) test() (stats.Test, bool) {
	paired := f.OnlyCandidate + f.OnlySecondary + f.Both + f.Neither
	switch {
	case paired > 0 && paired >= f.UnpairedCompared:
		f.Test = TestPaired
		return stats.Paired(f.OnlyCandidate, f.OnlySecondary, f.Both, f.Neither), true
	case f.UnpairedCompared > 0:
		f.Test = TestBaseline
		if f.Unexplained > 0 {
			return stats.AgainstRate(f.Unexplained, f.UnpairedCompared, 0), true
		}
		return stats.AgainstRate(f.UnpairedDiffers, f.UnpairedCompared, f.BaselineBound), true
	}
	f.Test = ""
	return stats.Test{}, false
}

// Assess (re)computes the verdict of every field of the report from its
// counts, controlling the false discovery rate across all of them.
func (r *Report) Assess(o stats.Options) {
	r.Verdicts = settings(o)
	var tests []stats.Test
	var at []*FieldVerdict
	for i := range r.Endpoints {
		for j := range r.Endpoints[i].Fields {
			f := &r.Endpoints[i].Fields[j].FieldVerdict
			t, ok := f.test()
			if !ok {
				f.Verdict, f.PValue, f.QValue = stats.Undecided, 1, 1
				continue
			}
			tests = append(tests, t)
			at = append(at, f)
		}
	}
	verdicts, adjusted := stats.Decide(tests, o)
	for i, f := range at {
		f.Verdict, f.PValue, f.QValue = verdicts[i], tests[i].P, adjusted[i]
	}
}

// Regressions counts the report's patterns judged regressions.
func (e *EndpointReport) Regressions() int {
	n := 0
	for _, f := range e.Fields {
		if f.Verdict == stats.Regression {
			n++
		}
	}
	return n
}

// reportVerdicts fills in every field's counts and judges them with the
// default settings.
func (db *DB) reportVerdicts(ctx context.Context, r *Report) error {
	// Summed over the instances in scope, like every count of a report.
	where, args := db.instanceWhere("WHERE")
	totals := map[string]pairTotals{}
	rows, err := db.db.QueryContext(ctx, "SELECT endpoint, sum(paired), sum(unpaired) FROM pair_totals"+where+" GROUP BY endpoint", args...)
	if err != nil {
		return fmt.Errorf("report verdicts: %w", translate(err))
	}
	for rows.Next() {
		var ep string
		var t pairTotals
		if err := rows.Scan(&ep, &t.paired, &t.unpaired); err != nil {
			rows.Close()
			return fmt.Errorf("report verdicts: %w", translate(err))
		}
		totals[ep] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report verdicts: %w", translate(err))
	}
	pairs := map[fieldKey]pairCounts{}
	rows, err = db.db.QueryContext(ctx, `SELECT endpoint, pattern, sum(only_candidate), sum(only_secondary), sum(both_differ),
		sum(unpaired), sum(unpaired_removed), sum(unpaired_type) FROM pattern_pairs`+where+` GROUP BY endpoint, pattern`, args...)
	if err != nil {
		return fmt.Errorf("report verdicts: %w", translate(err))
	}
	for rows.Next() {
		var k fieldKey
		var c pairCounts
		if err := rows.Scan(&k.endpoint, &k.pattern, &c.onlyCandidate, &c.onlySecondary, &c.both,
			&c.unpaired, &c.unpairedRemoved, &c.unpairedType); err != nil {
			rows.Close()
			return fmt.Errorf("report verdicts: %w", translate(err))
		}
		pairs[k] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("report verdicts: %w", translate(err))
	}
	base, err := db.Baseline(ctx)
	if err != nil {
		return err
	}
	for i := range r.Endpoints {
		e := &r.Endpoints[i]
		t := totals[e.Endpoint]
		be := base.Endpoint(e.Endpoint)
		for j := range e.Fields {
			f := &e.Fields[j].FieldVerdict
			c := pairs[fieldKey{e.Endpoint, e.Fields[j].Pattern}]
			f.OnlyCandidate, f.OnlySecondary, f.Both = c.onlyCandidate, c.onlySecondary, c.both
			f.Neither = max(0, t.paired-c.onlyCandidate-c.onlySecondary-c.both)
			f.UnpairedCompared, f.UnpairedDiffers = t.unpaired, c.unpaired
			bp := be.Pattern(e.Fields[j].Pattern)
			f.BaselineRate, f.BaselineBound = be.Rate(bp), be.Bound(bp, DefaultBaselineConfidence)
			// A removed value or a type change is explained only by a
			// baseline that saw legacy's value come and go, or change
			// type, here.
			if bp.Presence == 0 {
				f.Unexplained += c.unpairedRemoved
			}
			if bp.Type == 0 {
				f.Unexplained += c.unpairedType
			}
			f.Unexplained = min(f.Unexplained, c.unpaired)
		}
	}
	r.Assess(stats.DefaultOptions())
	return nil
}
