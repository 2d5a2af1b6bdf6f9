package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

func diffAt(pattern string, noise bool) tandem.Difference {
	return tandem.Difference{Path: pattern, Pattern: pattern, Kind: tandem.Changed, Legacy: "1", Candidate: "2", Noise: noise}
}

// triageDB stores, for GET /a: #1 differing at $.x, #2 at $.x and $.y,
// #3 at $.y, #4 at $.z as noise; and #5 for GET /b at $.x.
func triageDB(t *testing.T, b backend) *store.DB {
	db := b.open(t)
	w := db.NewWriter(store.WriterConfig{})
	w.Record(exchange("GET /a", tandem.Mismatch, diffAt("$.x", false)), nil)
	w.Record(exchange("GET /a", tandem.Mismatch, diffAt("$.x", false), diffAt("$.y", false)), nil)
	w.Record(exchange("GET /a", tandem.Mismatch, diffAt("$.y", false)), nil)
	w.Record(exchange("GET /a", tandem.Noise, diffAt("$.z", true)), nil)
	w.Record(exchange("GET /b", tandem.Mismatch, diffAt("$.x", false)), nil)
	w.Close()
	return db
}

func states(t *testing.T, db *store.DB, f store.Filter) string {
	t.Helper()
	sums, err := db.Summaries(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range sums {
		out = append(out, string(s.State))
	}
	return strings.Join(out, " ")
}

func TestDB_Triage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		t.Run("EffectiveState", func(t *testing.T) {
			db := triageDB(t, b)
			a := store.Filter{Endpoint: "GET /a"}
			if got := states(t, db, a); got != "open open open open" {
				t.Fatalf("states %q before any decision", got)
			}
			// Accepting $.x settles #1 only: #2 also differs at $.y.
			if err := db.SetPatternTriage(ctx, "GET /a", "$.x", store.Triage{State: store.TriageAccepted, Note: "renamed on purpose"}); err != nil {
				t.Fatal(err)
			}
			if got := states(t, db, a); got != "accepted open open open" {
				t.Errorf("after accepting $.x: %q", got)
			}
			// A bug at $.y makes every exchange that differs there a bug.
			db.SetPatternTriage(ctx, "GET /a", "$.y", store.Triage{State: store.TriageBug})
			if got := states(t, db, a); got != "accepted bug bug open" {
				t.Errorf("after $.y is a bug: %q", got)
			}
			// An exchange's own decision wins over its patterns'.
			if err := db.SetExchangeTriage(ctx, 3, store.Triage{State: store.TriageAccepted, Note: "seen"}); err != nil {
				t.Fatal(err)
			}
			if got := states(t, db, a); got != "accepted bug accepted open" {
				t.Errorf("after accepting #3: %q", got)
			}
			// Decisions belong to an endpoint: GET /b's $.x is still open.
			if got := states(t, db, store.Filter{Endpoint: "GET /b"}); got != "open" {
				t.Errorf("GET /b: %q", got)
			}
			tr, err := db.ExchangeTriage(ctx, 3)
			if err != nil || tr.State != store.TriageAccepted || tr.Note != "seen" || tr.Updated.IsZero() {
				t.Errorf("ExchangeTriage(3) = %+v, %v", tr, err)
			}
			// Open without a note forgets the decision.
			db.SetExchangeTriage(ctx, 3, store.Triage{State: store.TriageOpen})
			if got := states(t, db, a); got != "accepted bug bug open" {
				t.Errorf("after reopening #3: %q", got)
			}
			var rows int
			db.SQL().QueryRow("SELECT count(*) FROM exchange_triage").Scan(&rows)
			if rows != 0 {
				t.Errorf("%d exchange_triage rows left, want 0", rows)
			}
			pt, err := db.PatternTriage(ctx, "GET /a")
			if err != nil {
				t.Fatal(err)
			}
			if pt["$.x"].State != store.TriageAccepted || pt["$.x"].Note != "renamed on purpose" || pt["$.y"].State != store.TriageBug || len(pt) != 2 {
				t.Errorf("PatternTriage = %+v", pt)
			}
		})
		t.Run("ErrBadState", func(t *testing.T) {
			db := triageDB(t, b)
			if err := db.SetExchangeTriage(ctx, 1, store.Triage{State: "wontfix"}); err == nil || !strings.Contains(err.Error(), "want open, accepted or bug") {
				t.Errorf("err = %v", err)
			}
			if err := db.SetPatternTriage(ctx, "GET /a", "$.x", store.Triage{}); err == nil {
				t.Error("an empty state was accepted")
			}
		})
		t.Run("ErrNoExchange", func(t *testing.T) {
			db := triageDB(t, b)
			if err := db.SetExchangeTriage(ctx, 99, store.Triage{State: store.TriageBug}); err == nil || !strings.Contains(err.Error(), "not found") {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("SurvivesRediff", func(t *testing.T) {
			db := triageDB(t, b)
			db.SetExchangeTriage(ctx, 2, store.Triage{State: store.TriageBug, Note: "price"})
			// Re-judging under rules that ignore $.x keeps the decision.
			judge := func(ex *tandem.Exchange) []string {
				var kept []tandem.Difference
				for _, d := range ex.Differences {
					if d.Pattern != "$.x" {
						kept = append(kept, d)
					}
				}
				ex.Differences = kept
				if len(kept) == 0 {
					ex.Outcome = tandem.Match
				}
				return nil
			}
			if _, err := db.Rediff(ctx, store.Filter{}, judge, 0); err != nil {
				t.Fatal(err)
			}
			if tr, _ := db.ExchangeTriage(ctx, 2); tr.State != store.TriageBug || tr.Note != "price" {
				t.Errorf("after rediff #2 is %+v", tr)
			}
		})
	})
}

func TestDB_Summaries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := triageDB(t, b)
		sums, err := db.Summaries(context.Background(), store.Filter{Endpoint: "GET /a", Pattern: "$.y", Desc: true})
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			ID       int64
			Patterns []string
			Outcome  tandem.Outcome
		}
		var got []row
		for _, s := range sums {
			got = append(got, row{s.ID, s.Patterns, s.Outcome})
			if s.Method != "GET" || s.LegacyStatus != 200 || s.CandidateLatency != 5*time.Millisecond {
				t.Errorf("summary %+v", s)
			}
		}
		want := []row{{3, []string{"$.y"}, tandem.Mismatch}, {2, []string{"$.x", "$.y"}, tandem.Mismatch}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("summaries (-want +got):\n%s", d)
		}
		noisy, _ := db.Summaries(context.Background(), store.Filter{Outcomes: []tandem.Outcome{tandem.Noise}})
		if len(noisy) != 1 || len(noisy[0].Patterns) != 0 || !cmp.Equal(noisy[0].NoisePatterns, []string{"$.z"}) {
			t.Errorf("noise summaries %+v", noisy)
		}
	})
}

func TestDB_Fields(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := triageDB(t, b)
		db.SetPatternTriage(context.Background(), "GET /a", "$.y", store.Triage{State: store.TriageBug, Note: "off by one"})
		fs, err := db.Fields(context.Background(), "GET /a")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, fmt.Sprintf("%s %d %d %s %s", f.Pattern, f.Count, f.Noise, f.Triage.State, f.Triage.Note))
		}
		want := []string{"$.x 2 0 open ", "$.y 2 0 bug off by one", "$.z 0 1 open "}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("fields (-want +got):\n%s", d)
		}
	})
}

func TestDB_Trend(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{})
		base := time.Unix(1700000000, 0).Truncate(time.Minute)
		// GET /a mismatches in minutes 0, 0, 5 and 9; GET /b only matches.
		for _, m := range []int{0, 0, 5, 9} {
			ex := exchange("GET /a", tandem.Mismatch, diffAt("$.x", false))
			ex.Time = base.Add(time.Duration(m) * time.Minute)
			w.Record(ex, nil)
		}
		ex := exchange("GET /b", tandem.Match)
		ex.Time = base.Add(9 * time.Minute)
		w.Record(ex, nil)
		w.Close()
		for _, tt := range []struct {
			n    int
			want []int64
		}{
			{5, []int64{2, 0, 1, 0, 1}},                       // ten minutes in spans of two
			{12, []int64{0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 1}}, // spans of one minute, the last ending now
		} {
			tr, err := db.Trend(context.Background(), tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, tr["GET /a"]); d != "" {
				t.Errorf("trend over %d spans (-want +got):\n%s", tt.n, d)
			}
			if tr["GET /b"] != nil {
				t.Errorf("GET /b has a trend %v without mismatches", tr["GET /b"])
			}
		}
		empty, err := b.open(t).Trend(context.Background(), 8)
		if err != nil || len(empty) != 0 {
			t.Errorf("empty database: %v, %v", empty, err)
		}
	})
}
