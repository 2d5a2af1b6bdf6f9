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
// both engines gets its own database there.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backends are the engines the store's tests run on.
var backends = []struct {
	name string
	dsn  func(testing.TB) string
}{
	{store.EngineSQLite, func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "t.db") }},
	{store.EnginePostgres, pgtest.URL},
}

// forEachBackend runs fn once per engine, as subtests named after it,
// each with a new empty database's --db value.
func forEachBackend(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.dsn(t)) })
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
