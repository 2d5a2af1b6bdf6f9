package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	_ "github.com/mattn/go-sqlite3"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "t.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func exchange(endpoint string, outcome tandem.Outcome, diffs ...tandem.Difference) *tandem.Exchange {
	return &tandem.Exchange{
		Time:     time.Unix(1700000000, 0),
		Endpoint: endpoint,
		Request: tandem.Request{Method: "GET", URL: "/api/users/1?access_token=s3cr3t-query", Host: "api.example",
			Header: tandem.Headers{{Name: "Authorization", Value: "Bearer s3cr3t-auth"}, {Name: "Accept", Value: "*/*"}}},
		Legacy: tandem.Response{Status: 200, Latency: 2 * time.Millisecond,
			Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Set-Cookie", Value: "sid=s3cr3t-cookie"}},
			Body:   []byte(`{"id":1,"password":"s3cr3t-field","name":"a","nested":{"PassWord":"s3cr3t-field-cased"}}`)},
		Candidate: tandem.Response{Status: 200, Latency: 5 * time.Millisecond,
			Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}},
			Body:   []byte(`{"id":1,"password":"s3cr3t-field","name":"b"}`)},
		Outcome:     outcome,
		Differences: diffs,
	}
}

func TestOpen(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new.db")
		db, err := store.Open(context.Background(), path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		w := db.NewWriter(store.WriterConfig{})
		w.Record(exchange("GET /x", tandem.Mismatch), nil)
		w.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", filepath.Base(p), st.Mode().Perm())
			}
		}
		var mode string
		db.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal mode %q", mode)
		}
		db.Close()
		// Reopening applies no migration twice.
		db, err = store.Open(context.Background(), path, store.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	})
	t.Run("ErrMissing", func(t *testing.T) {
		_, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "none.db"), store.Options{MustExist: true})
		if err == nil || !strings.Contains(err.Error(), "no such database") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrNotSQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "junk.db")
		os.WriteFile(path, bytes.Repeat([]byte("this is not a database "), 300), 0o600)
		_, err := store.Open(context.Background(), path, store.Options{MustExist: true})
		if err == nil || !strings.Contains(err.Error(), "not a SQLite database") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrForeign", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		other, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.Exec("CREATE TABLE accounts (id INTEGER)"); err != nil {
			t.Fatal(err)
		}
		other.Close()
		_, err = store.Open(context.Background(), path, store.Options{MustExist: true})
		if err == nil || !strings.Contains(err.Error(), "not a tandem database") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestWriter_RecordModes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tt := range []struct {
			mode   store.RecordMode
			stored int
		}{{store.RecordMismatches, 2}, {store.RecordAll, 3}, {store.RecordNone, 0}} {
			t.Run(string(tt.mode), func(t *testing.T) {
				db := b.open(t)
				w := db.NewWriter(store.WriterConfig{Record: tt.mode})
				w.Record(exchange("GET /a", tandem.Match), nil)
				w.Record(exchange("GET /a", tandem.Mismatch, tandem.Difference{Path: "$.name", Pattern: "$.name", Kind: tandem.Changed, Legacy: `"a"`, Candidate: `"b"`}), nil)
				w.Record(exchange("GET /a", tandem.CandidateError), nil)
				w.Close()
				n := 0
				db.Exchanges(context.Background(), store.Filter{}, func(*tandem.Exchange) error { n++; return nil })
				if n != tt.stored {
					t.Errorf("%d exchanges stored, want %d", n, tt.stored)
				}
				// Counters are exact whatever is stored.
				r, err := db.Report(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if r.Totals.Compared != 3 || r.Totals.Matched != 1 || r.Totals.Mismatched != 1 || r.Totals.CandidateErrors != 1 {
					t.Errorf("totals %+v", r.Totals)
				}
			})
		}
	})
}

func TestWriter_RoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Instance: "host-a"})
		in := exchange("GET /api/users/{id}", tandem.Noise,
			tandem.Difference{Path: "$.items[3].price", Pattern: "$.items[*].price", Kind: tandem.Changed, Legacy: "1", Candidate: "2", Noise: true})
		in.Secondary = &tandem.Response{Status: 200, Body: []byte("{}"), Latency: time.Millisecond}
		in.NoisePatterns = []string{"$.items[*].price"}
		in.Legacy.Truncated, in.Legacy.BodySize, in.Legacy.BodyHash = true, 1<<30, "abc"
		want := *in
		want.Instance = "host-a"
		w.Record(in, nil)
		w.Close()
		var got *tandem.Exchange
		err := db.Exchanges(context.Background(), store.Filter{Endpoint: "GET /api/users/{id}", Pattern: "$.items[*].price"}, func(ex *tandem.Exchange) error {
			got = ex
			return nil
		})
		if err != nil || got == nil {
			t.Fatalf("exchange not found: %v", err)
		}
		// Secrets are redacted; everything else survives the round trip.
		want.Request.Header = tandem.Headers{{Name: "Authorization", Value: store.Redacted}, {Name: "Accept", Value: "*/*"}}
		want.Legacy.Header = tandem.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Set-Cookie", Value: store.Redacted}}
		// Stored sizes are filled in from the bodies.
		want.Candidate.BodySize = int64(len(want.Candidate.Body))
		want.Secondary = &tandem.Response{Status: 200, Body: []byte("{}"), Latency: time.Millisecond, BodySize: 2}
		if d := cmp.Diff(&want, got, cmpopts.IgnoreFields(tandem.Exchange{}, "ID", "Time"), cmpopts.EquateEmpty()); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
		if !got.Time.Equal(want.Time) {
			t.Errorf("time %v, want %v", got.Time, want.Time)
		}
		again, err := db.Exchange(context.Background(), got.ID)
		if err != nil || again.ID != got.ID || len(again.Differences) != 1 {
			t.Errorf("Exchange(%d) = %+v, %v", got.ID, again, err)
		}
	})
}

// TestRedaction greps the raw database file for the secrets, and the bodies
// read back: they are stored compressed, so the file's bytes alone would
// not show a secret left in one.
func TestRedaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
	for range 50 {
		ex := exchange("GET /a", tandem.Mismatch, tandem.Difference{Path: "$.password", Pattern: "$.password", Kind: tandem.Changed, Legacy: `"s3cr3t-field"`, Candidate: `"s3cr3t-field2"`})
		ex.Request.Header = append(ex.Request.Header, tandem.Header{Name: "proxy-authorization", Value: "Basic s3cr3t-proxy"},
			tandem.Header{Name: "Cookie", Value: "sid=s3cr3t-reqcookie"}, tandem.Header{Name: "X-Api-Key", Value: "s3cr3t-rule-header"})
		w.Record(ex, []string{"password", "access_token", "x-api-key"})
	}
	w.Close()
	secrets := []string{"s3cr3t-auth", "s3cr3t-cookie", "s3cr3t-field", "s3cr3t-field-cased", "s3cr3t-query",
		"s3cr3t-proxy", "s3cr3t-reqcookie", "s3cr3t-rule-header"}
	// Bodies are stored compressed: the file's bytes alone would not show
	// a secret left in one, so they are read back too.
	var bodies []byte
	if err := db.Exchanges(context.Background(), store.Filter{}, func(ex *tandem.Exchange) error {
		bodies = append(append(append(bodies, ex.Request.Body...), ex.Legacy.Body...), ex.Candidate.Body...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		if bytes.Contains(bodies, []byte(secret)) {
			t.Errorf("%q is in a stored body", secret)
		}
	}
	if !bytes.Contains(bodies, []byte(`"name":"a"`)) {
		t.Error("the rest of the body was not stored as it was")
	}
	// Read while the database is open, when the committed batches are still
	// in the WAL, and after closing, when they have been checkpointed into
	// the main file.
	for _, when := range []string{"open", "closed"} {
		if when == "closed" {
			db.Close()
		} else if st, err := os.Stat(path + "-wal"); err != nil || st.Size() == 0 {
			t.Fatalf("no WAL to read while open (%v)", err)
		}
		raw := readAll(t, path)
		for _, secret := range secrets {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%s: %q is in the database file or its WAL", when, secret)
			}
		}
	}
}

// readAll returns the raw bytes of a database file and of its WAL.
func readAll(t *testing.T, path string) []byte {
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err == nil {
			all = append(all, b...)
		}
	}
	return all
}

func TestReport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{})
		price := tandem.Difference{Path: "$.items[0].price", Pattern: "$.items[*].price", Kind: tandem.Changed, Legacy: "1", Candidate: "2"}
		price2 := price
		price2.Path = "$.items[1].price"
		id := tandem.Difference{Path: "$.id", Pattern: "$.id", Kind: tandem.Changed, Noise: true}
		for range 3 {
			w.Record(exchange("GET /b", tandem.Mismatch, price, price2), nil) // one count per exchange and pattern
		}
		ex := exchange("GET /b", tandem.Noise, id)
		ex.Secondary = &tandem.Response{Status: 200}
		ex.NoisePatterns = []string{"$.id"}
		w.Record(ex, nil)
		w.Record(exchange("GET /a", tandem.Match), nil)
		w.Add(tandem.Count{Name: "requests", N: 9}, tandem.Count{Name: "dropped", N: 2}, tandem.Count{Name: "skipped", N: 2})
		w.Close()
		r, err := db.Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		wantTotals := store.Totals{Requests: 9, Compared: 5, Matched: 1, Mismatched: 3, Noise: 1, Dropped: 2, Skipped: 2}
		if d := cmp.Diff(wantTotals, r.Totals); d != "" {
			t.Errorf("totals (-want +got):\n%s", d)
		}
		if len(r.Endpoints) != 2 || r.Endpoints[0].Endpoint != "GET /b" {
			t.Fatalf("endpoints %+v (worst first)", r.Endpoints)
		}
		ep := r.Endpoints[0]
		if d := cmp.Diff([]store.Field{{Pattern: "$.items[*].price", Count: 3, ExampleLegacy: "1", ExampleCandidate: "2"}}, ep.Fields, cmpopts.IgnoreFields(store.Field{}, "FieldVerdict")); d != "" {
			t.Errorf("fields (-want +got):\n%s", d)
		}
		if d := cmp.Diff([]store.NoisyField{{Pattern: "$.id", Count: 1, Rate: 1}}, ep.NoisyFields); d != "" {
			t.Errorf("noisy fields (-want +got):\n%s", d)
		}
		if ep.Latency.LegacyP50 < 2 || ep.Latency.LegacyP50 > 2.5 || ep.Latency.CandidateP99 < 5 || ep.Latency.CandidateP99 > 6 {
			t.Errorf("latency %+v, want legacy ≈2ms, candidate ≈5ms", ep.Latency)
		}
	})
}

func TestHistogram_Quantile(t *testing.T) {
	h := store.Histogram{}
	for i := 1; i <= 1000; i++ {
		h.Add(time.Duration(i) * time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}} {
		got := h.Quantile(tt.q)
		if got < tt.want || float64(got) > float64(tt.want)*1.2 {
			t.Errorf("q%v = %v, want within 20%% above %v", tt.q, got, tt.want)
		}
	}
}

// Readers (report, TUI) read while the writer writes: WAL mode, no
// "database is locked".
func TestDB_ReadWhileWriting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		path := b.dsn(t)
		db, err := store.Open(context.Background(), path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		reader, err := store.Open(context.Background(), path, store.Options{MustExist: true})
		if err != nil {
			t.Fatal(err)
		}
		defer reader.Close()
		w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, FlushEvery: time.Millisecond, BatchSize: 5})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 2000 {
				w.Record(exchange("GET /a", tandem.Mismatch), nil)
			}
			w.Close()
		}()
		reads := 0
		for {
			select {
			case <-done:
				r, err := reader.Report(context.Background())
				if err != nil || r.Totals.Mismatched != 2000 {
					t.Fatalf("final report %+v, %v", r, err)
				}
				if reads == 0 {
					t.Fatal("no read happened while writing")
				}
				return
			default:
			}
			if _, err := reader.Report(context.Background()); err != nil {
				t.Fatalf("read %d while writing: %v", reads, err)
			}
			reads++
		}
	})
}

func TestDB_ExchangesPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
		for range 1234 {
			w.Record(exchange("GET /a", tandem.Mismatch, tandem.Difference{Path: "$.x", Pattern: "$.x", Kind: tandem.Changed}), nil)
		}
		w.Close()
		for _, tt := range []struct {
			f    store.Filter
			want int
		}{{store.Filter{}, 1234}, {store.Filter{Limit: 600}, 600}, {store.Filter{Limit: 500}, 500}, {store.Filter{Desc: true}, 1234}, {store.Filter{Desc: true, Limit: 1001}, 1001}} {
			var ids []int64
			db.Exchanges(context.Background(), tt.f, func(ex *tandem.Exchange) error {
				if len(ex.Differences) != 1 {
					t.Fatalf("exchange %d has %d differences", ex.ID, len(ex.Differences))
				}
				ids = append(ids, ex.ID)
				return nil
			})
			ordered := true
			for i := 1; i < len(ids); i++ {
				if (ids[i] > ids[i-1]) == tt.f.Desc {
					ordered = false
				}
			}
			if len(ids) != tt.want || !ordered {
				t.Errorf("%+v: %d exchanges (ordered %v), want %d", tt.f, len(ids), ordered, tt.want)
			}
		}
	})
}

// TestRedact_JSONMembers: members named for redaction are found in any case,
// at any depth, and when their name is spelled with escapes; other members
// and non-JSON bodies are kept byte for byte.
func TestRedact_JSONMembers(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"Plain", `{"password":"x","a":1}`, `{"password":"[REDACTED]","a":1}`},
		{"Case", `{"PassWord": {"deep":[1,2]} ,"a":1}`, `{"PassWord": "[REDACTED]" ,"a":1}`},
		{"Nested", `[{"b":{"password":123}}]`, `[{"b":{"password":"[REDACTED]"}}]`},
		{"EscapedName", `{"p\u0061ssword":"x"}`, `{"p\u0061ssword":"[REDACTED]"}`},
		{"ValueOnly", `{"a":"password"}`, `{"a":"password"}`},
		{"HeaderName", `{"authorization":"Bearer x"}`, `{"authorization":"[REDACTED]"}`},
		{"KelvinFold", "{\"tas\u212A\":1,\"passwor\u212A\":2}", "{\"tas\u212A\":1,\"passwor\u212A\":2}"},
		{"LongSFold", "{\"pa\u017F\u017Fword\":\"x\"}", "{\"pa\u017F\u017Fword\":\"[REDACTED]\"}"},
		{"NotJSON", `password=x`, `password=x`},
		{"Broken", `{"password":`, `{"password":"[REDACTED]"`}, // a value cut short takes the rest with it
		// Names that are not ASCII, or longer than 63 bytes, are looked
		// for without the length shortcut.
		{"LongName", `{"` + strings.Repeat("k", 70) + `":1,"b":2}`, `{"` + strings.Repeat("k", 70) + `":"[REDACTED]","b":2}`},
		{"NonASCIIName", `{"mot_de_passé":"x","b":"password"}`, `{"mot_de_passé":"[REDACTED]","b":"password"}`},
		{"NonASCIINameFolded", `{"MOT_DE_PASSÉ":"x"}`, `{"MOT_DE_PASSÉ":"[REDACTED]"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := &tandem.Exchange{Legacy: tandem.Response{Body: []byte(tc.in)}}
			store.Redact(ex, []string{"password", strings.Repeat("K", 70), "mot_de_passé"})
			if got := string(ex.Legacy.Body); got != tc.want {
				t.Errorf("Redact(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

// A batch is BatchSize stored exchanges: exchanges only counted fill one
// much later, so that full-speed matching traffic costs few transactions.
func TestWriter_BatchesStoredExchanges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tc := range []struct {
			outcome tandem.Outcome
			batches int64
		}{{tandem.Match, 1}, {tandem.Mismatch, 2}} {
			db := b.open(t)
			w := db.NewWriter(store.WriterConfig{BatchSize: 512, FlushEvery: time.Hour})
			for range 600 {
				w.Record(exchange("GET /a", tc.outcome), nil)
			}
			w.Close()
			if st := w.Stats(); st.Batches != tc.batches || st.Recorded != 600 {
				t.Errorf("%s: %d exchanges in %d transactions, want 600 in %d", tc.outcome, st.Recorded, st.Batches, tc.batches)
			}
		}
	})
}

// Count counts an exchange (outcome, latency, differences' patterns) and
// never stores it, even when every exchange is recorded.
func TestWriter_CountOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
		ex := exchange("GET /a", tandem.CandidateError)
		ex.Candidate = tandem.Response{Err: "connection refused"}
		w.CountOnly(ex, nil)
		w.Record(exchange("GET /a", tandem.Mismatch), nil)
		w.Close()
		if st := w.Stats(); st.Recorded != 2 || st.Stored != 1 {
			t.Errorf("recorded %d, stored %d; want 2 and 1", st.Recorded, st.Stored)
		}
		r, err := db.Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Totals.CandidateErrors != 1 || r.Totals.Mismatched != 1 {
			t.Errorf("totals %+v: want the counted candidate error and the mismatch", r.Totals)
		}
		n, err := db.CountExchanges(context.Background(), store.Filter{})
		if err != nil || n != 1 {
			t.Errorf("%d exchanges stored (%v), want 1", n, err)
		}
	})
}

// A filter's time far in the future selects nothing, and far in the past
// everything: times are stored as int64 nanoseconds, which end in 2262.
func TestFilter_SinceOutOfRange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
		w.Record(exchange("GET /a", tandem.Match), nil)
		w.Close()
		for _, tc := range []struct {
			since time.Time
			want  int64
		}{{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), 0}, {time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), 1}} {
			n, err := db.CountExchanges(context.Background(), store.Filter{Since: tc.since})
			if err != nil || n != tc.want {
				t.Errorf("since %d: %d exchanges (%v), want %d", tc.since.Year(), n, err, tc.want)
			}
		}
	})
}
