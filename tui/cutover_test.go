package tui

import (
	"context"
	"testing"

	"github.com/tandemproxy/tandem/store"
)

// The endpoints view shows an endpoint's cutover, and p and R pause and
// roll it back through the store (as tandem cutover does).
func TestEndpoints_Cutover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ep := "GET /api/users/{id}"
	if err := f.db.ChangeCutover(ctx, store.CutoverState{Endpoint: ep, Share: 0.1, Step: 1, State: "serving", Plan: "[0.01,0.1,1]",
		Evidence: `{"exchanges":42,"mismatches":1}`}, store.CutoverEvent{Actor: "controller", Action: "promote", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, f, 120, 40)
	h.keys("home")
	h.contains("cutover serving 10% (step 1): 42 judged, 1 mismatched")
	state := func() string {
		states, err := f.db.CutoverStates(ctx)
		if err != nil || len(states) != 1 {
			t.Fatalf("states %+v, %v", states, err)
		}
		return states[0].State
	}
	h.keys("p")
	if got := state(); got != "paused" {
		t.Errorf("after p: %s, want paused", got)
	}
	h.contains("cutover: pause " + ep)
	h.keys("R")
	if got := state(); got != "rolled_back" {
		t.Errorf("after R: %s, want rolled_back", got)
	}
	evs, err := f.db.CutoverEvents(ctx, ep)
	if err != nil || len(evs) != 3 || evs[2].Actor != "operator" || evs[2].Reason != "tui: rollback" {
		t.Errorf("audit %+v, %v", evs, err)
	}
}

func TestServedMark(t *testing.T) {
	for in, want := range map[string]string{"": "", "legacy": "", "candidate": "[served by candidate] "} {
		if got := servedMark(in); got != want {
			t.Errorf("servedMark(%q) = %q, want %q", in, got, want)
		}
	}
}
