package store

import (
	"context"
	"database/sql"
	"fmt"
)

// instanceTables are the tables whose rows carry the instance that wrote
// them (exchanges' differences and triage go with their exchange).
var instanceTables = []string{"exchanges", "counters", "fields", "noise_stats", "latencies"}

// DeleteInstance deletes everything one instance recorded, in one
// transaction: what replacing a SQLite file of results is for a shared
// database (tandem replay --db postgres://…).
func (db *DB) DeleteInstance(ctx context.Context, instance string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range instanceTables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE instance = ?", instance); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete instance %s: %w", instance, translate(err))
	}
	return nil
}
