package stats

// Verdict is what the evidence says about one pattern: does the candidate
// differ from legacy more often than legacy differs from itself?
type Verdict string

// Verdicts.
const (
	// Regression: the candidate differs significantly more often than
	// legacy differs from itself (after Benjamini–Hochberg), by at least
	// the minimum effect.
	Regression Verdict = "regression"
	// Noise: the test could have shown a regression and did not, or the
	// excess is smaller than the minimum effect (a pattern where legacy
	// differs from itself on every exchange, and the candidate too, is
	// noise however few the exchanges).
	Noise Verdict = "noise"
	// Undecided: the candidate differs more often than legacy by the
	// minimum effect, but over too few exchanges for the test to reject
	// at any outcome.
	Undecided Verdict = "undecided"
)

// Defaults for Options, in the spirit of Diffy's thresholds (a difference
// counts when its rate exceeds the noise rate by more than 20% of it and by
// more than 0.03% of the requests), with a real test on top.
const (
	// DefaultQ is the false discovery rate of Benjamini–Hochberg across
	// the patterns of a report: of the patterns called regressions, at most
	// 5% are expected to be false alarms.
	DefaultQ = 0.05
	// DefaultMinRelative: the candidate's rate must exceed legacy's own by
	// more than 20% of legacy's own.
	DefaultMinRelative = 0.20
	// DefaultMinAbsolute: and by more than 0.03 percentage points of the
	// compared exchanges.
	DefaultMinAbsolute = 0.0003
)

// Options set the significance level and the minimum effect.
type Options struct {
	Q           float64
	MinRelative float64
	MinAbsolute float64
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{Q: DefaultQ, MinRelative: DefaultMinRelative, MinAbsolute: DefaultMinAbsolute}
}

// Test is the evidence on one pattern: the one-sided p-value of "the
// candidate differs no more often than legacy differs from itself", the
// smallest p-value the test could have given with as many exchanges, and
// the two rates (shares of the compared exchanges) the effect is measured
// on.
type Test struct {
	P, MinP           float64
	Candidate, Legacy float64
}

// Paired is the exact McNemar test on paired counts: of the exchanges
// judged with a secondary, b differed only between legacy and candidate, c
// only between legacy and secondary, both in both, neither in neither.
func Paired(b, c, both, neither int64) Test {
	t := Test{P: McNemar(b, c), MinP: MinMcNemar(b + c)}
	if n := float64(b + c + both + neither); n > 0 {
		t.Candidate, t.Legacy = float64(b+both)/n, float64(c+both)/n
	}
	return t
}

// AgainstRate is the exact binomial test of k differing exchanges out of
// n against a known rate p0 at which legacy differs from itself (learned
// from a baseline): k ~ Binomial(n, p0) under the null hypothesis.
func AgainstRate(k, n int64, p0 float64) Test {
	t := Test{P: BinomialSF(k, n, p0), MinP: BinomialSF(n, n, p0), Legacy: p0}
	if n > 0 {
		t.Candidate = float64(k) / float64(n)
	}
	return t
}

// Effect reports whether the candidate's rate exceeds legacy's own by the
// minimum effect.
func (o Options) Effect(t Test) bool {
	d := t.Candidate - t.Legacy
	return d > o.MinAbsolute && d > o.MinRelative*t.Legacy
}

// Decide gives every test its verdict, controlling the false discovery
// rate across all of them at o.Q, and returns the Benjamini–Hochberg
// adjusted p-values.
func Decide(tests []Test, o Options) (verdicts []Verdict, adjusted []float64) {
	ps := make([]float64, len(tests))
	for i, t := range tests {
		ps[i] = t.P
	}
	reject, adjusted := BenjaminiHochberg(ps, o.Q)
	verdicts = make([]Verdict, len(tests))
	for i, t := range tests {
		switch {
		case reject[i] && o.Effect(t):
			verdicts[i] = Regression
		case o.Effect(t) && t.MinP > o.Q:
			// It looks like a regression, and no outcome of so few
			// exchanges could have shown it is one.
			verdicts[i] = Undecided
		default:
			verdicts[i] = Noise
		}
	}
	return verdicts, adjusted
}
