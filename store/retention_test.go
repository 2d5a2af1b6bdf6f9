package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

func TestDB_Prune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		fill := func(t *testing.T, n int, at func(i int) time.Time) *store.DB {
			db := b.open(t)
			w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
			for i := range n {
				ex := exchange("GET /a", tandem.Mismatch, tandem.Difference{Path: "$.name", Pattern: "$.name", Kind: tandem.Changed})
				ex.Time = at(i)
				ex.Legacy.Body = []byte(`{"pad":"` + strings.Repeat("x", 1000) + `"}`)
				w.Record(ex, nil)
			}
			w.Close()
			return db
		}
		oldest := func(db *store.DB) (id int64, n int) {
			db.Exchanges(ctx, store.Filter{}, func(ex *tandem.Exchange) error {
				if n == 0 {
					id = ex.ID
				}
				n++
				return nil
			})
			return id, n
		}
		// kept checks what pruning must never touch, and that the differences
		// went with their exchanges: every exchange has one.
		kept := func(t *testing.T, db *store.DB, total int) {
			t.Helper()
			r, err := db.Report(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Totals.Mismatched != int64(total) || r.Endpoints[0].Fields[0].Count != int64(total) {
				t.Errorf("counters were pruned: %+v, fields %+v", r.Totals, r.Endpoints[0].Fields)
			}
			var lat int64
			db.SQL().QueryRow(`SELECT coalesce(sum(n), 0) FROM latencies WHERE side = 'candidate'`).Scan(&lat)
			if lat != int64(total) {
				t.Errorf("latency histogram holds %d, want %d: pruned", lat, total)
			}
			var diffs, exchanges int
			db.SQL().QueryRow(`SELECT count(*) FROM differences`).Scan(&diffs)
			db.SQL().QueryRow(`SELECT count(*) FROM exchanges`).Scan(&exchanges)
			if diffs != exchanges {
				t.Errorf("%d differences for %d exchanges: the pruned exchanges' differences stayed", diffs, exchanges)
			}
		}
		base := time.Unix(1700000000, 0)
		t.Run("MaxBytes", func(t *testing.T) {
			db := fill(t, 3000, func(i int) time.Time { return base })
			before, _ := db.UsedBytes(ctx)
			const budget = 1 << 20
			deleted, err := db.Prune(ctx, store.Retention{MaxBytes: budget}, base)
			if err != nil {
				t.Fatal(err)
			}
			used, _ := db.UsedBytes(ctx)
			first, n := oldest(db)
			if used > budget || deleted == 0 || int(deleted)+n != 3000 || first <= deleted {
				t.Errorf("used %d of %d bytes (was %d), deleted %d, %d left from id %d: want the oldest pruned to the budget",
					used, budget, before, deleted, n, first)
			}
			kept(t, db, 3000)
		})
		t.Run("MaxAge", func(t *testing.T) {
			db := fill(t, 100, func(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) })
			deleted, err := db.Prune(ctx, store.Retention{MaxAge: 10 * time.Hour}, base.Add(99*time.Hour))
			if _, n := oldest(db); err != nil || deleted != 89 || n != 11 {
				t.Errorf("deleted %d, left %d, err %v: want the 11 exchanges of the last 10 hours", deleted, n, err)
			}
			kept(t, db, 100)
		})
		t.Run("MaxExchanges", func(t *testing.T) {
			db := fill(t, 2500, func(i int) time.Time { return base })
			deleted, err := db.Prune(ctx, store.Retention{MaxExchanges: 700}, base)
			if _, n := oldest(db); err != nil || deleted != 1800 || n != 700 {
				t.Errorf("deleted %d, left %d, err %v", deleted, n, err)
			}
			kept(t, db, 2500)
		})
		t.Run("ByTheWriter", func(t *testing.T) {
			db := b.open(t)
			w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Retention: store.Retention{MaxExchanges: 50}, PruneEvery: time.Nanosecond, BatchSize: 10})
			for range 300 {
				w.Record(exchange("GET /a", tandem.Mismatch, tandem.Difference{Path: "$.name", Pattern: "$.name", Kind: tandem.Changed}), nil)
			}
			w.Close()
			if _, n := oldest(db); n > 60 || w.Stats().Pruned < 240 {
				t.Errorf("%d exchanges left, %d pruned: the writer must apply the retention", n, w.Stats().Pruned)
			}
			kept(t, db, 300)
		})
	})
}
