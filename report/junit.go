package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/tandemproxy/tandem/store"
)

// JUnit XML as CI systems read it (the Ant/Surefire schema that Jenkins,
// GitLab, GitHub's test reporters and others accept): one test suite, one
// test case per endpoint.

type junitSuites struct {
	XMLName  xml.Name   `xml:"testsuites"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Time     string     `xml:"time,attr"`
	Suites   []junitRun `xml:"testsuite"`
}

type junitRun struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
	Skipped   *junitSkipped `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"` // readable in the file: newlines and quotes as they are
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// junitClass is every test case's classname: CI tools group cases by it.
const junitClass = "tandem.replay"

// JUnit writes a replay's report as JUnit XML: a test case per endpoint,
// failing when the endpoint has exchanges that fail the gate, with the
// differing patterns (most frequent first, each with an example) as the
// failure's text; endpoints whose requests were all skipped are skipped
// test cases. Legacy errors (live mode) and a run that compared nothing
// fail as test cases of their own.
func JUnit(w io.Writer, r *store.Report, run Run) error {
	suite := junitRun{Name: "tandem replay", Time: seconds(run)}
	if run.Name != "" {
		suite.Name += ": " + run.Name
		suite.Properties = append(suite.Properties, junitProperty{"source", run.Name})
	}
	suite.Properties = append(suite.Properties,
		junitProperty{"max_mismatches", fmt.Sprint(run.Gate.MaxMismatches)},
		junitProperty{"allow_errors", fmt.Sprint(run.Gate.AllowErrors)})
	if run.Gate.statistical() {
		suite.Properties = append(suite.Properties, junitProperty{"gate", run.Gate.Mode})
	}
	for _, e := range run.endpoints(r) {
		c := junitCase{Name: e.Endpoint, Classname: junitClass, Time: "0"}
		skipped := run.Skipped[e.Endpoint]
		var out []string
		switch {
		case e.Compared == 0 && skipped.total() > 0:
			c.Skipped = &junitSkipped{Message: skipped.String()}
		case run.Gate.EndpointFailures(&e) > 0:
			text := patternsText(&e)
			if err := run.failingError(&e); err != "" {
				text += xmlText("first error: "+err) + "\n"
			}
			c.Failure = &junitFailure{Type: "mismatch", Message: failureMessage(&e, run.Gate), Text: text}
		}
		if e.Compared > 0 && skipped.total() > 0 {
			out = append(out, skipped.String())
		}
		if e.Noise > 0 {
			out = append(out, fmt.Sprintf("%d of %d exchanges differ only where legacy differs from itself (noise)", e.Noise, e.Compared))
		}
		if n := e.Mismatched - regressionExchanges(&e); run.Gate.statistical() && n > 0 {
			out = append(out, fmt.Sprintf("%d of %d exchanges differ only at patterns judged noise or undecided, which --gate statistical lets pass", n, e.Compared))
		}
		if e.CandidateErrors > 0 && run.Gate.AllowErrors {
			line := fmt.Sprintf("%d candidate errors (allowed by --allow-errors)", e.CandidateErrors)
			if err := run.Errors[e.Endpoint]; err != "" {
				line += "; first error: " + err
			}
			out = append(out, line)
		}
		c.SystemOut = strings.Join(out, "\n")
		suite.Cases = append(suite.Cases, c)
	}
	if n := r.Totals.LegacyErrors; n > 0 {
		c := junitCase{Name: "legacy answers", Classname: junitClass, Time: "0"}
		msg := fmt.Sprintf("%d requests got no answer from the live legacy service, so were not compared", n)
		if run.LegacyError != "" {
			msg += " (first error: " + run.LegacyError + ")"
		}
		if run.Gate.AllowErrors {
			c.SystemOut = msg + " (allowed by --allow-errors)"
		} else {
			c.Failure = &junitFailure{Type: "legacy_error", Message: msg}
		}
		suite.Cases = append(suite.Cases, c)
	}
	if v := run.Gate.Check(r); !v.Passed && v.Failures <= run.Gate.MaxMismatches {
		// Failed for want of anything compared: say so where CI looks.
		suite.Cases = append(suite.Cases, junitCase{Name: "replay", Classname: junitClass, Time: "0",
			Failure: &junitFailure{Type: "nothing_compared", Message: v.Reason}})
	}
	if run.Invalid > 0 {
		suite.SystemOut = fmt.Sprintf("%d input records were invalid and skipped (--skip-invalid)", run.Invalid)
		suite.Properties = append(suite.Properties, junitProperty{"invalid_records", fmt.Sprint(run.Invalid)})
	}
	for _, c := range suite.Cases {
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Skipped != nil:
			suite.Skipped++
		}
	}
	doc := junitSuites{Name: "tandem replay", Tests: suite.Tests, Failures: suite.Failures, Skipped: suite.Skipped,
		Time: suite.Time, Suites: []junitRun{suite}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, b)
	return err
}

func seconds(run Run) string { return fmt.Sprintf("%.3f", run.Duration.Seconds()) }

// failureMessage says in one line what fails an endpoint.
func failureMessage(e *store.EndpointReport, g Gate) string {
	var parts []string
	switch {
	case g.statistical() && e.Regressions() > 0:
		parts = append(parts, fmt.Sprintf("%d of %d exchanges differ from legacy at %s judged regressions",
			regressionExchanges(e), e.Compared, patterns(e.Regressions())))
	case !g.statistical() && e.Mismatched > 0:
		parts = append(parts, fmt.Sprintf("%d of %d exchanges differ from legacy", e.Mismatched, e.Compared))
	}
	if e.CandidateErrors > 0 && !g.AllowErrors {
		parts = append(parts, fmt.Sprintf("%d of %d got no answer from the candidate", e.CandidateErrors, e.Compared))
	}
	if e.DiffErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d could not be compared (diff error)", e.DiffErrors, e.Compared))
	}
	return strings.Join(parts, "; ")
}

// patternsText lists the patterns at which an endpoint's exchanges differ
// for real, each with its count and an example.
func patternsText(e *store.EndpointReport) string {
	var b strings.Builder
	for _, f := range e.Fields {
		noun := "exchanges"
		if f.Count == 1 {
			noun = "exchange"
		}
		fmt.Fprintf(&b, "%s: %d %s", f.Pattern, f.Count, noun)
		if f.Verdict != "" {
			fmt.Fprintf(&b, ", %s (p=%s; %s)", f.Verdict, pvalue(f.PValue), evidence(&f))
		}
		fmt.Fprintf(&b, "\n    legacy:    %s\n    candidate: %s\n", orNone(f.ExampleLegacy), orNone(f.ExampleCandidate))
	}
	return xmlText(b.String())
}

// xmlText replaces the characters XML 1.0 cannot carry (control
// characters; bodies are anything) with U+FFFD: CDATA escapes nothing.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r != 0xFFFE && r != 0xFFFF && (r < 0xD800 || r > 0xDFFF)) {
			return r
		}
		return '\uFFFD'
	}, s)
}
