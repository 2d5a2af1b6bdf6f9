package diff

import (
	"slices"

	"github.com/tandemproxy/tandem"
)

// Judge compares an exchange's legacy and candidate answers and sets its
// Outcome, Differences, NoisePatterns and Error. When the exchange has a
// secondary answer (a second legacy instance), the patterns at which legacy
// and secondary disagree are noise: a candidate difference at such a pattern
// does not count, and an exchange whose differences are all noise has
// outcome Noise. A difference that removes a value or changes its type is
// noise only where the secondary differed in the same way (see
// verdictKinds). A secondary that failed to answer is ignored (no noise
// detection for that exchange).
func (c *Comparer) Judge(ex *tandem.Exchange) {
	ex.Differences, ex.NoisePatterns, ex.Error = nil, nil, ""
	if ex.Candidate.Err != "" {
		ex.Outcome = tandem.CandidateError
		ex.Error = ex.Candidate.Err
		return
	}
	diffs, err := c.Compare(&ex.Legacy, &ex.Candidate)
	if err != nil {
		ex.Outcome = tandem.DiffError
		ex.Error = err.Error()
		return
	}
	var noiseKinds map[string][]tandem.Kind
	if s := ex.Secondary; s != nil && s.Err == "" {
		noise, err := c.Compare(&ex.Legacy, s)
		if err == nil {
			for _, d := range noise {
				if !slices.Contains(ex.NoisePatterns, d.Pattern) {
					ex.NoisePatterns = append(ex.NoisePatterns, d.Pattern)
				}
			}
			noiseKinds = kindsByPattern(noise)
		}
	}
	ex.Differences = diffs
	ex.Outcome = verdictKinds(diffs, noiseKinds)
}

// Verdict marks the differences whose pattern is noisy and returns the
// outcome: Match with no differences, Noise when all are noise, Mismatch
// otherwise.
func Verdict(diffs []tandem.Difference, noisy []string) tandem.Outcome {
	return mark(diffs, func(d *tandem.Difference) bool { return slices.Contains(noisy, d.Pattern) })
}

// mark sets each difference's Noise by noise and returns the outcome, as
// Verdict describes it.
func mark(diffs []tandem.Difference, noise func(*tandem.Difference) bool) tandem.Outcome {
	real := 0
	for i := range diffs {
		diffs[i].Noise = noise(&diffs[i])
		if !diffs[i].Noise {
			real++
		}
	}
	switch {
	case len(diffs) == 0:
		return tandem.Match
	case real == 0:
		return tandem.Noise
	}
	return tandem.Mismatch
}
