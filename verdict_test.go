package tandem_test

import (
	"testing"

	"github.com/tandemproxy/tandem"
)

func TestSameVerdict(t *testing.T) {
	judged := func() *tandem.Exchange {
		return &tandem.Exchange{ID: 7, Endpoint: "GET /users/{id}", Outcome: tandem.Mismatch,
			Differences:   []tandem.Difference{{Path: "$.a", Pattern: "$.a", Kind: tandem.Changed, Legacy: "1", Candidate: "2"}},
			NoisePatterns: []string{"$.t"}}
	}
	tests := []struct {
		name   string
		change func(ex *tandem.Exchange)
		want   bool
	}{
		{"Same", func(*tandem.Exchange) {}, true},
		// What judging does not decide does not count.
		{"OtherRequest", func(ex *tandem.Exchange) { ex.Request.URL = "/users/8"; ex.ID = 8 }, true},
		{"NilAndEmptyDifferences", func(ex *tandem.Exchange) { ex.Differences = nil }, false},
		{"Endpoint", func(ex *tandem.Exchange) { ex.Endpoint = "GET /users/{user}" }, false},
		{"Outcome", func(ex *tandem.Exchange) { ex.Outcome = tandem.Noise }, false},
		{"Error", func(ex *tandem.Exchange) { ex.Error = "budget" }, false},
		{"DifferenceKind", func(ex *tandem.Exchange) { ex.Differences[0].Kind = tandem.Type }, false},
		{"NoisePatterns", func(ex *tandem.Exchange) { ex.NoisePatterns = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := judged(), judged()
			tt.change(b)
			if got := tandem.SameVerdict(a, b); got != tt.want {
				t.Errorf("SameVerdict = %v, want %v", got, tt.want)
			}
			if got := tandem.SameVerdict(b, a); got != tt.want {
				t.Errorf("SameVerdict reversed = %v, want %v", got, tt.want)
			}
		})
	}
	// Empty lists are the same however they are spelled: the store reads
	// back nil where the judge wrote an empty slice.
	a, b := judged(), judged()
	a.Differences, b.Differences = nil, []tandem.Difference{}
	a.NoisePatterns, b.NoisePatterns = []string{}, nil
	if !tandem.SameVerdict(a, b) {
		t.Error("nil and empty lists differ")
	}
}
