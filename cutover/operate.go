package cutover

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tandemproxy/tandem/store"
)

// Operator actions (tandem cutover …). Promote and Rollback are also the
// controller's.
const (
	Pause  Action = "pause"
	Resume Action = "resume"
)

// Operate carries out an operator's command on one endpoint's recorded
// cutover: the running proxy adopts it at its next poll. Promote moves to
// the next step of the plan (from shadow or rolled_back: the first);
// rollback serves everything from legacy; pause holds the step; resume
// lets a paused step gather evidence again, and puts a rolled-back
// endpoint back in shadow.
func Operate(ctx context.Context, db *store.DB, endpoint string, action Action, reason string) error {
	states, err := db.CutoverStates(ctx)
	if err != nil {
		return err
	}
	var cur *store.CutoverState
	for i := range states {
		if states[i].Endpoint == endpoint {
			cur = &states[i]
		}
	}
	if cur == nil {
		return fmt.Errorf("%s: no cutover recorded (the endpoint needs a cutover: plan in the rules of a proxy that has run on this database)", endpoint)
	}
	next := *cur
	switch State(cur.State) {
	case Shadow, Serving, Paused, RolledBack, Done:
	default:
		return fmt.Errorf("%s: unknown recorded state %q", endpoint, cur.State)
	}
	switch action {
	case Promote:
		var steps []float64
		if err := json.Unmarshal([]byte(cur.Plan), &steps); err != nil || len(steps) == 0 {
			return fmt.Errorf("%s: the recorded plan %q has no steps", endpoint, cur.Plan)
		}
		if State(cur.State) == RolledBack {
			next.Step = -1
		}
		if State(cur.State) == Done {
			return fmt.Errorf("%s: already done (share %g)", endpoint, cur.Share)
		}
		next.Step++
		next.Share, next.State = steps[next.Step], string(Serving)
		if next.Step == len(steps)-1 && next.Share >= 1 {
			next.State = string(Done)
		}
	case Rollback:
		next.Share, next.Step, next.State = 0, -1, string(RolledBack)
	case Pause:
		if State(cur.State) != Serving {
			return fmt.Errorf("%s: only a serving endpoint can be paused (it is %s)", endpoint, cur.State)
		}
		next.State = string(Paused)
	case Resume:
		switch State(cur.State) {
		case Paused:
			next.State = string(Serving)
		case RolledBack:
			next.State = string(Shadow)
		default:
			return fmt.Errorf("%s: only a paused or rolled-back endpoint can be resumed (it is %s)", endpoint, cur.State)
		}
	default:
		return fmt.Errorf("unknown action %q (want promote, rollback, pause or resume)", action)
	}
	if reason == "" {
		reason = "operator: " + string(action)
	}
	return db.ChangeCutover(ctx, next, store.CutoverEvent{Actor: ActorOperator, Action: string(action), Reason: reason})
}
