package tui

import (
	"context"
	"encoding/json"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/tandemproxy/tandem/cutover"
	"github.com/tandemproxy/tandem/store"
)

// cutoverStates reads each endpoint's recorded cutover for the endpoints
// view (a database without one gives none).
func cutoverStates(ctx context.Context, db *store.DB) map[string]store.CutoverState {
	states, err := db.CutoverStates(ctx)
	if err != nil || len(states) == 0 {
		return nil
	}
	out := make(map[string]store.CutoverState, len(states))
	for _, s := range states {
		out[s.Endpoint] = s
	}
	return out
}

// cutoverText is an endpoint's cutover in a few words: state, share,
// step and the evidence behind the last decision.
func cutoverText(s store.CutoverState) string {
	var ev cutover.Evidence
	json.Unmarshal([]byte(s.Evidence), &ev)
	return fmt.Sprintf("cutover %s %g%% (step %d): %d judged, %d mismatched, %d errors, %d fallbacks",
		s.State, 100*s.Share, s.Step, ev.Exchanges, ev.Mismatches, ev.Errors, ev.Fallbacks)
}

// operateCutover pauses or rolls back an endpoint's cutover through the
// store, as tandem cutover does; a running proxy adopts it within a
// second.
func operateCutover(sh *shared, endpoint string, action cutover.Action) tea.Cmd {
	return func() tea.Msg {
		if err := cutover.Operate(sh.ctx, sh.db, endpoint, action, "tui: "+string(action)); err != nil {
			return statusMsg{text: "cutover: " + err.Error(), err: true}
		}
		return statusMsg{text: fmt.Sprintf("cutover: %s %s (a running proxy adopts it within a second)", action, endpoint)}
	}
}

// servedMark marks, in the exchanges list, a request the candidate
// answered (the client got its answer; legacy got the copy).
func servedMark(servedBy string) string {
	if servedBy == "candidate" {
		return "[served by candidate] "
	}
	return ""
}
