package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// Two instances write into one database: reads sum them, and a database
// opened for one instance (or a filter naming it) sees only its rows.
func TestDB_Instances(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.dsn(t)
		db := mustOpenDSN(t, dsn)
		price := tandem.Difference{Path: "$.price", Pattern: "$.price", Kind: tandem.Changed, Legacy: "1", Candidate: "2"}
		for _, tc := range []struct {
			instance   string
			mismatches int
		}{{"a", 3}, {"b", 2}} {
			w := db.NewWriter(store.WriterConfig{Instance: tc.instance})
			for range tc.mismatches {
				w.Record(exchange("GET /p", tandem.Mismatch, price), nil)
			}
			w.Record(exchange("GET /p", tandem.Match), nil)
			w.Add(tandem.Count{Name: "requests", N: int64(tc.mismatches + 1)})
			w.Close()
		}
		r, err := db.Report(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.Totals{Requests: 7, Compared: 7, Matched: 2, Mismatched: 5}); r.Totals != want {
			t.Errorf("summed totals %+v, want %+v", r.Totals, want)
		}
		if d := cmp.Diff([]store.Field{{Pattern: "$.price", Count: 5, ExampleLegacy: "1", ExampleCandidate: "2"}}, r.Endpoints[0].Fields, cmpopts.IgnoreFields(store.Field{}, "FieldVerdict")); d != "" {
			t.Errorf("summed fields (-want +got):\n%s", d)
		}
		n, err := db.CountExchanges(ctx, store.Filter{Instance: "b"})
		if err != nil || n != 2 {
			t.Errorf("filter instance b: %d exchanges (%v), want 2", n, err)
		}
		var instances []string
		db.Exchanges(ctx, store.Filter{}, func(ex *tandem.Exchange) error {
			instances = append(instances, ex.Instance)
			return nil
		})
		if d := cmp.Diff([]string{"a", "a", "a", "b", "b"}, instances); d != "" {
			t.Errorf("stored instances (-want +got):\n%s", d)
		}

		onlyA, err := store.Open(ctx, dsn, store.Options{MustExist: true, Instance: "a"})
		if err != nil {
			t.Fatal(err)
		}
		defer onlyA.Close()
		ra, err := onlyA.Report(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.Totals{Requests: 4, Compared: 4, Matched: 1, Mismatched: 3}); ra.Totals != want {
			t.Errorf("instance a's totals %+v, want %+v", ra.Totals, want)
		}
		fields, err := onlyA.Fields(ctx, "GET /p")
		if err != nil || len(fields) != 1 || fields[0].Count != 3 {
			t.Errorf("instance a's fields %+v (%v), want $.price 3 times", fields, err)
		}
		sums, err := onlyA.Summaries(ctx, store.Filter{})
		if err != nil || len(sums) != 3 {
			t.Errorf("instance a's listing: %d exchanges (%v), want 3", len(sums), err)
		}
		if n, err := onlyA.CountExchanges(ctx, store.Filter{Instance: "b"}); err != nil || n != 2 {
			t.Errorf("an explicit filter wins over the database's instance: %d (%v), want 2", n, err)
		}
	})
}

// Rediff moves each exchange's counts within its own instance.
func TestDB_Rediff_KeepsInstances(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.dsn(t)
		db := mustOpenDSN(t, dsn)
		for _, in := range []string{"a", "b"} {
			w := db.NewWriter(store.WriterConfig{Instance: in})
			w.Record(exchange("GET /p", tandem.Mismatch, tandem.Difference{Path: "$.t", Pattern: "$.t", Kind: tandem.Changed}), nil)
			w.Close()
		}
		if _, err := db.Rediff(ctx, store.Filter{}, func(ex *tandem.Exchange) []string {
			ex.Outcome, ex.Differences = tandem.Match, nil
			return nil
		}, 0); err != nil {
			t.Fatal(err)
		}
		for _, in := range []string{"a", "b"} {
			one, err := store.Open(ctx, dsn, store.Options{Instance: in})
			if err != nil {
				t.Fatal(err)
			}
			r, err := one.Report(ctx)
			one.Close()
			if err != nil {
				t.Fatal(err)
			}
			if r.Totals.Matched != 1 || r.Totals.Mismatched != 0 {
				t.Errorf("instance %s after rediff: %+v, want its one exchange matched", in, r.Totals)
			}
		}
	})
}
