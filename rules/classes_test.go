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
			diffs, err := e.Comparer.Compare(classJSONResp(tt.a), classJSONResp(tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != tt.want {
				t.Errorf("%d differences %+v, want %d", len(diffs), diffs, tt.want)
			}
		})
	}
}

// normalize: {class: …} rewrites the values of a class inside strings and
// text bodies, to <class> unless replace says otherwise.
func TestParse_NormalizeClass(t *testing.T) {
	s := MustParse(t, `version: 1
endpoints:
  - match: GET /log
    normalize:
      - {class: uuid}
      - {class: timestamp, replace: T}
`)
	e := s.Endpoints()[0]
	want := []rules.NormalizeRule{{Class: "uuid", Replace: "<uuid>"}, {Class: "timestamp", Replace: "T"}}
	if d := cmp.Diff(want, e.Config.Normalize); d != "" {
		t.Errorf("normalize (-want +got):\n%s", d)
	}
	text := func(body string) *tandem.Response {
		return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte(body)}
	}
	tests := []struct {
		name string
		a, b *tandem.Response
		want int
	}{
		{"TextUUIDs", text("req 123e4567-e89b-12d3-a456-426614174000 at 2024-01-02T10:00:00Z ok\n"), text("req 9b2e4567-e89b-12d3-a456-426614174999 at 2025-06-07T11:12:13.5+02:00 ok\n"), 0},
		{"TextOtherWord", text("req 123e4567-e89b-12d3-a456-426614174000 ok\n"), text("req 123e4567-e89b-12d3-a456-426614174000 failed\n"), 1},
		{"JSONString", classJSONResp(`{"msg":"order 123e4567-e89b-12d3-a456-426614174000 placed"}`), classJSONResp(`{"msg":"order 00000000-0000-4000-8000-000000000000 placed"}`), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diffs, err := e.Comparer.Compare(tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if len(diffs) != tt.want {
				t.Errorf("%d differences %+v, want %d", len(diffs), diffs, tt.want)
			}
		})
	}
}

func classJSONResp(body string) *tandem.Response {
	return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(body)}
}
