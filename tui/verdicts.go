package tui

import (
	"fmt"

	"github.com/tandemproxy/tandem/store"
)

// withVerdicts copies the report's verdict on each pattern onto the
// fields listed with their triage (store.Fields does not judge).
func withVerdicts(fields []store.EndpointField, judged []store.Field) {
	by := make(map[string]store.FieldVerdict, len(judged))
	for _, f := range judged {
		by[f.Pattern] = f.FieldVerdict
	}
	for i := range fields {
		if v, ok := by[fields[i].Pattern]; ok {
			fields[i].FieldVerdict = v
		}
	}
}

// verdictLine says what a verdict rests on, for the fields view's footer.
func verdictLine(f store.Field) string {
	switch f.Test {
	case store.TestPaired:
		return fmt.Sprintf("%s p=%.2g (only candidate %d, only secondary %d, both %d)", f.Verdict, f.PValue, f.OnlyCandidate, f.OnlySecondary, f.Both)
	case store.TestBaseline:
		return fmt.Sprintf("%s p=%.2g (%d of %d differ; legacy's own rate %.1f%%)", f.Verdict, f.PValue, f.UnpairedDiffers, f.UnpairedCompared, 100*f.BaselineRate)
	}
	return string(f.Verdict)
}
