package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
	"github.com/tandemproxy/tandem/store/pgtest"
)

// The PostgreSQL server stops under a running writer: what it is given
// meanwhile is counted as lost, Record never blocks on the dead server,
// and once the server is back the next batch is stored.
func TestWriter_PostgresDownAndBack(t *testing.T) {
	srv := pgtest.Private(t, pgtest.Options{})
	ctx := context.Background()
	db := mustOpenDSN(t, srv.NewDatabase(t))
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Instance: "a"})
	defer w.Close()
	record := func(n int) {
		for range n {
			w.Record(exchange("GET /a", tandem.Mismatch), nil)
		}
		w.Flush()
	}
	record(10)
	if st := w.Stats(); st.Stored != 10 || st.Lost != 0 {
		t.Fatalf("before the stop: stored %d, lost %d; want 10 and 0", st.Stored, st.Lost)
	}

	if err := srv.StopServer(); err != nil {
		t.Fatal(err)
	}
	record(5)
	record(3)
	if st := w.Stats(); st.Stored != 10 || st.Lost != 8 {
		t.Fatalf("server down: stored %d, lost %d; want 10 and 8", st.Stored, st.Lost)
	}

	if err := srv.StartServer(); err != nil {
		t.Fatal(err)
	}
	record(7)
	if st := w.Stats(); st.Stored != 17 || st.Lost != 8 || st.Recorded != 25 {
		t.Fatalf("server back: recorded %d, stored %d, lost %d; want 25, 17 and 8", st.Recorded, st.Stored, st.Lost)
	}
	r, err := db.Report(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals.Mismatched != 17 {
		t.Errorf("report counts %d mismatches, want the 17 stored", r.Totals.Mismatched)
	}
}

// Instances starting together on a new database migrate it once.
func TestOpen_PostgresConcurrentMigrations(t *testing.T) {
	dsn := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.Open(context.Background(), dsn, store.Options{})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	db := mustOpenDSN(t, dsn)
	var applied, distinct int
	db.SQL().QueryRow("SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&applied, &distinct)
	if applied != distinct || applied == 0 {
		t.Errorf("schema_migrations holds %d rows for %d versions", applied, distinct)
	}
}

func TestOpen_PostgresErrors(t *testing.T) {
	dsn := pgtest.URL(t)
	t.Run("ErrMissing", func(t *testing.T) {
		_, err := store.Open(context.Background(), dsn, store.Options{MustExist: true})
		if err == nil || !strings.Contains(err.Error(), "no tandem tables") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrForeign", func(t *testing.T) {
		other := pgtest.URL(t)
		db := mustOpenDSN(t, other)
		// Another application's table of the same name, without tandem's
		// record of migrations.
		db.SQL().Exec("DROP TABLE schema_migrations")
		_, err := store.Open(context.Background(), other, store.Options{})
		if err == nil || !strings.Contains(err.Error(), "not a tandem database") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrNoDatabase", func(t *testing.T) {
		url := dsn[:strings.LastIndex(dsn, "/")] + "/nosuchdb?sslmode=disable"
		_, err := store.Open(context.Background(), url, store.Options{})
		if err == nil || !strings.Contains(err.Error(), "createdb") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ErrUnreachable", func(t *testing.T) {
		_, err := store.Open(context.Background(), "postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable", store.Options{})
		if err == nil || !strings.Contains(err.Error(), "cannot reach PostgreSQL") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the password is in the message: %v", err)
		}
	})
}

func TestRedactDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tandem.db", "tandem.db"},
		{"postgres://u:hunter2@db:5432/t", "postgres://u:xxxxx@db:5432/t"},
		{"postgresql://u@db/t?password=hunter2&sslmode=require", "postgresql://u@db/t?password=xxxxx&sslmode=require"},
	} {
		if got := store.RedactDSN(tc.in); got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// The server hangs (its processes stopped, as a server gone from the
// network): a batch gives up after the writer's batch timeout and is
// counted as lost, Record does not wait for it, and storing resumes when
// the server answers again.
func TestWriter_PostgresHung(t *testing.T) {
	srv := pgtest.Private(t, pgtest.Options{})
	db := mustOpenDSN(t, srv.NewDatabase(t))
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Instance: "a", BatchTimeout: 300 * time.Millisecond})
	defer w.Close()
	w.Record(exchange("GET /a", tandem.Mismatch), nil)
	w.Flush()
	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			srv.Resume()
		}
	}()
	// The queue takes what is recorded while the batch hangs.
	for range 5 {
		w.Record(exchange("GET /a", tandem.Mismatch), nil)
	}
	w.Flush()
	if st := w.Stats(); st.Stored != 1 || st.Lost != 5 {
		t.Fatalf("server hung: stored %d, lost %d; want 1 and 5", st.Stored, st.Lost)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	paused = false
	w.Record(exchange("GET /a", tandem.Mismatch), nil)
	w.Flush()
	if st := w.Stats(); st.Stored != 2 || st.Lost != 5 {
		t.Fatalf("server back: stored %d, lost %d; want 2 and 5", st.Stored, st.Lost)
	}
}
