package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tandemproxy/tandem/stats"
	"github.com/tandemproxy/tandem/store"
)

// Markdown limits: a pull-request comment must stay readable (and GitHub
// refuses comments over 65,536 characters).
const (
	markdownEndpoints = 50 // rows of the endpoint table
	markdownValue     = 80 // characters of an example value
)

// Markdown writes a replay's report as a Markdown summary for a pull-request
// comment: the verdict, the totals, a row per endpoint (worst first, as in
// the text report), and for each failing endpoint its top differing
// patterns with an example. Passing endpoints' details stay out: the
// comment is about what to fix.
func Markdown(w io.Writer, r *store.Report, run Run, topFields int) error {
	if topFields <= 0 {
		topFields = DefaultTopFields
	}
	v := run.Gate.Check(r)
	var b strings.Builder
	if v.Passed {
		fmt.Fprintf(&b, "### ✅ tandem replay passed\n\n")
	} else {
		fmt.Fprintf(&b, "### ❌ tandem replay failed\n\n")
	}
	fmt.Fprintf(&b, "%s.\n\n", capitalize(v.Reason))
	t := r.Totals
	line := []string{}
	if run.Name != "" {
		line = append(line, code(run.Name))
	}
	line = append(line, fmt.Sprintf("%d requests", t.Requests), fmt.Sprintf("%d compared", t.Compared),
		fmt.Sprintf("%d matched", t.Matched), fmt.Sprintf("%d mismatched", t.Mismatched))
	for _, x := range []struct {
		n    int64
		what string
	}{{t.Noise, "noise"}, {t.CandidateErrors, "candidate errors"}, {t.DiffErrors, "diff errors"},
		{t.LegacyErrors, "legacy errors"}, {t.Skipped, "skipped"}, {run.Invalid, "invalid records skipped"}} {
		if x.n > 0 {
			line = append(line, fmt.Sprintf("%d %s", x.n, x.what))
		}
	}
	if run.Duration > 0 {
		line = append(line, seconds(run)+"s")
	}
	b.WriteString(strings.Join(line, " · ") + "\n\n")
	if t.LegacyErrors > 0 && run.LegacyError != "" {
		fmt.Fprintf(&b, "Live legacy gave no answer to %d requests (first error: %s).\n\n", t.LegacyErrors, code(run.LegacyError))
	}

	eps := run.endpoints(r)
	if len(eps) == 0 {
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("| | Endpoint | Compared | Matched | Mismatched | Noise | Errors | Not sent |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|\n")
	var failing []store.EndpointReport
	for i, e := range eps {
		if i == markdownEndpoints {
			fmt.Fprintf(&b, "\n… and %d more endpoints (see the JUnit report or `tandem report`).\n", len(eps)-i)
			break
		}
		mark := "✅"
		skipped := run.Skipped[e.Endpoint].total()
		switch {
		case run.Gate.EndpointFailures(&e) > 0:
			mark = "❌"
			failing = append(failing, e)
		case e.Compared == 0 && skipped > 0:
			mark = "⏭️"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d |\n", mark, code(e.Endpoint), e.Compared, e.Matched,
			e.Mismatched, e.Noise, e.CandidateErrors+e.DiffErrors, skipped)
	}
	for _, e := range failing {
		fmt.Fprintf(&b, "\n#### %s\n\n%s.\n", code(e.Endpoint), capitalize(failureMessage(&e, run.Gate)))
		if err := run.failingError(&e); err != "" {
			fmt.Fprintf(&b, "First error: %s.\n", code(err))
		}
		if len(e.Fields) == 0 {
			continue
		}
		verdicts := hasVerdicts([]store.EndpointReport{e})
		if verdicts {
			b.WriteString("\n| Pattern | Exchanges | Verdict | p | Legacy | Candidate |\n|---|--:|---|--:|---|---|\n")
		} else {
			b.WriteString("\n| Pattern | Exchanges | Legacy | Candidate |\n|---|--:|---|---|\n")
		}
		for i, f := range e.Fields {
			if i == topFields {
				fmt.Fprintf(&b, "\n… %d more patterns.\n", len(e.Fields)-topFields)
				break
			}
			if verdicts {
				fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s |\n", code(f.Pattern), f.Count, verdictCell(f.Verdict), pvalue(f.PValue),
					example(f.ExampleLegacy), example(f.ExampleCandidate))
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", code(f.Pattern), f.Count, example(f.ExampleLegacy), example(f.ExampleCandidate))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// verdictCell marks a regression so that it stands out in the table.
func verdictCell(v stats.Verdict) string {
	if v == stats.Regression {
		return "**regression**"
	}
	return string(v)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// code writes s as a code span inside a table cell: long enough a fence
// for the backticks it holds, pipes escaped (GitHub splits cells on them
// even in code), on one line.
func code(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

func example(s string) string {
	if s == "" {
		return "*(none)*"
	}
	if r := []rune(s); len(r) > markdownValue {
		s = string(r[:markdownValue-1]) + "…"
	}
	return code(s)
}
