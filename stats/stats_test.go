package stats_test

import (
	"math"
	"math/big"
	"testing"

	"github.com/tandemproxy/tandem/stats"
)

// exactSF is P(X ≥ k) for X ~ Binomial(n, p) summed in exact rational
// arithmetic: the independent reference the continued fraction is held to.
func exactSF(k, n int64, p *big.Rat) float64 {
	q := new(big.Rat).Sub(big.NewRat(1, 1), p)
	sum := new(big.Rat)
	// Whichever side has fewer terms: exact sums of large powers are slow.
	lo, hi, complement := max(k, 0), n, false
	if k < n/2 {
		lo, hi, complement = 0, k-1, true
	}
	for i := lo; i <= hi; i++ {
		c := new(big.Rat).SetInt(new(big.Int).Binomial(n, i))
		pi := new(big.Rat).SetFrac(new(big.Int).Exp(p.Num(), big.NewInt(i), nil), new(big.Int).Exp(p.Denom(), big.NewInt(i), nil))
		qi := new(big.Rat).SetFrac(new(big.Int).Exp(q.Num(), big.NewInt(n-i), nil), new(big.Int).Exp(q.Denom(), big.NewInt(n-i), nil))
		sum.Add(sum, c.Mul(c, pi.Mul(pi, qi)))
	}
	if complement {
		sum.Sub(big.NewRat(1, 1), sum)
	}
	f, _ := sum.Float64()
	return f
}

func close(got, want float64) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want) <= 1e-10*want || math.Abs(got-want) < 1e-300
}

func TestBinomialSF(t *testing.T) {
	for _, tc := range []struct {
		name string
		k, n int64
		num  int64
		den  int64
	}{
		{"half small", 10, 12, 1, 2},
		{"half all", 12, 12, 1, 2},
		{"half none", 0, 12, 1, 2},
		{"half middle", 50, 100, 1, 2},
		{"tenth", 3, 20, 1, 10},
		{"three percent tail", 15, 200, 3, 100},
		{"three percent body", 4, 200, 3, 100},
		{"forty percent of 300", 140, 300, 2, 5},
		{"rare far tail", 30, 400, 1, 100},
		{"one success", 1, 1000, 1, 10000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := exactSF(tc.k, tc.n, big.NewRat(tc.num, tc.den))
			got := stats.BinomialSF(tc.k, tc.n, float64(tc.num)/float64(tc.den))
			if !close(got, want) {
				t.Errorf("P(X ≥ %d | n=%d, p=%d/%d) = %.17g, want %.17g", tc.k, tc.n, tc.num, tc.den, got, want)
			}
		})
	}
	t.Run("Large", func(t *testing.T) {
		// Symmetry at p = ½ on a million trials, where summing terms would
		// take a million steps: P(X ≥ k) + P(X ≥ n−k+1) = 1.
		const n = 1_000_001
		for _, k := range []int64{499_000, 500_001, 501_500} {
			if s := stats.BinomialSF(k, n, 0.5) + stats.BinomialSF(n-k+1, n, 0.5); math.Abs(s-1) > 1e-9 {
				t.Errorf("k = %d: tails sum to %v, want 1", k, s)
			}
		}
	})
	t.Run("Edges", func(t *testing.T) {
		for _, tc := range []struct {
			k, n int64
			p    float64
			want float64
		}{{0, 5, 0.3, 1}, {6, 5, 0.3, 0}, {1, 5, 0, 0}, {5, 5, 1, 1}, {-1, 5, 0.3, 1}} {
			if got := stats.BinomialSF(tc.k, tc.n, tc.p); got != tc.want {
				t.Errorf("BinomialSF(%d, %d, %v) = %v, want %v", tc.k, tc.n, tc.p, got, tc.want)
			}
		}
	})
}

func TestMcNemar(t *testing.T) {
	// 10 of 12 discordant pairs one way: (C(12,10)+C(12,11)+C(12,12))/2¹².
	if got, want := stats.McNemar(10, 2), 79.0/4096; !close(got, want) {
		t.Errorf("McNemar(10, 2) = %v, want %v", got, want)
	}
	if got := stats.McNemar(0, 0); got != 1 {
		t.Errorf("McNemar(0, 0) = %v, want 1 (no evidence)", got)
	}
	if got := stats.McNemar(0, 7); got != 1 {
		t.Errorf("McNemar(0, 7) = %v, want 1", got)
	}
	if got, want := stats.MinMcNemar(5), 1.0/32; got != want {
		t.Errorf("MinMcNemar(5) = %v, want %v", got, want)
	}
}

// TestBenjaminiHochberg uses the 15 p-values of Benjamini and Hochberg
// (1995), section 4: at q = 0.05 the procedure rejects the four smallest
// (where Bonferroni rejects three).
func TestBenjaminiHochberg(t *testing.T) {
	ps := []float64{0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459,
		0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000}
	// Shuffled, to show that the input order is kept.
	perm := []int{14, 3, 0, 9, 5, 1, 12, 7, 2, 11, 4, 8, 13, 6, 10}
	in := make([]float64, len(ps))
	for i, j := range perm {
		in[i] = ps[j]
	}
	reject, adj := stats.BenjaminiHochberg(in, 0.05)
	n := 0
	for i, j := range perm {
		if want := j < 4; reject[i] != want {
			t.Errorf("p = %v: rejected %v, want %v", in[i], reject[i], want)
		}
		if reject[i] {
			n++
		}
		if (adj[i] <= 0.05) != reject[i] {
			t.Errorf("p = %v: adjusted %v disagrees with rejected %v", in[i], adj[i], reject[i])
		}
	}
	if n != 4 {
		t.Errorf("%d rejected, want 4", n)
	}
	// The fourth smallest: 0.0095 · 15 / 4.
	if i := 1; !close(adj[i], 0.0095*15/4) {
		t.Errorf("adjusted p of 0.0095 = %v, want %v", adj[i], 0.0095*15/4)
	}
	if r, a := stats.BenjaminiHochberg(nil, 0.05); len(r) != 0 || len(a) != 0 {
		t.Errorf("no p-values: %v %v", r, a)
	}
}

func TestWilson(t *testing.T) {
	lo, hi := stats.Wilson(5, 10, 1.959964) // z = Φ⁻¹(0.975), as R's binom.confint
	if math.Abs(lo-0.236593) > 1e-6 || math.Abs(hi-0.763407) > 1e-6 {
		t.Errorf("Wilson(5, 10) = [%v, %v], want [0.236593, 0.763407]", lo, hi)
	}
	if lo, hi := stats.Wilson(0, 0, 1.96); lo != 0 || hi != 1 {
		t.Errorf("Wilson(0, 0) = [%v, %v], want [0, 1]", lo, hi)
	}
}

func TestClopperPearson(t *testing.T) {
	for _, tc := range []struct {
		name   string
		k, n   int64
		lo, hi float64
	}{
		// Closed forms at the ends: (α/2)^(1/n) and 1 − (α/2)^(1/n).
		{"none", 0, 10, 0, 1 - math.Pow(0.025, 0.1)},
		{"all", 10, 10, math.Pow(0.025, 0.1), 1},
		// The published 95% interval for 5 of 10.
		{"half", 5, 10, 0.187086, 0.812914},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := stats.ClopperPearson(tc.k, tc.n, 0.05)
			if math.Abs(lo-tc.lo) > 1e-6 || math.Abs(hi-tc.hi) > 1e-6 {
				t.Errorf("ClopperPearson(%d, %d) = [%v, %v], want [%v, %v]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	o := stats.DefaultOptions()
	for _, tc := range []struct {
		name string
		test stats.Test
		want stats.Verdict
	}{
		// Legacy differs from itself in 3% of 1000 exchanges, the candidate
		// in 40%: a regression hidden in noise.
		{"hidden regression", stats.Paired(380, 10, 20, 590), stats.Regression},
		// Both differ about as often: noise.
		{"noise", stats.Paired(95, 100, 5, 800), stats.Noise},
		// 4 discordant pairs can never reach p ≤ 0.05 (½⁴ = 0.0625).
		{"too few", stats.Paired(4, 0, 0, 996), stats.Undecided},
		// Significant (5 standard deviations), but 1.5 points over legacy's 10%: less than
		// 20% of it.
		// Legacy always differs from itself there, and so does the
		// candidate: nothing to test, and nothing in excess.
		{"always differs", stats.Paired(0, 0, 100, 0), stats.Noise},
		{"always differs, baseline", stats.AgainstRate(100, 100, 1), stats.Noise},
		// Fewer differences than legacy's own, over few exchanges.
		{"less than legacy", stats.Paired(1, 2, 0, 97), stats.Noise},
		{"small effect", stats.AgainstRate(1150, 10000, 0.1), stats.Noise},
		{"against a rate", stats.AgainstRate(60, 1000, 0.02), stats.Regression},
		{"never noisy", stats.AgainstRate(3, 1000, 0), stats.Regression},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := stats.Decide([]stats.Test{tc.test}, o)
			if v[0] != tc.want {
				t.Errorf("verdict %s, want %s (test %+v)", v[0], tc.want, tc.test)
			}
		})
	}
}

// TestDecide_ReadmeExample pins the numbers of README's worked example
// ("Verdicts").
func TestDecide_ReadmeExample(t *testing.T) {
	tests := []stats.Test{stats.Paired(375, 5, 25, 595), stats.Paired(48, 52, 12, 888), stats.Paired(3, 0, 0, 997)}
	v, q := stats.Decide(tests, stats.DefaultOptions())
	want := []struct {
		verdict stats.Verdict
		p, q    float64
	}{{stats.Regression, 2.6e-104, 7.9e-104}, {stats.Noise, 0.69, 0.69}, {stats.Undecided, 0.125, 0.19}}
	for i, w := range want {
		if v[i] != w.verdict || !near(tests[i].P, w.p) || !near(q[i], w.q) {
			t.Errorf("row %d: %s p=%.2g q=%.2g, want %s p=%.2g q=%.2g", i, v[i], tests[i].P, q[i], w.verdict, w.p, w.q)
		}
	}
	// Without a secondary: 48 of 800 in the baseline, bound at 95%.
	_, bound := stats.ClopperPearson(48, 800, 0.10)
	if !near(bound, 0.076) {
		t.Errorf("bound %.3g, want 0.076", bound)
	}
	for _, tc := range []struct {
		k       int64
		p       float64
		verdict stats.Verdict
	}{{60, 0.98, stats.Noise}, {120, 5.4e-7, stats.Regression}} {
		test := stats.AgainstRate(tc.k, 1000, bound)
		v, _ := stats.Decide([]stats.Test{test}, stats.DefaultOptions())
		if v[0] != tc.verdict || !near(test.P, tc.p) {
			t.Errorf("%d of 1000: %s p=%.2g, want %s p=%.2g", tc.k, v[0], test.P, tc.verdict, tc.p)
		}
	}
	// 0 of 50 is consistent with up to 5.8%.
	if _, hi := stats.ClopperPearson(0, 50, 0.10); !near(hi, 0.058) {
		t.Errorf("0 of 50: bound %.3g, want 0.058", hi)
	}
}

// near reports whether got rounds to want at want's two significant digits.
func near(got, want float64) bool {
	return math.Abs(got-want) <= 0.05*math.Abs(want)
}
