package store

// The listings a triage screen reads: an endpoint's fields with their
// decisions, the stored exchanges as summaries, and the trend of
// mismatches per minute. The decisions themselves are written in
// triage.go.

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/tandemproxy/tandem"
)

// EndpointField is a pattern at which an endpoint's exchanges differed,
// with the decision on it.
type EndpointField struct {
	Field
	Triage Triage
}

// Fields returns the patterns at which the endpoint's exchanges differed,
// for real or as noise, most frequent first.
func (db *DB) Fields(ctx context.Context, endpoint string) ([]EndpointField, error) {
	counts, err := db.fieldCounts(ctx, endpoint)
	if err != nil {
		return nil, fmt.Errorf("fields of %s: %w", endpoint, err)
	}
	decided, err := db.patternTriage(ctx, "WHERE endpoint = ?", endpoint)
	if err != nil {
		return nil, err
	}
	var out []EndpointField
	for _, f := range counts {
		t, ok := decided[fieldKey{endpoint, f.Pattern}]
		if !ok {
			t = Triage{State: TriageOpen}
		}
		out = append(out, EndpointField{Field: f.Field, Triage: t})
	}
	return out, nil
}

// Summary is a stored exchange as a listing shows it: no headers, no
// bodies.
type Summary struct {
	ID               int64
	Time             time.Time
	Endpoint         string
	Method, URL      string
	Outcome          tandem.Outcome
	LegacyStatus     int
	CandidateStatus  int
	LegacyLatency    time.Duration
	CandidateLatency time.Duration
	CandidateError   string
	// ServedBy is the side that answered the client (cutover), "" for
	// shadow traffic.
	ServedBy string
	// Patterns are the distinct patterns at which it differs for real;
	// NoisePatterns those at which it differs as noise.
	Patterns      []string
	NoisePatterns []string
	// Triage is the exchange's own decision (state open when there is none).
	Triage Triage
	// State is the decision in force: the exchange's own when it has one;
	// otherwise bug when one of its patterns is a bug, accepted when all of
	// them are accepted, and open.
	State TriageState
}

// Summaries lists the stored exchanges that f selects, with their
// decisions.
func (db *DB) Summaries(ctx context.Context, f Filter) ([]Summary, error) {
	where, args := db.scoped(f).where()
	q := `SELECT id, ts, endpoint, method, url, outcome, legacy_status, candidate_status, legacy_latency_us, candidate_latency_us,
			candidate_error, coalesce(t.state, ''), coalesce(t.note, ''), coalesce(t.updated, 0), served_by
		FROM exchanges LEFT JOIN exchange_triage t ON t.exchange_id = id` + where + f.order()
	rows, err := db.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list exchanges: %w", translate(err))
	}
	var out []Summary
	for rows.Next() {
		var s Summary
		var ts, legUS, candUS, updated int64
		var outcome, state string
		if err := rows.Scan(&s.ID, &ts, &s.Endpoint, &s.Method, &s.URL, &outcome, &s.LegacyStatus, &s.CandidateStatus, &legUS, &candUS,
			&s.CandidateError, &state, &s.Triage.Note, &updated, &s.ServedBy); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list exchanges: %w", translate(err))
		}
		s.Time, s.Outcome = time.Unix(0, ts), tandem.Outcome(outcome)
		s.LegacyLatency, s.CandidateLatency = time.Duration(legUS)*time.Microsecond, time.Duration(candUS)*time.Microsecond
		s.Triage.State = TriageOpen
		if state != "" {
			s.Triage.State, s.Triage.Updated = TriageState(state), time.Unix(0, updated)
		}
		out = append(out, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list exchanges: %w", translate(err))
	}
	if err := db.summaryPatterns(ctx, out); err != nil {
		return nil, err
	}
	decided, err := db.patternTriage(ctx, "")
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].State = effectiveState(&out[i], decided)
	}
	return out, nil
}

func effectiveState(s *Summary, decided map[fieldKey]Triage) TriageState {
	if s.Triage.State != TriageOpen || s.Triage.Note != "" {
		return s.Triage.State
	}
	accepted := 0
	for _, p := range s.Patterns {
		switch decided[fieldKey{s.Endpoint, p}].State {
		case TriageBug:
			return TriageBug
		case TriageAccepted:
			accepted++
		}
	}
	if accepted > 0 && accepted == len(s.Patterns) {
		return TriageAccepted
	}
	return TriageOpen
}

func (db *DB) summaryPatterns(ctx context.Context, out []Summary) error {
	byID := make(map[int64]*Summary, len(out))
	ids := make([]any, len(out))
	for i := range out {
		byID[out[i].ID] = &out[i]
		ids[i] = out[i].ID
	}
	// Chunks stay under SQLite's limit on bound parameters.
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		// Not DISTINCT: PostgreSQL orders a DISTINCT only by what it
		// selects; appendNew drops the repeats.
		rows, err := db.db.QueryContext(ctx, `SELECT exchange_id, pattern, noise FROM differences
			WHERE exchange_id IN (?`+strings.Repeat(",?", len(chunk)-1)+`) ORDER BY rowid`, chunk...)
		if err != nil {
			return fmt.Errorf("list exchanges: %w", translate(err))
		}
		for rows.Next() {
			var id int64
			var p string
			var noise bool
			if err := rows.Scan(&id, &p, &noise); err != nil {
				rows.Close()
				return fmt.Errorf("list exchanges: %w", translate(err))
			}
			s := byID[id]
			if noise {
				s.NoisePatterns = appendNew(s.NoisePatterns, p)
			} else {
				s.Patterns = appendNew(s.Patterns, p)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list exchanges: %w", translate(err))
		}
	}
	return nil
}

func appendNew(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

// Trend returns, per endpoint, how many exchanges mismatched in each of n
// equal spans of time that end with the database's latest minute and
// cover its whole history (spans are one minute at least).
func (db *DB) Trend(ctx context.Context, n int) (map[string][]int64, error) {
	out := map[string][]int64{}
	if n <= 0 {
		return out, nil
	}
	var first, last sql.NullInt64
	scope, scopeArgs := db.instanceWhere("AND")
	if err := db.db.QueryRowContext(ctx, "SELECT min(minute), max(minute) FROM counters WHERE endpoint != ''"+scope, scopeArgs...).Scan(&first, &last); err != nil {
		return nil, fmt.Errorf("trend: %w", translate(err))
	}
	if !last.Valid {
		return out, nil
	}
	width := max(1, (last.Int64-first.Int64+int64(n))/int64(n)) // ceil((span+1)/n)
	start := last.Int64 - int64(n)*width + 1
	rows, err := db.db.QueryContext(ctx, `SELECT endpoint, minute, sum(n) FROM counters
		WHERE name = ? AND endpoint != '' AND minute >= ?`+scope+` GROUP BY endpoint, minute`,
		append([]any{string(tandem.Mismatch), start}, scopeArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("trend: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var ep string
		var minute, count int64
		if err := rows.Scan(&ep, &minute, &count); err != nil {
			return nil, fmt.Errorf("trend: %w", translate(err))
		}
		if out[ep] == nil {
			out[ep] = make([]int64, n)
		}
		out[ep][(minute-start)/width] += count
	}
	return out, rows.Err()
}
