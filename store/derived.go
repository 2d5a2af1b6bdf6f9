package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tandemproxy/tandem"
)

// The counts derived from each exchange (per endpoint, per pattern, per
// instance, latencies), summed over a batch and written with it.

type counterKey struct {
	instance string
	endpoint string
	minute   int64
	name     string
}

type fieldKey struct{ endpoint, pattern string }

// instKey is a key of a derived count: the instance and what it counts.
type instKey[K comparable] struct {
	instance string
	key      K
}

type fieldAgg struct {
	mismatches, noise int64
	legacy, candidate string
}

type latencyKey struct {
	instance, endpoint, side string
	bucket                   int
}

type derived struct {
	counters map[counterKey]int64
	fields   map[instKey[fieldKey]]*fieldAgg
	noise    map[instKey[fieldKey]]int64
	lat      map[latencyKey]int64
	pairAgg  // paired counts for per-field verdicts (pairs.go)
}

func newDerived() *derived {
	return &derived{counters: map[counterKey]int64{}, fields: map[instKey[fieldKey]]*fieldAgg{}, noise: map[instKey[fieldKey]]int64{}, lat: map[latencyKey]int64{}}
}

// account adds (sign +1) or removes (sign -1) an exchange's share of every
// derived count; per-pattern counts go once per exchange and pattern,
// however many elements differ there. The writer adds; rediff removes the
// old verdict and adds the new one.
func (d *derived) account(ex *tandem.Exchange, sign int64) {
	minute := ex.Time.Unix() / 60
	in := ex.Instance
	d.counters[counterKey{in, ex.Endpoint, minute, string(ex.Outcome)}] += sign
	if ex.Secondary != nil {
		name := tandem.SecondaryCompared
		if ex.Secondary.Err != "" {
			name = tandem.SecondaryError
		}
		d.counters[counterKey{in, ex.Endpoint, minute, string(name)}] += sign
	}
	if ex.ServedBy != "" { // cutover: who answered the client
		d.counters[counterKey{in, ex.Endpoint, minute, servedByCounter + ex.ServedBy}] += sign
	}
	seen := map[string]bool{}
	for _, df := range ex.Differences {
		if seen[df.Pattern] {
			continue
		}
		seen[df.Pattern] = true
		k := instKey[fieldKey]{in, fieldKey{ex.Endpoint, df.Pattern}}
		f := d.fields[k]
		if f == nil {
			f = &fieldAgg{}
			d.fields[k] = f
		}
		if df.Noise {
			f.noise += sign
		} else {
			f.mismatches += sign
		}
		if sign > 0 {
			f.legacy, f.candidate = df.Legacy, df.Candidate
		}
	}
	for _, p := range ex.NoisePatterns {
		d.noise[instKey[fieldKey]{in, fieldKey{ex.Endpoint, p}}] += sign
	}
	d.accountPairs(ex, sign)
	if ex.Legacy.Err == "" {
		d.lat[latencyKey{in, ex.Endpoint, "legacy", latencyBucket(ex.Legacy.Latency)}] += sign
	}
	if ex.Candidate.Err == "" {
		d.lat[latencyKey{in, ex.Endpoint, "candidate", latencyBucket(ex.Candidate.Latency)}] += sign
	}
}

// write adds the counts to the database, in multi-row upserts (a round
// trip each hundreds of keys, which is what counts on a remote server).
func (d *derived) write(ctx context.Context, tx *sql.Tx) error {
	counters := make([][]any, 0, len(d.counters))
	for k, n := range d.counters {
		counters = append(counters, []any{k.instance, k.endpoint, k.minute, k.name, n})
	}
	if err := upsert(ctx, tx, "counters (instance, endpoint, minute, name, n)", counters,
		"(instance, endpoint, minute, name) DO UPDATE SET n = counters.n + excluded.n"); err != nil {
		return fmt.Errorf("add counters: %w", err)
	}
	fields := make([][]any, 0, len(d.fields))
	for k, f := range d.fields {
		fields = append(fields, []any{k.instance, k.key.endpoint, k.key.pattern, f.mismatches, f.noise, f.legacy, f.candidate})
	}
	if err := upsert(ctx, tx, "fields (instance, endpoint, pattern, mismatches, noise, example_legacy, example_candidate)", fields,
		`(instance, endpoint, pattern) DO UPDATE SET mismatches = fields.mismatches + excluded.mismatches,
			noise = fields.noise + excluded.noise,
			example_legacy = CASE WHEN excluded.example_legacy || excluded.example_candidate != '' THEN excluded.example_legacy ELSE fields.example_legacy END,
			example_candidate = CASE WHEN excluded.example_legacy || excluded.example_candidate != '' THEN excluded.example_candidate ELSE fields.example_candidate END`); err != nil {
		return fmt.Errorf("add fields: %w", err)
	}
	noise := make([][]any, 0, len(d.noise))
	for k, n := range d.noise {
		noise = append(noise, []any{k.instance, k.key.endpoint, k.key.pattern, n})
	}
	if err := upsert(ctx, tx, "noise_stats (instance, endpoint, pattern, n)", noise,
		"(instance, endpoint, pattern) DO UPDATE SET n = noise_stats.n + excluded.n"); err != nil {
		return fmt.Errorf("add noise: %w", err)
	}
	lat := make([][]any, 0, len(d.lat))
	for k, n := range d.lat {
		lat = append(lat, []any{k.instance, k.endpoint, k.side, k.bucket, n})
	}
	if err := upsert(ctx, tx, "latencies (instance, endpoint, side, bucket, n)", lat,
		"(instance, endpoint, side, bucket) DO UPDATE SET n = latencies.n + excluded.n"); err != nil {
		return fmt.Errorf("add latencies: %w", err)
	}
	return d.writePairs(ctx, tx)
}

// upsertRows bounds the rows of one multi-row upsert: well under both
// engines' limits on bound parameters.
