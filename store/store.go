// Package store records exchanges and counters in SQLite or PostgreSQL and
// answers the questions asked of them (reports, listings, re-judging,
// merging). Each process writes through a single batching Writer; any
// number may read at the same time (SQLite's WAL mode), and with
// PostgreSQL many instances write into one database. What differs between
// the engines is in dialect.go.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open tandem database.
type DB struct {
	db *sql.DB
	d  dialect
	// Path is the SQLite file, or the PostgreSQL URL without its password
	// (fit for logs).
	Path string
	// Now is the clock used for counters' minutes; tests replace it.
	Now func() time.Time
	// scope is the instance whose rows reads see ("" every instance's).
	scope string
}

// Options for Open.
type Options struct {
	// MustExist refuses to create a new database (for report, tui and
	// replay --from, which read what a proxy wrote).
	MustExist bool
	// Instance, when set, makes reads (reports, listings, counts) see only
	// the rows this instance recorded; otherwise they sum every instance's.
	Instance string
}

// Open opens and migrates the database that dsn names: a postgres:// (or
// postgresql://) URL is a PostgreSQL database; anything else is the path
// of a SQLite file, created with mode 0600 if needed. It checks that the
// database is tandem's, and for SQLite that WAL mode is really on.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	var (
		sqldb *sql.DB
		d     dialect
		err   error
	)
	name := RedactDSN(dsn)
	if IsURL(dsn) {
		d = pgDialect{}
		sqldb, err = openPostgres(dsn)
	} else {
		if err := create(dsn, opts.MustExist); err != nil {
			return nil, err
		}
		d = sqliteDialect{}
		sqldb, err = openSQLite(dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	db := &DB{db: sqldb, d: d, Path: name, Now: time.Now, scope: opts.Instance}
	if err := db.setup(ctx, opts.MustExist); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return db, nil
}

// Engine names the database's engine: EngineSQLite or EnginePostgres.
func (db *DB) Engine() string { return db.d.engine() }

// create makes the file with mode 0600 before SQLite sees it: SQLite would
// create it 0644, and it holds copies of production traffic. The WAL and
// shared-memory files SQLite makes next to it take the same mode.
func create(p string, mustExist bool) error {
	st, err := os.Stat(p)
	switch {
	case err == nil:
		if st.IsDir() {
			return fmt.Errorf("open %s: is a directory", p)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open %s: %w", p, err)
	case mustExist:
		return fmt.Errorf("open %s: no such database (run tandem proxy or tandem replay with --db %s first)", p, p)
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", p, err)
	}
	if f != nil {
		return f.Close()
	}
	return nil
}

func (db *DB) setup(ctx context.Context, mustExist bool) error {
	if err := db.d.setup(ctx, db, mustExist); err != nil {
		return err
	}
	return db.migrate(ctx)
}

// translate turns driver errors into messages a user can act on, whichever
// the engine.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return translateSQLite(err)
	}
	return translatePG(err)
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction.
func (db *DB) migrate(ctx context.Context) error {
	conn, unlock, err := db.d.lockMigrations(ctx, db)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return translate(err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return translate(err)
	}
	newest := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return translate(err)
		}
		applied[v] = true
		newest = max(newest, v)
	}
	rows.Close()
	if last := migrationVersion(names[len(names)-1]); newest > last {
		return fmt.Errorf("the database was written by a newer tandem (schema %d; this one knows %d)", newest, last)
	}
	// Every migration not yet applied is applied, in order: checking
	// versions one by one (not only the newest) keeps a database safe when
	// migrations from parallel work land out of order.
	for _, name := range names {
		v := migrationVersion(name)
		if applied[v] {
			continue
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		if err := apply(ctx, conn, v, path.Base(name), db.d.ddl(string(body))); err != nil {
			return fmt.Errorf("migration %s: %w", path.Base(name), translate(err))
		}
	}
	return nil
}

func migrationVersion(name string) int {
	base := path.Base(name)
	n, _ := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
	return n
}

func apply(ctx context.Context, conn migrator, version int, name, body string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		version, name, time.Now().Unix()); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes the database.
func (db *DB) Close() error { return db.db.Close() }

// SQL returns the underlying handle, for tests and tools that inspect the
// file directly.
func (db *DB) SQL() *sql.DB { return db.db }

// IntegrityCheck runs SQLite's integrity check and returns its verdict
// ("ok" for a sound file); on PostgreSQL it checks that the tables answer.
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	return db.d.integrityCheck(ctx, db)
}
