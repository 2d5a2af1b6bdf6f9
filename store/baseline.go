package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/stats"
)

// Baseline is what tandem baseline learned: how often legacy differs from
// itself, per endpoint and pattern, the noise model where no secondary
// runs.
type Baseline struct {
	Endpoints []BaselineEndpoint `json:"endpoints"`
}

// BaselineEndpoint is one endpoint's baseline.
type BaselineEndpoint struct {
	Endpoint string `json:"endpoint"`
	// Compared counts the comparisons of legacy with itself (every run of
	// every request that legacy answered twice).
	Compared int64     `json:"compared"`
	Runs     int       `json:"runs"`
	Learned  time.Time `json:"learned"`
	Source   string    `json:"source"`
	// Patterns are where legacy differed from itself, most often first.
	Patterns []BaselinePattern `json:"patterns"`
}

// BaselinePattern is a pattern at which legacy differed from itself.
type BaselinePattern struct {
	Pattern string `json:"pattern"`
	Differs int64  `json:"differs"`
	// Presence counts the comparisons in which the value was there in one
	// answer only; Type those in which its type changed.
	Presence int64   `json:"presence"`
	Type     int64   `json:"type"`
	Rate     float64 `json:"rate"` // Differs / Compared
}

// Endpoint returns the named endpoint's baseline (a zero one when there is
// none).
func (b *Baseline) Endpoint(name string) *BaselineEndpoint {
	for i := range b.Endpoints {
		if b.Endpoints[i].Endpoint == name {
			return &b.Endpoints[i]
		}
	}
	return &BaselineEndpoint{Endpoint: name}
}

// Pattern returns the pattern's counts (zero when legacy never differed
// there).
func (e *BaselineEndpoint) Pattern(p string) BaselinePattern {
	for _, bp := range e.Patterns {
		if bp.Pattern == p {
			return bp
		}
	}
	return BaselinePattern{Pattern: p}
}

// Rate is the share of comparisons in which legacy differed at the
// pattern (0 without a baseline).
func (e *BaselineEndpoint) Rate(p BaselinePattern) float64 {
	if e.Compared == 0 {
		return 0
	}
	return float64(p.Differs) / float64(e.Compared)
}

// Bound is the one-sided Clopper–Pearson upper bound, at confidence
// level, on the rate at which legacy differs at the pattern: the highest
// rate the baseline is consistent with. Without a baseline it is 0: legacy
// is taken never to differ from itself, as tandem did before baselines.
func (e *BaselineEndpoint) Bound(p BaselinePattern, level float64) float64 {
	if e.Compared == 0 {
		return 0
	}
	_, hi := stats.ClopperPearson(p.Differs, e.Compared, 2*(1-level))
	return hi
}

// Baseline returns the stored baseline.
func (db *DB) Baseline(ctx context.Context) (*Baseline, error) {
	b := &Baseline{Endpoints: []BaselineEndpoint{}}
	rows, err := db.db.QueryContext(ctx, "SELECT endpoint, compared, runs, learned, source FROM baseline_endpoints ORDER BY endpoint")
	if err != nil {
		return nil, fmt.Errorf("read baseline: %w", translate(err))
	}
	for rows.Next() {
		e := BaselineEndpoint{Patterns: []BaselinePattern{}}
		var learned int64
		if err := rows.Scan(&e.Endpoint, &e.Compared, &e.Runs, &learned, &e.Source); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read baseline: %w", translate(err))
		}
		e.Learned = time.Unix(0, learned).UTC()
		b.Endpoints = append(b.Endpoints, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read baseline: %w", translate(err))
	}
	rows, err = db.db.QueryContext(ctx, `SELECT endpoint, pattern, differs, presence, type_changed FROM baseline_patterns
		ORDER BY differs DESC, pattern`)
	if err != nil {
		return nil, fmt.Errorf("read baseline: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var ep string
		var p BaselinePattern
		if err := rows.Scan(&ep, &p.Pattern, &p.Differs, &p.Presence, &p.Type); err != nil {
			return nil, fmt.Errorf("read baseline: %w", translate(err))
		}
		for i := range b.Endpoints {
			if e := &b.Endpoints[i]; e.Endpoint == ep {
				p.Rate = e.Rate(p)
				e.Patterns = append(e.Patterns, p)
			}
		}
	}
	return b, rows.Err()
}

// SaveBaseline replaces the stored baseline with b: a baseline describes
// legacy as it is now, so an older one is not merged with it.
func (db *DB) SaveBaseline(ctx context.Context, b *Baseline) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{"DELETE FROM baseline_patterns", "DELETE FROM baseline_endpoints"} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		for _, e := range b.Endpoints {
			if _, err := tx.ExecContext(ctx, `INSERT INTO baseline_endpoints (endpoint, compared, runs, learned, source) VALUES (?,?,?,?,?)`,
				e.Endpoint, e.Compared, e.Runs, e.Learned.UnixNano(), e.Source); err != nil {
				return err
			}
			for _, p := range e.Patterns {
				if _, err := tx.ExecContext(ctx, `INSERT INTO baseline_patterns (endpoint, pattern, differs, presence, type_changed) VALUES (?,?,?,?,?)`,
					e.Endpoint, p.Pattern, p.Differs, p.Presence, p.Type); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save baseline: %w", translate(err))
	}
	return nil
}

// BaselineLearner learns a baseline from exchanges whose two answers both
// came from legacy (replay's Recorder, with legacy as the candidate too).
// It is safe for concurrent use.
type BaselineLearner struct {
	Runs   int
	Source string

	mu  sync.Mutex
	eps map[string]*BaselineEndpoint
	pat map[fieldKey]*BaselinePattern
}

// Record learns from one comparison of legacy with itself. Comparisons
// that failed (legacy's second answer missing, a diff error) teach
// nothing.
func (l *BaselineLearner) Record(ex *tandem.Exchange, _ []string) {
	if !pairable(ex.Outcome) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.eps == nil {
		l.eps, l.pat = map[string]*BaselineEndpoint{}, map[fieldKey]*BaselinePattern{}
	}
	e := l.eps[ex.Endpoint]
	if e == nil {
		e = &BaselineEndpoint{Endpoint: ex.Endpoint}
		l.eps[ex.Endpoint] = e
	}
	e.Compared++
	type seen struct{ any, presence, typ bool }
	by := map[string]*seen{}
	for _, d := range ex.Differences {
		s := by[d.Pattern]
		if s == nil {
			s = &seen{}
			by[d.Pattern] = s
		}
		s.any = true
		// Which answer came first is chance: a value missing from either
		// is the same noise.
		s.presence = s.presence || d.Kind == tandem.Removed || d.Kind == tandem.Added
		s.typ = s.typ || d.Kind == tandem.Type
	}
	for p, s := range by {
		k := fieldKey{ex.Endpoint, p}
		bp := l.pat[k]
		if bp == nil {
			bp = &BaselinePattern{Pattern: p}
			l.pat[k] = bp
		}
		bp.Differs++
		if s.presence {
			bp.Presence++
		}
		if s.typ {
			bp.Type++
		}
	}
}

// Add ignores the counts of requests not compared.
func (l *BaselineLearner) Add(...tandem.Count) {}

// Baseline returns what was learned, learned at now.
func (l *BaselineLearner) Baseline(now time.Time) *Baseline {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &Baseline{Endpoints: []BaselineEndpoint{}}
	for _, e := range l.eps {
		out := BaselineEndpoint{Endpoint: e.Endpoint, Compared: e.Compared, Runs: l.Runs, Learned: now.UTC(), Source: l.Source,
			Patterns: []BaselinePattern{}}
		for k, p := range l.pat {
			if k.endpoint == e.Endpoint {
				q := *p
				q.Rate = out.Rate(q)
				out.Patterns = append(out.Patterns, q)
			}
		}
		slices.SortFunc(out.Patterns, func(a, b BaselinePattern) int {
			if a.Differs != b.Differs {
				return cmp.Compare(b.Differs, a.Differs)
			}
			return strings.Compare(a.Pattern, b.Pattern)
		})
		b.Endpoints = append(b.Endpoints, out)
	}
	slices.SortFunc(b.Endpoints, func(a, b BaselineEndpoint) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return b
}
