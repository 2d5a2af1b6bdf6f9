package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemproxy/tandem/store"
	"github.com/tandemproxy/tandem/store/pgtest"
)

// TestMain starts the package's PostgreSQL server: every test that runs on
// both engines gets its own databases there.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend is an engine the store's tests run on.
type backend struct {
	name string
	// dsn returns the --db value of a new empty database.
	dsn func(testing.TB) string
}

// open opens a new empty database, closed when the test ends.
func (b backend) open(tb testing.TB) *store.DB { return mustOpenDSN(tb, b.dsn(tb)) }

var backends = []backend{
	{store.EngineSQLite, func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "t.db") }},
	{store.EnginePostgres, pgtest.URL},
}

// forEachBackend runs fn once per engine, as subtests named after it. A
// test that does not use it is about SQLite's file (modes, WAL, raw bytes).
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// mustOpenDSN opens (creating) the database dsn names, closed when the
// test ends.
func mustOpenDSN(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
