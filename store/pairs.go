package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/tandemproxy/tandem"
)

// pairCounts is one pattern's share of the paired counts (pattern_pairs).
type pairCounts struct {
	onlyCandidate, onlySecondary, both      int64
	unpaired, unpairedRemoved, unpairedType int64
}

// pairTotals counts an endpoint's exchanges compared with and without a
// secondary (pair_totals).
type pairTotals struct{ paired, unpaired int64 }

// pairAgg is the part of derived that feeds per-field verdicts; its maps
// are made on first use so that derived's constructor need not know it.
type pairAgg struct {
	pairs  map[instKey[fieldKey]]*pairCounts
	totals map[instKey[string]]*pairTotals
}

// pairable reports whether an exchange's outcome is a comparison whose
// differences mean something: errors compared nothing.
func pairable(o tandem.Outcome) bool {
	return o == tandem.Match || o == tandem.Mismatch || o == tandem.Noise
}

// accountPairs adds (sign +1) or removes (sign −1) an exchange's share of
// the paired counts. With a secondary that answered, each pattern at which
// the candidate or the secondary differs is one of: only the candidate
// (including a candidate difference that is not noise though the secondary
// differed there: a removed or type difference the secondary did not
// make), only the secondary, or both. Without one, each pattern at which
// the candidate differs is counted for the baseline test.
func (d *derived) accountPairs(ex *tandem.Exchange, sign int64) {
	if !pairable(ex.Outcome) {
		return
	}
	a := &d.pairAgg
	if a.pairs == nil {
		a.pairs, a.totals = map[instKey[fieldKey]]*pairCounts{}, map[instKey[string]]*pairTotals{}
	}
	in := ex.Instance
	t := a.totals[instKey[string]{in, ex.Endpoint}]
	if t == nil {
		t = &pairTotals{}
		a.totals[instKey[string]{in, ex.Endpoint}] = t
	}
	paired := ex.Secondary != nil && ex.Secondary.Err == ""
	if len(ex.Differences) == 0 && len(ex.NoisePatterns) == 0 {
		// Most exchanges match: count them without the maps below, which
		// are the writer's work per exchange at full speed.
		if paired {
			t.paired += sign
		} else {
			t.unpaired += sign
		}
		return
	}
	get := func(p string) *pairCounts {
		k := instKey[fieldKey]{in, fieldKey{ex.Endpoint, p}}
		c := a.pairs[k]
		if c == nil {
			c = &pairCounts{}
			a.pairs[k] = c
		}
		return c
	}
	// The candidate's patterns, each with whether every difference there is
	// noise and whether one removes a value or changes its type. A slice,
	// not maps: an exchange has few patterns, and this runs on the writer
	// for every exchange.
	type candPattern struct {
		pattern                string
		allNoise, removed, typ bool
	}
	var buf [8]candPattern // on the stack for up to 8 patterns
	cand := buf[:0]
	for _, df := range ex.Differences {
		i := slices.IndexFunc(cand, func(c candPattern) bool { return c.pattern == df.Pattern })
		if i < 0 {
			cand = append(cand, candPattern{pattern: df.Pattern, allNoise: true})
			i = len(cand) - 1
		}
		c := &cand[i]
		c.allNoise = c.allNoise && df.Noise
		c.removed = c.removed || df.Kind == tandem.Removed
		c.typ = c.typ || df.Kind == tandem.Type
	}
	if !paired {
		t.unpaired += sign
		for _, cp := range cand {
			c := get(cp.pattern)
			c.unpaired += sign
			if cp.removed {
				c.unpairedRemoved += sign
			}
			if cp.typ {
				c.unpairedType += sign
			}
		}
		return
	}
	t.paired += sign
	for _, cp := range cand {
		if cp.allNoise && slices.Contains(ex.NoisePatterns, cp.pattern) {
			get(cp.pattern).both += sign
		} else {
			get(cp.pattern).onlyCandidate += sign
		}
	}
	for i, p := range ex.NoisePatterns {
		// Judge lists each noisy pattern once; a hand-built exchange may not.
		if slices.Contains(ex.NoisePatterns[:i], p) {
			continue
		}
		if !slices.ContainsFunc(cand, func(c candPattern) bool { return c.pattern == p }) {
			get(p).onlySecondary += sign
		}
	}
}

// writePairs adds the paired counts to the database.
func (d *derived) writePairs(ctx context.Context, tx *sql.Tx) error {
	for k, c := range d.pairAgg.pairs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pattern_pairs (instance, endpoint, pattern, only_candidate, only_secondary, both_differ,
				unpaired, unpaired_removed, unpaired_type) VALUES (?,?,?,?,?,?,?,?,?)
			ON CONFLICT (instance, endpoint, pattern) DO UPDATE SET only_candidate = pattern_pairs.only_candidate + excluded.only_candidate,
				only_secondary = pattern_pairs.only_secondary + excluded.only_secondary,
				both_differ = pattern_pairs.both_differ + excluded.both_differ,
				unpaired = pattern_pairs.unpaired + excluded.unpaired,
				unpaired_removed = pattern_pairs.unpaired_removed + excluded.unpaired_removed,
				unpaired_type = pattern_pairs.unpaired_type + excluded.unpaired_type`,
			k.instance, k.key.endpoint, k.key.pattern, c.onlyCandidate, c.onlySecondary, c.both, c.unpaired, c.unpairedRemoved, c.unpairedType); err != nil {
			return fmt.Errorf("add paired counts: %w", err)
		}
	}
	for k, t := range d.pairAgg.totals {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pair_totals (instance, endpoint, paired, unpaired) VALUES (?,?,?,?)
			ON CONFLICT (instance, endpoint) DO UPDATE SET paired = pair_totals.paired + excluded.paired,
				unpaired = pair_totals.unpaired + excluded.unpaired`, k.instance, k.key, t.paired, t.unpaired); err != nil {
			return fmt.Errorf("add paired counts: %w", err)
		}
	}
	return nil
}
