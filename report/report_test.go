package report_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/report"
	"github.com/tandemproxy/tandem/store"
)

func sample() *store.Report {
	return &store.Report{
		Totals: store.Totals{Requests: 120, Compared: 100, Matched: 80, Mismatched: 15, Noise: 3, CandidateErrors: 2, Skipped: 20},
		Endpoints: []store.EndpointReport{
			{Endpoint: "GET /api/users/{id}", Compared: 60, Matched: 42, Mismatched: 15, Noise: 3,
				Fields: []store.Field{
					{Pattern: "$.items[*].price", Count: 12, ExampleLegacy: "10.5", ExampleCandidate: "10.6"},
					{Pattern: "$.email", Count: 3, ExampleLegacy: `"a@example.com"`, ExampleCandidate: `"A@example.com"`},
				},
				NoisyFields:       []store.NoisyField{{Pattern: "$.requestId", Count: 40, Rate: 1}},
				SecondaryCompared: 40},
			{Endpoint: "GET /health", Compared: 40, Matched: 38, CandidateErrors: 2, Fields: []store.Field{}, NoisyFields: []store.NoisyField{}},
		},
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
