package diff

import (
	"slices"

	"github.com/tandemproxy/tandem"
)

// StrictKind reports whether a candidate difference of kind k is noise only
// when the secondary differed in the same way at its pattern: legacy
// varying a value does not explain a candidate that drops it or changes
// its type (issue 12, "kind-aware").
func StrictKind(k tandem.Kind) bool { return k == tandem.Removed || k == tandem.Type }

// kindsByPattern collects the kinds of the secondary's differences by
// pattern.
func kindsByPattern(noise []tandem.Difference) map[string][]tandem.Kind {
	out := map[string][]tandem.Kind{}
	for _, d := range noise {
		if !slices.Contains(out[d.Pattern], d.Kind) {
			out[d.Pattern] = append(out[d.Pattern], d.Kind)
		}
	}
	return out
}

// verdictKinds is Verdict with the kind-aware check: a difference is noise
// when the secondary differed at its pattern and, for a removed or type
// difference, did so with the same kind.
func verdictKinds(diffs []tandem.Difference, noise map[string][]tandem.Kind) tandem.Outcome {
	return mark(diffs, func(d *tandem.Difference) bool {
		kinds, ok := noise[d.Pattern]
		return ok && (!StrictKind(d.Kind) || slices.Contains(kinds, d.Kind))
	})
}
