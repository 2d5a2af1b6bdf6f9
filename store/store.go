// Package store records exchanges and counters in SQLite and answers the
// questions asked of them (reports, listings, re-judging). One process
// writes, through a single batching Writer; any number may read at the same
// time (WAL mode).
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

// applicationID marks a SQLite file as a tandem database ("tndm"), so that a
// foreign database is refused with a clear message instead of being altered.
const applicationID = 0x746e646d

// DB is an open tandem database.
type DB struct {
	db   *sql.DB
	Path string
	// Now is the clock used for counters' minutes; tests replace it.
	Now func() time.Time
}

// Options for Open.
type Options struct {
	// MustExist refuses to create a new database (for report, tui and
	// replay --from, which read what a proxy wrote).
	MustExist bool
}

// Open opens (creating it with mode 0600 if needed) and migrates the
// database at path. It checks that the file is a tandem database and that
// WAL mode is really on.
func Open(ctx context.Context, dbPath string, opts Options) (*DB, error) {
	if err := create(dbPath, opts.MustExist); err != nil {
		return nil, err
	}
	dsn := "file:" + dbPath + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_foreign_keys=on&_txlock=immediate&_secure_delete=on"
	sqldb, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dbPath, err)
	}
	db := &DB{db: sqldb, Path: dbPath, Now: time.Now}
	if err := db.setup(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("open %s: %w", dbPath, err)
	}
	return db, nil
}

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

func (db *DB) setup(ctx context.Context) error {
	var appID int64
	if err := db.db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return translate(err)
	}
	var tables int
	if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&tables); err != nil {
		return translate(err)
	}
	switch {
	case appID == applicationID:
	case appID == 0 && tables == 0:
		if _, err := db.db.ExecContext(ctx, "PRAGMA application_id = "+strconv.Itoa(applicationID)); err != nil {
			return translate(err)
		}
	default:
		return errors.New("not a tandem database (it is another application's SQLite file)")
	}
	var mode string
	if err := db.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return translate(err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal (is the file on a filesystem without shared memory?)", mode)
	}
	return db.migrate(ctx)
}

// translate turns driver errors into messages a user can act on.
func translate(err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return errors.New("not a SQLite database (the file is corrupt or of another kind)")
		case sqlite3.ErrCorrupt:
			return errors.New("the database is corrupt (SQLite: " + se.Error() + ")")
		case sqlite3.ErrFull:
			return errors.New("the disk is full")
		case sqlite3.ErrReadonly, sqlite3.ErrPerm, sqlite3.ErrCantOpen:
			return fmt.Errorf("cannot write the database (%s): check the file's permissions", se.Error())
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return fmt.Errorf("the database is locked by another writer (%s)", se.Error())
		}
	}
	return err
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return translate(err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	applied := map[int]bool{}
	rows, err := db.db.QueryContext(ctx, "SELECT version FROM schema_migrations")
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
		if err := db.apply(ctx, v, path.Base(name), string(body)); err != nil {
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

func (db *DB) apply(ctx context.Context, version int, name, body string) error {
	tx, err := db.db.BeginTx(ctx, nil)
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
// ("ok" for a sound file).
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	var s string
	err := db.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&s)
	return s, translate(err)
}
