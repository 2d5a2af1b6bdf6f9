package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/stats"
	"github.com/tandemproxy/tandem/store"
)

// pairedExchanges are one of each kind of paired count at $.a, and one
// exchange judged without a secondary.
func pairedExchanges() []*tandem.Exchange {
	changed := func(noise bool) tandem.Difference {
		return tandem.Difference{Path: "$.a", Pattern: "$.a", Kind: tandem.Changed, Legacy: "1", Candidate: "2", Noise: noise}
	}
	removed := tandem.Difference{Path: "$.a", Pattern: "$.a", Kind: tandem.Removed, Legacy: "1"}
	with := func(ex *tandem.Exchange, noisy ...string) *tandem.Exchange {
		ex.Secondary = &tandem.Response{Status: 200}
		ex.NoisePatterns = noisy
		return ex
	}
	return []*tandem.Exchange{
		with(exchange("GET /x", tandem.Noise, changed(true)), "$.a"), // both
		with(exchange("GET /x", tandem.Mismatch, removed), "$.a"),    // only the candidate: the secondary only changed it
		with(exchange("GET /x", tandem.Mismatch, changed(false))),    // only the candidate
		with(exchange("GET /x", tandem.Noise), "$.a"),                // only the secondary
		with(exchange("GET /x", tandem.Match)),                       // neither
		exchange("GET /x", tandem.Mismatch, removed),                 // no secondary
		with(exchange("GET /x", tandem.CandidateError), "$.a"),       // compared nothing
	}
}

func fieldAt(t *testing.T, db *store.DB, pattern string) store.Field {
	t.Helper()
	r, err := db.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.Endpoints {
		for _, f := range e.Fields {
			if f.Pattern == pattern {
				return f
			}
		}
	}
	t.Fatalf("no field %s in %+v", pattern, r.Endpoints)
	return store.Field{}
}

func TestReport_PairedCounts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
		for _, ex := range pairedExchanges() {
			w.Record(ex, nil)
		}
		w.Close()
		// McNemar(2, 1) = P(X ≥ 2 | 3, ½) = ½, and 3 discordant pairs can
		// never reach 0.05: undecided.
		want := store.FieldVerdict{Verdict: stats.Undecided, PValue: 0.5, QValue: 0.5, Test: store.TestPaired,
			OnlyCandidate: 2, OnlySecondary: 1, Both: 1, Neither: 1, UnpairedCompared: 1, UnpairedDiffers: 1, Unexplained: 1}
		if d := cmp.Diff(want, fieldAt(t, db, "$.a").FieldVerdict, cmpopts.EquateApprox(0, 1e-12)); d != "" {
			t.Errorf("verdict (-want +got):\n%s", d)
		}

		t.Run("Rediff", func(t *testing.T) {
			// Rules that ignore removed values: the two removed differences go,
			// and their counts move with them.
			judge := func(ex *tandem.Exchange) []string {
				var kept []tandem.Difference
				for _, d := range ex.Differences {
					if d.Kind != tandem.Removed {
						kept = append(kept, d)
					}
				}
				ex.Differences = kept
				if len(kept) == 0 && ex.Outcome == tandem.Mismatch {
					ex.Outcome = tandem.Match
					if len(ex.NoisePatterns) > 0 {
						ex.Outcome = tandem.Noise
					}
				}
				return nil
			}
			if _, err := db.Rediff(context.Background(), store.Filter{}, judge, 0); err != nil {
				t.Fatal(err)
			}
			got := fieldAt(t, db, "$.a").FieldVerdict
			if got.OnlyCandidate != 1 || got.OnlySecondary != 2 || got.Both != 1 || got.Neither != 1 || got.UnpairedDiffers != 0 || got.UnpairedCompared != 1 {
				t.Errorf("after rediff %+v: want b=1 c=2 both=1 neither=1, no unpaired difference", got)
			}
		})
	})
}

func TestBaseline(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		ctx := context.Background()
		l := &store.BaselineLearner{Runs: 2, Source: "traffic.har"}
		for i := range 40 {
			ex := exchange("GET /x", tandem.Match)
			switch {
			case i%4 == 0:
				ex.Outcome, ex.Differences = tandem.Mismatch, []tandem.Difference{{Path: "$.t", Pattern: "$.t", Kind: tandem.Changed}}
			case i%10 == 1:
				ex.Outcome, ex.Differences = tandem.Mismatch, []tandem.Difference{{Path: "$.opt", Pattern: "$.opt", Kind: tandem.Added}}
			}
			l.Record(ex, nil)
		}
		l.Record(exchange("GET /x", tandem.CandidateError), nil) // teaches nothing
		learned := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := db.SaveBaseline(ctx, l.Baseline(learned)); err != nil {
			t.Fatal(err)
		}
		got, err := db.Baseline(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := &store.Baseline{Endpoints: []store.BaselineEndpoint{{Endpoint: "GET /x", Compared: 40, Runs: 2, Learned: learned, Source: "traffic.har",
			Patterns: []store.BaselinePattern{
				{Pattern: "$.t", Differs: 10, Rate: 0.25},
				{Pattern: "$.opt", Differs: 4, Presence: 4, Rate: 0.1},
			}}}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("baseline (-want +got):\n%s", d)
		}
		e := got.Endpoint("GET /x")
		if b := e.Bound(e.Pattern("$.t"), store.DefaultBaselineConfidence); b <= 0.25 || b > 0.4 {
			t.Errorf("upper bound on 10 of 40 = %v, want a little over 0.25", b)
		}
		if b := got.Endpoint("GET /none").Bound(store.BaselinePattern{}, 0.95); b != 0 {
			t.Errorf("no baseline: bound %v, want 0", b)
		}

		t.Run("Replaced", func(t *testing.T) {
			if err := db.SaveBaseline(ctx, &store.Baseline{}); err != nil {
				t.Fatal(err)
			}
			if got, err := db.Baseline(ctx); err != nil || len(got.Endpoints) != 0 {
				t.Errorf("after saving an empty baseline: %+v, %v", got, err)
			}
		})
	})
}

// The paired counts are counters like the others: each instance's rows
// are its own, a report sums them, and a database opened for one instance
// reports that instance's alone.
func TestReport_PairedCountsPerInstance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		dsn := b.dsn(t)
		db := mustOpenDSN(t, dsn)
		for _, in := range []string{"a", "b"} {
			w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Instance: in})
			for _, ex := range pairedExchanges() {
				w.Record(ex, nil)
			}
			w.Close()
		}
		if f := fieldAt(t, db, "$.a").FieldVerdict; f.OnlyCandidate != 4 || f.OnlySecondary != 2 || f.Both != 2 || f.Neither != 2 || f.UnpairedCompared != 2 {
			t.Errorf("summed over both instances: %+v, want every count doubled", f)
		}
		one, err := store.Open(context.Background(), dsn, store.Options{MustExist: true, Instance: "a"})
		if err != nil {
			t.Fatal(err)
		}
		defer one.Close()
		if f := fieldAt(t, one, "$.a").FieldVerdict; f.OnlyCandidate != 2 || f.OnlySecondary != 1 || f.Both != 1 || f.Neither != 1 || f.UnpairedCompared != 1 {
			t.Errorf("instance a: %+v, want its own counts", f)
		}
	})
}
