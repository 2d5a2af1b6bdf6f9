package tandem

import "slices"

// SameVerdict reports whether a and b, two judgements of one exchange,
// agree on everything judging decides: the endpoint the rules named it,
// its outcome and error, its differences and its noisy patterns. The
// endpoint counts because reports and the triage UI file an exchange by it:
// a re-judge that only renames the endpoint still changes what they show.
func SameVerdict(a, b *Exchange) bool {
	return a.Endpoint == b.Endpoint && a.Outcome == b.Outcome && a.Error == b.Error &&
		slices.Equal(a.Differences, b.Differences) && slices.Equal(a.NoisePatterns, b.NoisePatterns)
}
