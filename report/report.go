// Package report renders what the store knows for people (text) and for
// scripts (JSON).
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/tandemproxy/tandem/store"
)

// DefaultTopFields is how many differing patterns the text report lists
// per endpoint.
const DefaultTopFields = 5

// JSON writes the report as indented JSON (the keys are a contract: see
// README, "tandem report").
func JSON(w io.Writer, r *store.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func pct(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

// Text writes the report as tables: totals, one row per endpoint, then the
// top differing patterns of every endpoint that has any.
func Text(w io.Writer, r *store.Report, topFields int) error {
	if topFields <= 0 {
		topFields = DefaultTopFields
	}
	t := r.Totals
	var b strings.Builder
	fmt.Fprintf(&b, "requests %d · compared %d · matched %d (%s) · mismatched %d (%s) · noise %d · candidate errors %d",
		t.Requests, t.Compared, t.Matched, pct(t.Matched, t.Compared), t.Mismatched, pct(t.Mismatched, t.Compared), t.Noise, t.CandidateErrors)
	if t.DiffErrors > 0 {
		fmt.Fprintf(&b, " · diff errors %d", t.DiffErrors)
	}
	fmt.Fprintf(&b, "\nnot compared: skipped %d (side effects) · dropped %d (queue full) · legacy errors %d", t.Skipped, t.Dropped, t.LegacyErrors)
	if t.Streamed > 0 {
		fmt.Fprintf(&b, " · streamed %d (event streams and long answers, see compare_streams)", t.Streamed)
	}
	b.WriteString("\n")
	if t.Upgraded > 0 {
		fmt.Fprintf(&b, "upgraded %d (WebSocket and other upgrades: tunnelled to legacy, never mirrored)\n", t.Upgraded)
	}
	if t.SecondaryErrors > 0 {
		fmt.Fprintf(&b, "the secondary did not answer for %d exchanges: they were judged without noise detection\n", t.SecondaryErrors)
	}
	b.WriteString("\n")
	if len(r.Endpoints) == 0 {
		b.WriteString("No exchange has been compared yet.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	rows := [][]string{{"ENDPOINT", "COMPARED", "MATCHED", "MISMATCHED", "NOISE", "CAND ERRORS"}}
	for _, e := range r.Endpoints {
		rows = append(rows, []string{e.Endpoint, fmt.Sprint(e.Compared), fmt.Sprint(e.Matched),
			fmt.Sprintf("%d (%s)", e.Mismatched, pct(e.Mismatched, e.Compared)), fmt.Sprint(e.Noise), fmt.Sprint(e.CandidateErrors)})
	}
	table(&b, rows)
	for _, e := range r.Endpoints {
		if len(e.ServedBy) > 0 { // cutover
			fmt.Fprintf(&b, "%s: served by the candidate %d, by legacy %d (compared exchanges)\n", e.Endpoint, e.ServedBy["candidate"], e.ServedBy["legacy"])
		}
	}
	if hasVerdicts(r.Endpoints) {
		v := r.Verdicts
		fmt.Fprintf(&b, "\nverdicts per pattern at a false discovery rate of %g, minimum effect %g%% of legacy's own rate and %g points (README, \"Verdicts\")\n",
			v.Q, 100*v.MinRelative, 100*v.MinAbsolute)
	}
	for _, e := range r.Endpoints {
		if len(e.Fields) == 0 && len(e.NoisyFields) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n", e.Endpoint)
		for i, f := range e.Fields {
			if i == topFields {
				fmt.Fprintf(&b, "    … %d more patterns\n", len(e.Fields)-topFields)
				break
			}
			fmt.Fprintf(&b, "    %6d  %-40s %s%s → %s\n", f.Count, f.Pattern, verdictTag(&f), orNone(f.ExampleLegacy), orNone(f.ExampleCandidate))
		}
		for i, f := range e.NoisyFields {
			if i == topFields {
				break
			}
			fmt.Fprintf(&b, "    noise   %-40s legacy disagrees with itself in %s of %d exchanges\n", f.Pattern, pct(f.Count, e.SecondaryCompared), e.SecondaryCompared)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	if len(s) > 60 {
		return s[:57] + "…"
	}
	return s
}

// table writes rows with the first column left-aligned and the others
// right-aligned, two spaces apart.
func table(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteByte('\n')
	}
}
