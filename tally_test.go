package tandem_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/tandemproxy/tandem"
)

func TestTally_Add(t *testing.T) {
	tests := []struct {
		name string
		in   []tandem.Outcome
		want map[tandem.Outcome]int64
	}{
		{name: "Empty", want: map[tandem.Outcome]int64{}},
		{name: "Verdicts", in: []tandem.Outcome{tandem.Match, tandem.Match, tandem.Mismatch},
			want: map[tandem.Outcome]int64{tandem.Match: 2, tandem.Mismatch: 1}},
		{name: "NotCompared", in: []tandem.Outcome{tandem.Requests, tandem.SampledOut, tandem.Streamed, tandem.Dropped},
			want: map[tandem.Outcome]int64{tandem.Requests: 1, tandem.SampledOut: 1, tandem.Streamed: 1, tandem.Dropped: 1}},
		{name: "Unknown", in: []tandem.Outcome{"no_such_outcome"}, want: map[tandem.Outcome]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tl tandem.Tally
			for _, o := range tt.in {
				tl.Add(o)
			}
			seen := 0
			tl.Counts().Each(func(o tandem.Outcome, n int64) {
				seen++
				if n != tt.want[o] {
					t.Errorf("Each: %s = %d, want %d", o, n, tt.want[o])
				}
				if g := tl.Get(o); g != n {
					t.Errorf("Get(%s) = %d, Each said %d", o, g, n)
				}
				if !tandem.Tallied(o) {
					t.Errorf("Tallied(%s) = false for an outcome Each reports", o)
				}
			})
			if seen == 0 {
				t.Fatal("Each reported nothing")
			}
			if tandem.Tallied("no_such_outcome") || tl.Get("no_such_outcome") != 0 {
				t.Error("an unknown outcome is counted")
			}
		})
	}
}

func TestTally_Concurrent(t *testing.T) {
	var tl tandem.Tally
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				tl.Add(tandem.Requests)
			}
		}()
	}
	wg.Wait()
	if n := tl.Get(tandem.Requests); n != 8000 {
		t.Fatalf("requests = %d, want 8000", n)
	}
}

// Undo takes back an Add; an outcome the tally does not know stays at 0.
func TestTally_Undo(t *testing.T) {
	var tl tandem.Tally
	tl.Add(tandem.Mirrored)
	tl.Add(tandem.Mirrored)
	tl.Undo(tandem.Mirrored)
	tl.Undo(tandem.Outcome("unknown"))
	if got := tl.Get(tandem.Mirrored); got != 1 {
		t.Errorf("mirrored %d after two Adds and an Undo, want 1", got)
	}
	if got := tl.Get(tandem.Outcome("unknown")); got != 0 {
		t.Errorf("unknown outcome counted %d, want 0", got)
	}
}

// Counts is a copy of a Tally's counts that can be summed: the store sums
// its counters into one, and reads the verdicts' total from it.
func TestCounts(t *testing.T) {
	var tl tandem.Tally
	for _, o := range []tandem.Outcome{tandem.Match, tandem.Mismatch, tandem.Mismatch, tandem.Requests, tandem.Upgraded} {
		tl.Add(o)
	}
	c := tl.Counts()
	tl.Add(tandem.Match) // c is a copy: it does not see this
	if !c.Add(tandem.DiffError, 4) || c.Add("served_by_nobody", 7) {
		t.Error("Counts.Add: a tallied outcome refused, or an unknown one taken")
	}
	if got := c.Compared(); got != 1+2+4 {
		t.Errorf("Compared() = %d, want 7 (the verdicts only)", got)
	}
	for o, want := range map[tandem.Outcome]int64{tandem.Match: 1, tandem.Requests: 1, tandem.Upgraded: 1, "served_by_nobody": 0} {
		if got := c.Get(o); got != want {
			t.Errorf("Get(%s) = %d, want %d", o, got, want)
		}
	}
}

// Kept names what the store keeps as counters of their own: requests never
// compared; never a verdict, which the store derives from its exchange.
func TestKept(t *testing.T) {
	for _, o := range []tandem.Outcome{tandem.Requests, tandem.Skipped, tandem.Dropped, tandem.LegacyError, tandem.Upgraded, tandem.Streamed, tandem.SampledOut, tandem.Unrecorded, tandem.WebSocket} {
		if !tandem.Kept(o) {
			t.Errorf("Kept(%s) = false", o)
		}
	}
	for _, o := range []tandem.Outcome{tandem.Match, tandem.Mismatch, tandem.Noise, tandem.CandidateError, tandem.DiffError, tandem.Mirrored, tandem.Comparisons, tandem.SecondaryError, "nothing"} {
		if tandem.Kept(o) {
			t.Errorf("Kept(%s) = true", o)
		}
	}
}

// KeptSince gives the store the kept counts added since prev, and only
// those: never a verdict (the store derives those from exchanges), never
// an outcome that did not move.
func TestCounts_KeptSince(t *testing.T) {
	var tl tandem.Tally
	tl.Add(tandem.Requests)
	tl.Add(tandem.Match)
	prev := tl.Counts()
	for _, o := range []tandem.Outcome{tandem.Requests, tandem.Requests, tandem.Dropped, tandem.Match, tandem.Mirrored} {
		tl.Add(o)
	}
	got := tl.Counts().KeptSince(prev)
	want := []tandem.Count{{Name: "requests", N: 2}, {Name: "dropped", N: 1}}
	if !slices.Equal(got, want) {
		t.Errorf("KeptSince = %v, want %v", got, want)
	}
	if all := tl.Counts().KeptSince(tandem.Counts{}); !slices.Equal(all, []tandem.Count{{Name: "requests", N: 3}, {Name: "dropped", N: 1}}) {
		t.Errorf("KeptSince(empty) = %v", all)
	}
}
