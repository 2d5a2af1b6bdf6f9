package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// recordInto writes mismatches (differing at $.price) and matches into the
// database at dsn as instance (instance "" stands for rows written before
// tandem knew instances: the writer names them, then they are unnamed as
// migration 0004 leaves them).
func recordInto(t *testing.T, dsn, instance string, mismatches, matches int) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.NewWriter(store.WriterConfig{Instance: "unnamed"})
	if instance != "" {
		w = db.NewWriter(store.WriterConfig{Instance: instance})
	}
	for i := range mismatches + matches {
		ex := &tandem.Exchange{Time: time.Unix(1700000000, 0), Endpoint: "GET /p",
			Request: tandem.Request{Method: "GET", URL: "/p"},
			Legacy:  tandem.Response{Status: 200, Body: []byte(`{"price":1}`)}, Candidate: tandem.Response{Status: 200, Body: []byte(`{"price":2}`)},
			Outcome: tandem.Match}
		if i < mismatches {
			ex.Outcome = tandem.Mismatch
			ex.Differences = []tandem.Difference{{Path: "$.price", Pattern: "$.price", Kind: tandem.Changed, Legacy: "1", Candidate: "2"}}
		}
		w.Record(ex, nil)
	}
	w.Add(tandem.Count{Name: "requests", N: int64(mismatches + matches)})
	w.Close()
	if instance == "" {
		for _, table := range []string{"exchanges", "counters", "fields", "noise_stats", "latencies", "pattern_pairs", "pair_totals"} {
			if _, err := db.SQL().Exec("UPDATE " + table + " SET instance = '' WHERE instance = 'unnamed'"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// priceVerdict reads the verdict on GET /p's $.price, of one instance or
// ("") all.
func priceVerdict(t *testing.T, dsn, instance string) store.FieldVerdict {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{MustExist: true, Instance: instance})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range r.Endpoints {
		for _, f := range e.Fields {
			if e.Endpoint == "GET /p" && f.Pattern == "$.price" {
				return f.FieldVerdict
			}
		}
	}
	t.Fatalf("no $.price field in %s (instance %q)", dsn, instance)
	return store.FieldVerdict{}
}

// totalsOf reads a database's totals, of one instance or ("") all.
func totalsOf(t *testing.T, dsn, instance string) (store.Totals, int64) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{MustExist: true, Instance: instance})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.CountExchanges(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Totals, n
}

func TestMerge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b, into := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), filepath.Join(dir, "all.db")
	recordInto(t, a, "host-a", 3, 2)
	recordInto(t, b, "", 2, 1) // rows without an instance: named "b" after the file

	// Triage decided in a: one exchange is a bug, the pattern accepted.
	adb, err := store.Open(ctx, a, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := adb.SetExchangeTriage(ctx, 1, store.Triage{State: store.TriageBug, Note: "rounding"}); err != nil {
		t.Fatal(err)
	}
	if err := adb.SetPatternTriage(ctx, "GET /p", "$.price", store.Triage{State: store.TriageAccepted}); err != nil {
		t.Fatal(err)
	}
	adb.Close()

	code, stdout, stderr := runTandem(t, ctx, "merge", "--into", into, a, b)
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"a.db: 3 exchanges added, 0 already merged; counts of instance host-a", "b.db: 2 exchanges added, 0 already merged; counts of instance b"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("merge said %q, want %q", stdout, want)
		}
	}
	check := func(when string, mismatches int64) {
		t.Helper()
		all, stored := totalsOf(t, into, "")
		if all.Mismatched != mismatches || all.Matched != 3 || all.Requests != mismatches+3 || stored != mismatches {
			t.Errorf("%s: merged totals %+v with %d stored; want %d mismatches, 3 matches", when, all, stored, mismatches)
		}
		if bt, n := totalsOf(t, into, "b"); bt.Mismatched != 2 || n != 2 {
			t.Errorf("%s: instance b: %+v, %d stored; want its 2 mismatches", when, bt, n)
		}
		// The verdicts' counts came along, per instance, once.
		if f := priceVerdict(t, into, ""); f.UnpairedCompared != mismatches+3 || f.UnpairedDiffers != mismatches {
			t.Errorf("%s: merged verdict counts %+v; want %d compared, %d differing", when, f, mismatches+3, mismatches)
		}
		if f := priceVerdict(t, into, "b"); f.UnpairedCompared != 3 || f.UnpairedDiffers != 2 {
			t.Errorf("%s: instance b's verdict counts %+v; want 3 compared, 2 differing", when, f)
		}
	}
	check("merged once", 5)

	// Differences and triage came along.
	db, err := store.Open(ctx, into, store.Options{MustExist: true, Instance: "host-a"})
	if err != nil {
		t.Fatal(err)
	}
	sums, err := db.Summaries(ctx, store.Filter{})
	if err != nil || len(sums) != 3 {
		t.Fatalf("host-a's exchanges in the target: %d (%v), want 3", len(sums), err)
	}
	if sums[0].Triage.State != store.TriageBug || sums[0].Triage.Note != "rounding" || sums[1].State != store.TriageAccepted ||
		strings.Join(sums[0].Patterns, ",") != "$.price" {
		t.Errorf("merged triage and patterns: %+v", sums[:2])
	}
	db.Close()

	// Again: nothing is added, nothing counted twice.
	code, stdout, stderr = runTandem(t, ctx, "merge", "--into", into, a, b)
	if code != 0 || !strings.Contains(stdout, "a.db: 0 exchanges added, 3 already merged") {
		t.Fatalf("merge again: exit %d, %s%s", code, stdout, stderr)
	}
	check("merged twice", 5)

	// a went on recording: merging it again adds what is new.
	recordInto(t, a, "host-a", 1, 0)
	code, stdout, stderr = runTandem(t, ctx, "merge", "--into", into, a)
	if code != 0 || !strings.Contains(stdout, "a.db: 1 exchanges added, 3 already merged") {
		t.Fatalf("merge after more traffic: exit %d, %s%s", code, stdout, stderr)
	}
	check("merged after more traffic", 6)

	// The merged database merges on: its exchanges keep their origin.
	into2 := filepath.Join(dir, "again.db")
	if code, _, stderr := runTandem(t, ctx, "merge", "--into", into2, into, a); code != 0 {
		t.Fatalf("merge the merged: exit %d: %s", code, stderr)
	}
	if all, stored := totalsOf(t, into2, ""); all.Mismatched != 6 || stored != 6 {
		t.Errorf("merging a merged database and one of its sources: %+v, %d stored; want 6 mismatches", all, stored)
	}
}

func TestMerge_Usage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := filepath.Join(dir, "a.db")
	recordInto(t, a, "x", 1, 0)
	os.Mkdir(filepath.Join(dir, "other"), 0o700)
	a2 := filepath.Join(dir, "other", "a.db")
	recordInto(t, a2, "y", 1, 0)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"merge", a}, "--into"},
		{[]string{"merge", "--into", filepath.Join(dir, "t.db")}, "name the databases to merge"},
		{[]string{"merge", "--into", a, a}, "is the target"},
		{[]string{"merge", "--into", filepath.Join(dir, "t.db"), a, a2}, "rename one of the files"},
		{[]string{"merge", "--into", filepath.Join(dir, "t.db"), filepath.Join(dir, "missing.db")}, "no such database"},
	} {
		code, _, stderr := runTandem(t, ctx, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want usage error with %q", tc.args, code, stderr, tc.want)
		}
	}
}
