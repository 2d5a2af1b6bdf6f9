package store

import (
	"context"
	"fmt"
)

// CountExchanges returns how many stored exchanges the filter selects (its
// paging fields, AfterID and Limit, apart).
func (db *DB) CountExchanges(ctx context.Context, f Filter) (int64, error) {
	f.AfterID, f.Limit = 0, 0
	where, args := db.scoped(f).where()
	var n int64
	if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM exchanges"+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count exchanges: %w", translate(err))
	}
	return n, nil
}

// Sources returns how many exchanges each source ("proxy", "replay") has
// stored.
func (db *DB) Sources(ctx context.Context) (map[string]int64, error) {
	where, args := db.instanceWhere("WHERE")
	rows, err := db.db.QueryContext(ctx, "SELECT source, count(*) FROM exchanges"+where+" GROUP BY source", args...)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", translate(err))
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("sources: %w", translate(err))
		}
		out[s] = n
	}
	return out, rows.Err()
}
