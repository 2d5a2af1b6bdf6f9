package report_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/report"
	"github.com/tandemproxy/tandem/stats"
	"github.com/tandemproxy/tandem/store"
)

func sample() *store.Report {
	return &store.Report{
		Totals: store.Totals{Requests: 120, Compared: 100, Matched: 80, Mismatched: 15, Noise: 3, CandidateErrors: 2, Skipped: 20},
		Endpoints: []store.EndpointReport{
			{Endpoint: "GET /api/users/{id}", Compared: 60, Matched: 42, Mismatched: 15, Noise: 3,
				Fields: []store.Field{
					{Pattern: "$.items[*].price", Count: 12, ExampleLegacy: "10.5", ExampleCandidate: "10.6",
						FieldVerdict: store.FieldVerdict{Verdict: stats.Regression, PValue: 0.00024414, QValue: 0.00048828, Test: store.TestPaired,
							OnlyCandidate: 12, Both: 0, Neither: 28}},
					{Pattern: "$.email", Count: 3, ExampleLegacy: `"a@example.com"`, ExampleCandidate: `"A@example.com"`,
						FieldVerdict: store.FieldVerdict{Verdict: stats.Undecided, PValue: 0.125, QValue: 0.125, Test: store.TestPaired,
							OnlyCandidate: 3, Neither: 37}},
				},
				NoisyFields:       []store.NoisyField{{Pattern: "$.requestId", Count: 40, Rate: 1}},
				SecondaryCompared: 40},
			{Endpoint: "GET /health", Compared: 40, Matched: 38, CandidateErrors: 2, Fields: []store.Field{}, NoisyFields: []store.NoisyField{}},
		},
		Verdicts: store.VerdictSettings{Q: stats.DefaultQ, MinRelative: stats.DefaultMinRelative, MinAbsolute: stats.DefaultMinAbsolute},
	}
}

func TestText(t *testing.T) {
	var b bytes.Buffer
	if err := report.Text(&b, sample(), 5); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", b.Bytes())
	b.Reset()
	report.Text(&b, &store.Report{}, 5)
	golden(t, "empty.txt", b.Bytes())
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := report.JSON(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", b.Bytes())
	var back store.Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(*sample(), back); d != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", d)
	}
}

// TestJSON_Keys: the keys of the JSON report are a contract (issue 2's,
// with issue 3's noisy_fields and the README's additions): every one is
// present at every level, even when its value is zero or empty.
func TestJSON_Keys(t *testing.T) {
	r := sample()
	// A field only the candidate has: no legacy example, and the key stays.
	r.Endpoints[0].Fields = append(r.Endpoints[0].Fields, store.Field{Pattern: "$.added", Count: 1, ExampleCandidate: "1"})
	var b bytes.Buffer
	if err := report.JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	has := func(where string, obj any, keys ...string) {
		t.Helper()
		m, ok := obj.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, not an object", where, obj)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s lacks %q", where, k)
			}
		}
	}
	has("the report", got, "totals", "endpoints", "verdicts")
	has("verdicts", got["verdicts"], "q", "min_relative", "min_absolute")
	has("totals", got["totals"], "requests", "compared", "matched", "mismatched", "noise", "candidate_errors", "dropped", "skipped",
		"diff_errors", "legacy_errors", "streamed")
	for _, e := range got["endpoints"].([]any) {
		has("an endpoint", e, "endpoint", "compared", "matched", "mismatched", "noise", "candidate_errors", "diff_errors",
			"fields", "noisy_fields", "secondary_compared", "latency")
		em := e.(map[string]any)
		for _, f := range em["fields"].([]any) {
			has("a field", f, "pattern", "count", "noise", "example_legacy", "example_candidate",
				// Issue 12's verdicts and the counts they rest on.
				"verdict", "p_value", "q_value", "test", "only_candidate", "only_secondary", "both", "neither",
				"unpaired_compared", "unpaired_differs", "baseline_rate", "baseline_bound", "unexplained")
		}
		for _, f := range em["noisy_fields"].([]any) {
			has("a noisy field", f, "pattern", "count", "rate")
		}
		has("latency", em["latency"], "legacy_p50_ms", "legacy_p99_ms", "candidate_p50_ms", "candidate_p99_ms")
	}
	// An empty database still has the shape: lists, not null.
	b.Reset()
	if err := report.JSON(&b, &store.Report{Endpoints: []store.EndpointReport{}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"endpoints": []`) {
		t.Errorf("empty report: %s", b.String())
	}
}
