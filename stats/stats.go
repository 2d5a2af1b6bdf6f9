// Package stats holds the small exact tests tandem bases its verdicts on:
// binomial tails, the one-sided exact McNemar test, Benjamini–Hochberg
// control of the false discovery rate, and Wilson and Clopper–Pearson
// bounds on a proportion. It depends on nothing but the standard library.
package stats

import (
	"math"
	"sort"
)

// BinomialSF is P(X ≥ k) for X ~ Binomial(n, p): the one-sided exact
// binomial test's p-value for k or more successes.
func BinomialSF(k, n int64, p float64) float64 {
	switch {
	case k <= 0:
		return 1
	case k > n:
		return 0
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	// P(X ≥ k) = I_p(k, n−k+1), the regularized incomplete beta function:
	// a continued fraction that costs the same for n = 10 as for 10⁹,
	// where summing the terms would cost O(n).
	return RegIncBeta(float64(k), float64(n-k+1), p)
}

// BinomialCDF is P(X ≤ k) for X ~ Binomial(n, p).
func BinomialCDF(k, n int64, p float64) float64 {
	return 1 - BinomialSF(k+1, n, p)
}

// McNemar is the one-sided exact McNemar test of "the first differs no more
// often than the second": of the b + c discordant pairs, b went one way
// and c the other, and under the null hypothesis b ~ Binomial(b+c, ½). It
// returns P(X ≥ b); with no discordant pair there is no evidence and it
// returns 1.
func McNemar(b, c int64) float64 {
	if b+c == 0 {
		return 1
	}
	return BinomialSF(b, b+c, 0.5)
}

// MinMcNemar is the smallest p-value McNemar can give with m discordant
// pairs (all of them one way: ½^m): when it exceeds the significance
// level, no outcome could reject and the test is undecided.
func MinMcNemar(m int64) float64 { return math.Pow(0.5, float64(m)) }

// BenjaminiHochberg applies the Benjamini–Hochberg step-up procedure at
// false discovery rate q to the p-values ps: reject[i] says whether
// hypothesis i is rejected, adjusted[i] is its BH-adjusted p-value (the
// smallest q at which it would be rejected). The order of ps is kept.
func BenjaminiHochberg(ps []float64, q float64) (reject []bool, adjusted []float64) {
	m := len(ps)
	reject, adjusted = make([]bool, m), make([]float64, m)
	if m == 0 {
		return reject, adjusted
	}
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return ps[order[a]] < ps[order[b]] })
	// The largest rank k with p_(k) ≤ k·q/m: every hypothesis up to it is
	// rejected, whatever its own p-value.
	cut := -1
	for r := m - 1; r >= 0; r-- {
		if ps[order[r]] <= float64(r+1)*q/float64(m) {
			cut = r
			break
		}
	}
	running := 1.0
	for r := m - 1; r >= 0; r-- {
		i := order[r]
		running = math.Min(running, ps[i]*float64(m)/float64(r+1))
		adjusted[i] = math.Min(running, 1)
		reject[i] = r <= cut
	}
	return reject, adjusted
}

// Wilson returns the Wilson score interval for k successes in n trials at
// the normal quantile z (1.96 for 95% two-sided). With n = 0 it is [0, 1].
func Wilson(k, n int64, z float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	nf, ph := float64(n), float64(k)/float64(n)
	z2 := z * z
	centre := (ph + z2/(2*nf)) / (1 + z2/nf)
	half := z / (1 + z2/nf) * math.Sqrt(ph*(1-ph)/nf+z2/(4*nf*nf))
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// ClopperPearson returns the exact (Clopper–Pearson) two-sided 1−alpha
// interval for k successes in n trials: lo is the p at which P(X ≥ k) =
// alpha/2, hi the p at which P(X ≤ k) = alpha/2. With n = 0 it is [0, 1].
func ClopperPearson(k, n int64, alpha float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	lo, hi = 0, 1
	if k > 0 {
		lo = solve(func(p float64) float64 { return BinomialSF(k, n, p) - alpha/2 })
	}
	if k < n {
		hi = solve(func(p float64) float64 { return alpha/2 - BinomialCDF(k, n, p) })
	}
	return lo, hi
}

// solve finds the root in (0, 1) of an increasing f by bisection: 60
// halvings take the interval below 1e-18, as fine as a float64 holds.
func solve(f func(float64) float64) float64 {
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if f(mid) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// RegIncBeta is the regularized incomplete beta function I_x(a, b), for
// a, b > 0 and 0 ≤ x ≤ 1.
func RegIncBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	// The continued fraction converges fast for x < (a+1)/(a+b+2); beyond,
	// the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) brings x back below it.
	if x < (a+1)/(a+b+2) {
		return front * betaCF(a, b, x) / a
	}
	return 1 - front*betaCF(b, a, 1-x)/b
}

// betaCF evaluates the continued fraction of the incomplete beta function
// by the modified Lentz method.
func betaCF(a, b, x float64) float64 {
	const (
		maxIter = 10000
		eps     = 1e-16
		tiny    = 1e-300
	)
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= maxIter; m++ {
		mf := float64(m)
		m2 := 2 * mf
		aa := mf * (b - mf) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + mf) * (qab + mf) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}
