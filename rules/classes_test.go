package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
)

func TestParse_IgnoreValues(t *testing.T) {
	s := MustParse(t, `version: 1
defaults:
  ignore_values: {"$..id": uuid}
endpoints:
  - match: GET /api/orders/{id}
    ignore_values:
      "$.createdAt": timestamp
      "/order/@id": uuid
`)
	e := s.Endpoints()[0]
	want := []rules.ValueRule{{Path: "$..id", Class: "uuid"}, {Path: "$.createdAt", Class: "timestamp"}, {Path: "/order/@id", Class: "uuid"}}
	if d := cmp.Diff(want, e.Config.IgnoreValues); d != "" {
		t.Errorf("ignore_values (-want +got):\n%s", d)
	}
	resp := func(body string) *tandem.Response {
		return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(body)}
	}
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"BothUUIDs", `{"id":"123e4567-e89b-12d3-a456-426614174000","createdAt":1700000000}`, `{"id":"223e4567-e89b-12d3-a456-426614174000","createdAt":1700000500}`, 0},
		{"CandidateSendsNull", `{"id":"123e4567-e89b-12d3-a456-426614174000"}`, `{"id":null}`, 1},
		{"CandidateSendsMillis", `{"createdAt":1700000000}`, `{"createdAt":1700000000000}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diffs, err := e.Compare.Compare(resp(tt.a), resp(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != tt.want {
				t.Errorf("%d differences %+v, want %d", len(diffs), diffs, tt.want)
			}
		})
	}
}
