package report_test

import (
	"bytes"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/report"
	"github.com/tandemproxy/tandem/stats"
	"github.com/tandemproxy/tandem/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got); run go test -update if the change is right:\n%s", path, d)
	}
}

// replayReport is what a replay of the demo's GitHub traffic against its
// candidate rewrite records (values from a real run).
func replayReport() *store.Report {
	return &store.Report{
		Totals: store.Totals{Requests: 120, Compared: 108, Matched: 85, Mismatched: 17, Noise: 2, CandidateErrors: 4, Skipped: 12},
		Endpoints: []store.EndpointReport{
			{Endpoint: "GET /repos/{owner}/{repo}", Compared: 12, Mismatched: 12,
				Fields: []store.Field{{Pattern: "$.open_issues_count", Count: 12, ExampleLegacy: "0", ExampleCandidate: `"0"`}}},
			{Endpoint: "GET /orgs/{org}", Compared: 5, Mismatched: 5,
				Fields: []store.Field{{Pattern: "$.archived", Count: 5, ExampleCandidate: "false"},
					// Values are anything: XML's CDATA end and a control character.
					{Pattern: "$.description", Count: 1, ExampleLegacy: `"a]]>b"`, ExampleCandidate: "\"a\x01b\""}}},
			{Endpoint: "GET /repos/{owner}/{repo}/contents/{path...}", Compared: 20, Matched: 16, CandidateErrors: 4},
			{Endpoint: "GET /repositories/{id}", Compared: 2, Noise: 2},
			{Endpoint: "GET /search/issues", Compared: 69, Matched: 69},
			{Endpoint: "GET /weird|`name`", Compared: 0},
		},
	}
}

func TestJUnitAndMarkdown(t *testing.T) {
	skipped := map[string]report.Skipped{"POST /markdown": {SideEffects: 12}}
	// Why the candidate did not answer, which the report only counts.
	errs := map[string]string{"GET /repos/{owner}/{repo}/contents/{path...}": "timeout"}
	tests := []struct {
		name   string
		report *store.Report
		run    report.Run
		passed bool
	}{
		{name: "failing", report: replayReport(), passed: false,
			run: report.Run{Name: "traffic.har", Skipped: skipped, Duration: 3210 * time.Millisecond, Errors: errs}},
		{name: "allow-errors", passed: false, report: func() *store.Report {
			r := replayReport()
			r.Endpoints[0].Mismatched, r.Endpoints[0].Matched, r.Endpoints[0].Fields = 0, 12, nil
			return r
		}(), run: report.Run{Name: "traffic.gor", Gate: report.Gate{MaxMismatches: 4, AllowErrors: true}, Skipped: skipped, Invalid: 2, Errors: errs}},
		{name: "passing", passed: true, report: &store.Report{
			Totals:    store.Totals{Requests: 10, Compared: 9, Matched: 9, Skipped: 1, LegacyErrors: 0},
			Endpoints: []store.EndpointReport{{Endpoint: "GET /", Compared: 9, Matched: 9}},
		}, run: report.Run{Name: "tandem.db", Skipped: map[string]report.Skipped{"GET /": {Unrecorded: 1}}, Duration: time.Second}},
		{name: "legacy-errors", passed: false, report: &store.Report{
			Totals:    store.Totals{Requests: 10, Compared: 7, Matched: 7, LegacyErrors: 3},
			Endpoints: []store.EndpointReport{{Endpoint: "GET /", Compared: 7, Matched: 7}},
		}, run: report.Run{Name: "live.ndjson", LegacyError: "connection refused"}},
		// A pattern that is noise by its verdict fails the count gate but
		// not the statistical one; a regression fails both.
		{name: "statistical", passed: false, report: statisticalReport(),
			run: report.Run{Name: "traffic.har", Gate: report.Gate{Mode: report.GateStatistical}}},
		{name: "statistical-noise", passed: true, report: func() *store.Report {
			r := statisticalReport()
			r.Endpoints = r.Endpoints[1:]
			return r
		}(), run: report.Run{Name: "traffic.har", Gate: report.Gate{Mode: report.GateStatistical}}},
		{name: "nothing-compared", passed: false, report: &store.Report{Totals: store.Totals{Requests: 3, Skipped: 3}, Endpoints: []store.EndpointReport{}},
			run: report.Run{Name: "posts.ndjson", Skipped: map[string]report.Skipped{"POST /markdown": {SideEffects: 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := tt.run.Gate.Check(tt.report); v.Passed != tt.passed {
				t.Errorf("gate passed = %v (%s), want %v", v.Passed, v.Reason, tt.passed)
			}
			var x, md bytes.Buffer
			if err := report.JUnit(&x, tt.report, tt.run); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".junit.xml", x.Bytes())
			var parsed struct {
				Suites []struct {
					Cases []struct {
						Name    string `xml:"name,attr"`
						Failure *struct {
							Text string `xml:",chardata"`
						} `xml:"failure"`
					} `xml:"testcase"`
				} `xml:"testsuite"`
			}
			if err := xml.Unmarshal(x.Bytes(), &parsed); err != nil {
				t.Fatalf("the JUnit file is not XML: %v", err)
			}
			if err := report.Markdown(&md, tt.report, tt.run, 0); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".md", md.Bytes())
		})
	}
}

// statisticalReport has a regression hidden in a noisy pattern (legacy
// differs from itself at $.price in 3% of exchanges, the candidate in 40%)
// and a pattern where both differ about as often (noise, though 9
// exchanges differ there only between legacy and candidate).
func statisticalReport() *store.Report {
	return &store.Report{
		Totals: store.Totals{Requests: 400, Compared: 400, Matched: 234, Mismatched: 157, Noise: 9},
		Endpoints: []store.EndpointReport{
			{Endpoint: "GET /items/{id}", Compared: 200, Matched: 52, Mismatched: 148, SecondaryCompared: 200,
				Fields: []store.Field{{Pattern: "$.price", Count: 74, Noise: 6, ExampleLegacy: "10", ExampleCandidate: "12",
					FieldVerdict: store.FieldVerdict{Verdict: stats.Regression, PValue: 1.2e-19, QValue: 2.4e-19, Test: store.TestPaired,
						OnlyCandidate: 74, Both: 6, Neither: 120}},
					{Pattern: "$.ts", Count: 9, Noise: 1, ExampleLegacy: "1700000000", ExampleCandidate: "1700000001",
						FieldVerdict: store.FieldVerdict{Verdict: stats.Noise, PValue: 0.59, QValue: 0.59, Test: store.TestPaired,
							OnlyCandidate: 9, OnlySecondary: 10, Both: 1, Neither: 180}}}},
			{Endpoint: "GET /users/{id}", Compared: 200, Matched: 182, Mismatched: 9, Noise: 9, SecondaryCompared: 200,
				Fields: []store.Field{{Pattern: "$.ts", Count: 9, Noise: 9, ExampleLegacy: "1700000000", ExampleCandidate: "1700000001",
					FieldVerdict: store.FieldVerdict{Verdict: stats.Noise, PValue: 0.59, QValue: 0.59, Test: store.TestPaired,
						OnlyCandidate: 9, OnlySecondary: 10, Both: 9, Neither: 172}},
					{Pattern: "$.nick", Count: 2, ExampleLegacy: `"a"`, ExampleCandidate: `"b"`,
						FieldVerdict: store.FieldVerdict{Verdict: stats.Undecided, PValue: 0.25, QValue: 0.25, Test: store.TestPaired,
							OnlyCandidate: 2, Neither: 198}}}},
		},
		Verdicts: store.VerdictSettings{Q: stats.DefaultQ, MinRelative: stats.DefaultMinRelative, MinAbsolute: stats.DefaultMinAbsolute},
	}
}

func TestGate_Statistical(t *testing.T) {
	r := statisticalReport()
	for _, tt := range []struct {
		name     string
		gate     report.Gate
		failures int64
		passed   bool
	}{
		{"count", report.Gate{}, 157, false},
		{"statistical", report.Gate{Mode: report.GateStatistical}, 74, false},
		{"statistical allows", report.Gate{Mode: report.GateStatistical, MaxMismatches: 74}, 74, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.gate.Check(r)
			if v.Failures != tt.failures || v.Passed != tt.passed {
				t.Errorf("failures %d passed %v (%s); want %d %v", v.Failures, v.Passed, v.Reason, tt.failures, tt.passed)
			}
		})
	}
	if _, err := report.ParseGateMode("strict"); err == nil {
		t.Error("--gate strict accepted")
	}
}

func TestGate_Check(t *testing.T) {
	r := replayReport() // 17 mismatches, 4 candidate errors
	tests := []struct {
		gate     report.Gate
		failures int64
		passed   bool
	}{
		{report.Gate{}, 21, false},
		{report.Gate{MaxMismatches: 21}, 21, true},
		{report.Gate{MaxMismatches: 20}, 21, false},
		{report.Gate{MaxMismatches: 17, AllowErrors: true}, 17, true},
		{report.Gate{MaxMismatches: 16, AllowErrors: true}, 17, false},
	}
	for _, tt := range tests {
		v := tt.gate.Check(r)
		if v.Failures != tt.failures || v.Passed != tt.passed {
			t.Errorf("%+v: failures %d passed %v (%s); want %d %v", tt.gate, v.Failures, v.Passed, v.Reason, tt.failures, tt.passed)
		}
	}
}
