package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/rules"
)

func TestParse_Serving(t *testing.T) {
	rs, err := rules.Parse("r.yaml", []byte(`version: 1
defaults:
  fallback_on_5xx: true
endpoints:
  - match: GET /items/{id}
    serve: 0.1
    cutover: {steps: [0.05, 0.5, 1.0], min_exchanges: 20, hold: 1s, max_mismatch_rate: 0.02, confidence: 0.99}
  - match: POST /items
    serve_writes: true
`))
	if err != nil {
		t.Fatal(err)
	}
	get := rs.Lookup("GET /items/{id}")
	if get.ServeShare() != 0.1 || !get.FallsBackOn5xx() || get.ServesWrites() || !get.Serving() {
		t.Errorf("GET: share %v fallback %v writes %v", get.ServeShare(), get.FallsBackOn5xx(), get.ServesWrites())
	}
	want := &rules.CutoverPlan{Steps: []float64{0.05, 0.5, 1}, MinExchanges: 20, Hold: time.Second, MaxMismatchRate: 0.02,
		MaxErrorRate: rules.DefaultMaxErrorRate, Confidence: 0.99, FallbackBurst: rules.DefaultFallbackBurst, FallbackWindow: rules.DefaultFallbackWindow}
	if d := cmp.Diff(want, get.Plan()); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
	post := rs.Lookup("POST /items")
	if post.ServeShare() != 0 || !post.ServesWrites() || post.Serving() {
		t.Errorf("POST: share %v writes %v serving %v", post.ServeShare(), post.ServesWrites(), post.Serving())
	}
}

func TestParse_ServingErrors(t *testing.T) {
	for _, tc := range []struct{ name, rule, want string }{
		{"ShareOver1", "serve: 1.5", "serve: 1.5 is not a fraction"},
		{"StepsDown", "cutover: {steps: [0.5, 0.1]}", "each step is a share above the one before"},
		{"BadHold", "cutover: {hold: soon}", `cutover hold: "soon" is not a duration`},
		{"Confidence1", "cutover: {confidence: 1}", "cutover confidence: 1 is not a fraction"},
		{"UnknownKey", "cutover: {stepz: [1]}", `unknown key "stepz" (did you mean "steps"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rules.Parse("r.yaml", []byte("version: 1\nendpoints:\n  - match: GET /x\n    "+tc.rule+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
