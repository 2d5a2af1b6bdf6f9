package store

import (
	"context"
	"fmt"
	"time"
)

// Retention bounds what the database keeps of full exchanges. Counters,
// field counts and latency histograms are never pruned: rates stay exact.
// Zero fields mean no bound.
type Retention struct {
	// MaxBytes bounds the pages in use (the file itself does not shrink:
	// SQLite reuses freed pages; VACUUM returns them to the disk).
	MaxBytes int64
	// MaxAge prunes exchanges older than this.
	MaxAge time.Duration
	// MaxExchanges bounds the number of stored exchanges.
	MaxExchanges int64
}

// IsZero reports whether r bounds nothing.
func (r Retention) IsZero() bool { return r.MaxBytes <= 0 && r.MaxAge <= 0 && r.MaxExchanges <= 0 }

// pruneChunk is how many exchanges one DELETE removes: small enough that a
// reader (the TUI, a report) never waits long on the writer.
const pruneChunk = 1000

// Prune deletes the oldest stored exchanges (with their differences) until
// the retention holds, and returns how many it deleted.
func (db *DB) Prune(ctx context.Context, r Retention, now time.Time) (int64, error) {
	var deleted int64
	del := func(where string, args ...any) (int64, error) {
		res, err := db.db.ExecContext(ctx, `DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges `+where+` ORDER BY id LIMIT ?)`,
			append(args, pruneChunk)...)
		if err != nil {
			return 0, fmt.Errorf("prune: %w", translate(err))
		}
		n, _ := res.RowsAffected()
		deleted += n
		return n, nil
	}
	if r.MaxAge > 0 {
		cutoff := now.Add(-r.MaxAge).UnixNano()
		for {
			n, err := del("WHERE ts < ?", cutoff)
			if err != nil || n < pruneChunk {
				if err != nil {
					return deleted, err
				}
				break
			}
		}
	}
	if r.MaxExchanges > 0 {
		var count int64
		if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM exchanges").Scan(&count); err != nil {
			return deleted, fmt.Errorf("prune: %w", translate(err))
		}
		for count > r.MaxExchanges {
			excess := min(count-r.MaxExchanges, pruneChunk)
			res, err := db.db.ExecContext(ctx, `DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges ORDER BY id LIMIT ?)`, excess)
			if err != nil {
				return deleted, fmt.Errorf("prune: %w", translate(err))
			}
			n, _ := res.RowsAffected()
			if n == 0 {
				break
			}
			deleted += n
			count -= n
		}
	}
	if r.MaxBytes > 0 {
		for {
			used, err := db.UsedBytes(ctx)
			if err != nil {
				return deleted, err
			}
			if used <= r.MaxBytes {
				break
			}
			var count int64
			if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM exchanges").Scan(&count); err != nil {
				return deleted, fmt.Errorf("prune: %w", translate(err))
			}
			if count == 0 {
				break // only counters are left: they are never pruned
			}
			// Delete the share of exchanges that the excess is of the
			// used bytes (and a little more), not a fixed chunk that
			// could overshoot a small budget.
			share := count*(used-r.MaxBytes)/used + count/100 + 1
			res, err := db.db.ExecContext(ctx, `DELETE FROM exchanges WHERE id IN (SELECT id FROM exchanges ORDER BY id LIMIT ?)`, min(share, pruneChunk))
			if err != nil {
				return deleted, fmt.Errorf("prune: %w", translate(err))
			}
			n, _ := res.RowsAffected()
			deleted += n
		}
	}
	return deleted, nil
}

// UsedBytes returns what the storage budget measures: for SQLite the bytes
// of the database's pages that hold data; for PostgreSQL an estimate of
// the bytes of the stored exchanges and their differences (see
// pgDialect.usedBytes).
func (db *DB) UsedBytes(ctx context.Context) (int64, error) {
	return db.d.usedBytes(ctx, db)
}
