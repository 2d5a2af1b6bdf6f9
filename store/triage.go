package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TriageState is what a person decided about an exchange or a pattern.
type TriageState string

// Triage states. Open is the default: nothing decided yet.
const (
	TriageOpen     TriageState = "open"
	TriageAccepted TriageState = "accepted" // an expected change
	TriageBug      TriageState = "bug"
)

// TriageStates lists the states in the order they are shown.
var TriageStates = []TriageState{TriageOpen, TriageBug, TriageAccepted}

// ParseTriageState checks a state name.
func ParseTriageState(s string) (TriageState, error) {
	switch st := TriageState(s); st {
	case TriageOpen, TriageAccepted, TriageBug:
		return st, nil
	}
	return "", fmt.Errorf("triage state %q: want open, accepted or bug", s)
}

// Triage is a decision with an optional note.
type Triage struct {
	State   TriageState `json:"state"`
	Note    string      `json:"note,omitempty"`
	Updated time.Time   `json:"updated,omitzero"`
}

// SetExchangeTriage records the decision on one stored exchange. Open with
// no note forgets it.
func (db *DB) SetExchangeTriage(ctx context.Context, id int64, t Triage) error {
	if _, err := ParseTriageState(string(t.State)); err != nil {
		return err
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if t.State == TriageOpen && t.Note == "" {
			_, err := tx.ExecContext(ctx, "DELETE FROM exchange_triage WHERE exchange_id = ?", id)
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM exchanges WHERE id = ?", id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("exchange %d: not found", id)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO exchange_triage (exchange_id, state, note, updated) VALUES (?,?,?,?)
			ON CONFLICT (exchange_id) DO UPDATE SET state = excluded.state, note = excluded.note, updated = excluded.updated`,
			id, string(t.State), t.Note, db.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("triage exchange %d: %w", id, translate(err))
	}
	return nil
}

// SetPatternTriage records the decision on a pattern of an endpoint: it
// applies to every exchange of the endpoint that differs there, unless the
// exchange has a decision of its own. Open with no note forgets it.
func (db *DB) SetPatternTriage(ctx context.Context, endpoint, pattern string, t Triage) error {
	if _, err := ParseTriageState(string(t.State)); err != nil {
		return err
	}
	var err error
	if t.State == TriageOpen && t.Note == "" {
		_, err = db.db.ExecContext(ctx, "DELETE FROM pattern_triage WHERE endpoint = ? AND pattern = ?", endpoint, pattern)
	} else {
		_, err = db.db.ExecContext(ctx, `INSERT INTO pattern_triage (endpoint, pattern, state, note, updated) VALUES (?,?,?,?,?)
			ON CONFLICT (endpoint, pattern) DO UPDATE SET state = excluded.state, note = excluded.note, updated = excluded.updated`,
			endpoint, pattern, string(t.State), t.Note, db.Now().UnixNano())
	}
	if err != nil {
		return fmt.Errorf("triage %s %s: %w", endpoint, pattern, translate(err))
	}
	return nil
}

// ExchangeTriage returns the decision on one exchange (state open when
// there is none).
func (db *DB) ExchangeTriage(ctx context.Context, id int64) (Triage, error) {
	t := Triage{State: TriageOpen}
	var state string
	var updated int64
	err := db.db.QueryRowContext(ctx, "SELECT state, note, updated FROM exchange_triage WHERE exchange_id = ?", id).Scan(&state, &t.Note, &updated)
	switch {
	case err == sql.ErrNoRows:
		return t, nil
	case err != nil:
		return t, fmt.Errorf("triage of exchange %d: %w", id, translate(err))
	}
	t.State, t.Updated = TriageState(state), time.Unix(0, updated)
	return t, nil
}

// PatternTriage returns the decisions on an endpoint's patterns.
func (db *DB) PatternTriage(ctx context.Context, endpoint string) (map[string]Triage, error) {
	all, err := db.patternTriage(ctx, "WHERE endpoint = ?", endpoint)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Triage, len(all))
	for k, t := range all {
		out[k.pattern] = t
	}
	return out, nil
}

func (db *DB) patternTriage(ctx context.Context, where string, args ...any) (map[fieldKey]Triage, error) {
	rows, err := db.db.QueryContext(ctx, "SELECT endpoint, pattern, state, note, updated FROM pattern_triage "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("pattern triage: %w", translate(err))
	}
	defer rows.Close()
	out := map[fieldKey]Triage{}
	for rows.Next() {
		var k fieldKey
		var t Triage
		var state string
		var updated int64
		if err := rows.Scan(&k.endpoint, &k.pattern, &state, &t.Note, &updated); err != nil {
			return nil, fmt.Errorf("pattern triage: %w", translate(err))
		}
		t.State, t.Updated = TriageState(state), time.Unix(0, updated)
		out[k] = t
	}
	return out, rows.Err()
}
