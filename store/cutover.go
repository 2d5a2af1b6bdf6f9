package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// CutoverState is one endpoint's cutover now (table cutover_state): the
// candidate's share, the step of its plan (-1: not started), the state
// (shadow, serving, paused, rolled_back, done: package cutover) and the
// evidence of the last decision, as JSON.
type CutoverState struct {
	Endpoint  string    `json:"endpoint"`
	Share     float64   `json:"share"`
	Step      int       `json:"step"`
	State     string    `json:"state"`
	Evidence  string    `json:"-"`
	Plan      string    `json:"-"` // the steps, JSON: [0.01, 0.1, …]
	UpdatedAt time.Time `json:"updated_at"`
}

// CutoverEvent is one change of an endpoint's cutover, by the proxy's
// controller or an operator: the audit trail (table cutover_events).
type CutoverEvent struct {
	ID        int64     `json:"id"`
	Time      time.Time `json:"time"`
	Endpoint  string    `json:"endpoint"`
	Actor     string    `json:"actor"`  // "controller", "operator"
	Action    string    `json:"action"` // promote, rollback, pause, resume, start
	FromState string    `json:"from_state"`
	ToState   string    `json:"to_state"`
	FromShare float64   `json:"from_share"`
	ToShare   float64   `json:"to_share"`
	Step      int       `json:"step"`
	Reason    string    `json:"reason"`
	Evidence  string    `json:"evidence"` // JSON
}

// CutoverStates returns every endpoint's cutover state, by endpoint.
func (db *DB) CutoverStates(ctx context.Context) ([]CutoverState, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT endpoint, share, step, state, evidence, plan, updated_at FROM cutover_state ORDER BY endpoint`)
	if err != nil {
		return nil, fmt.Errorf("read cutover state: %w", translate(err))
	}
	defer rows.Close()
	var out []CutoverState
	for rows.Next() {
		var s CutoverState
		var ts int64
		if err := rows.Scan(&s.Endpoint, &s.Share, &s.Step, &s.State, &s.Evidence, &s.Plan, &ts); err != nil {
			return nil, fmt.Errorf("read cutover state: %w", translate(err))
		}
		s.UpdatedAt = time.Unix(0, ts)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cutover state: %w", translate(err))
	}
	return out, nil
}

// ChangeCutover records a change: the endpoint's new state and its audit
// row, in one transaction, so that no change is without its reason. The
// event's From fields are filled from the state it replaces.
func (db *DB) ChangeCutover(ctx context.Context, s CutoverState, ev CutoverEvent) error {
	now := time.Now()
	if db.Now != nil {
		now = db.Now()
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("change cutover of %s: %w", s.Endpoint, translate(err))
	}
	defer tx.Rollback()
	if err := changeCutover(ctx, tx, now, s, ev); err != nil {
		return fmt.Errorf("change cutover of %s: %w", s.Endpoint, translate(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("change cutover of %s: %w", s.Endpoint, translate(err))
	}
	return nil
}

func changeCutover(ctx context.Context, tx *sql.Tx, now time.Time, s CutoverState, ev CutoverEvent) error {
	ev.FromState, ev.FromShare = "shadow", 0
	err := tx.QueryRowContext(ctx, `SELECT state, share FROM cutover_state WHERE endpoint = ?`, s.Endpoint).Scan(&ev.FromState, &ev.FromShare)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if s.Evidence == "" {
		s.Evidence = "{}"
	}
	if s.Plan == "" {
		s.Plan = "[]"
	}
	if ev.Evidence == "" {
		ev.Evidence = s.Evidence
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cutover_state (endpoint, share, step, state, evidence, plan, updated_at) VALUES (?,?,?,?,?,?,?)
		ON CONFLICT (endpoint) DO UPDATE SET share = excluded.share, step = excluded.step, state = excluded.state,
		evidence = excluded.evidence, plan = excluded.plan, updated_at = excluded.updated_at`,
		s.Endpoint, s.Share, s.Step, s.State, s.Evidence, s.Plan, now.UnixNano()); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO cutover_events (ts, endpoint, actor, action, from_state, to_state, from_share, to_share, step, reason, evidence)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		now.UnixNano(), s.Endpoint, ev.Actor, ev.Action, ev.FromState, s.State, ev.FromShare, s.Share, s.Step, ev.Reason, ev.Evidence)
	return err
}

// CutoverEvents returns the audit trail, oldest first; endpoint "" is
// every endpoint's.
func (db *DB) CutoverEvents(ctx context.Context, endpoint string) ([]CutoverEvent, error) {
	q := `SELECT id, ts, endpoint, actor, action, from_state, to_state, from_share, to_share, step, reason, evidence FROM cutover_events`
	var args []any
	if endpoint != "" {
		q += ` WHERE endpoint = ?`
		args = append(args, endpoint)
	}
	rows, err := db.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read cutover events: %w", translate(err))
	}
	defer rows.Close()
	var out []CutoverEvent
	for rows.Next() {
		var e CutoverEvent
		var ts int64
		if err := rows.Scan(&e.ID, &ts, &e.Endpoint, &e.Actor, &e.Action, &e.FromState, &e.ToState, &e.FromShare, &e.ToShare, &e.Step, &e.Reason, &e.Evidence); err != nil {
			return nil, fmt.Errorf("read cutover events: %w", translate(err))
		}
		e.Time = time.Unix(0, ts)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read cutover events: %w", translate(err))
	}
	return out, nil
}

// NoteCutoverEvidence updates the evidence of an endpoint's current step
// (what tandem cutover status shows), with no audit row: nothing changed.
func (db *DB) NoteCutoverEvidence(ctx context.Context, endpoint, evidence string) error {
	if _, err := db.db.ExecContext(ctx, `UPDATE cutover_state SET evidence = ? WHERE endpoint = ?`, evidence, endpoint); err != nil {
		return fmt.Errorf("note cutover evidence of %s: %w", endpoint, translate(err))
	}
	return nil
}

// servedByCounter prefixes the per-endpoint counters of exchanges by the
// side that served them ("served_by_candidate").
const servedByCounter = "served_by_"

func (e *EndpointReport) addServed(name string, n int64) {
	side, ok := strings.CutPrefix(name, servedByCounter)
	if !ok {
		return
	}
	if e.ServedBy == nil {
		e.ServedBy = map[string]int64{}
	}
	e.ServedBy[side] += n
}
