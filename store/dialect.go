package store

// This file holds every difference between the two engines tandem stores
// in: SQLite (a file, the default) and PostgreSQL (a postgres:// URL, for
// many instances writing into one place). The rest of the package is
// written once, in the SQL both understand: `?` placeholders (rewritten to
// $1, $2… for PostgreSQL by the connection wrapper below), migrations in
// SQLite's spelling (translated by pgDDL), upserts as INSERT … ON CONFLICT,
// and a table's columns qualified by the table's name inside DO UPDATE.
//
// Adding a table is writing its migration in that portable SQL; adding a
// statement that the engines spell differently is one more method on
// dialect.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/mattn/go-sqlite3"
)

// Engine names, as DB.Engine reports them.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// PostgreSQL connection defaults, used when the URL does not set them.
const (
	// DefaultPGConnectTimeout bounds a connection attempt: a server that is
	// down must cost the writer a lost batch, not a hung one.
	DefaultPGConnectTimeout = 5 * time.Second
	// DefaultPGMaxConns bounds one process's connections: one writer and
	// a few readers (the TUI, the admin endpoint).
	DefaultPGMaxConns = 4
	// pgMigrationLock is the advisory lock key under which migrations run,
	// so that instances starting together migrate once ("tndm").
	pgMigrationLock = 0x746e646d
)

// IsURL reports whether a --db value names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsURL(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// RedactDSN returns a --db value fit for logs and messages: a URL's password
// is replaced by "xxxxx"; a path is returned as it is.
func RedactDSN(dsn string) string {
	if !IsURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// dialect is what differs between the engines.
type dialect interface {
	engine() string
	// setup checks that the database is tandem's (or empty) and sets what
	// each connection needs, before the migrations.
	setup(ctx context.Context, db *DB, mustExist bool) error
	// ddl turns a migration written for SQLite into this engine's.
	ddl(sql string) string
	// lockMigrations serialises migrations between processes; the returned
	// function releases the lock.
	lockMigrations(ctx context.Context, db *DB) (migrator, func(), error)
	// usedBytes is what the storage budget (--max-db-size) measures.
	usedBytes(ctx context.Context, db *DB) (int64, error)
	// forget makes deleted or rewritten values unreadable where the engine
	// allows it (after rediff scrubbed them).
	forget(ctx context.Context, db *DB) error
	integrityCheck(ctx context.Context, db *DB) (string, error)
	translate(err error) error
	// batchTimeout bounds a writer's batch (0: no bound), given the
	// writer's setting (0: the engine's default).
	batchTimeout(set time.Duration) time.Duration
	// insertExchanges stores exchanges and their differences in tx (on
	// conn), setting their IDs.
	insertExchanges(ctx context.Context, conn *sql.Conn, tx *sql.Tx, rows []storedExchange) error
}

// migrator is what migrations run on: the pool for SQLite (one writer
// anyway), the connection holding the advisory lock for PostgreSQL.
type migrator interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// ---- SQLite ----

// applicationID marks a SQLite file as a tandem database ("tndm"), so that a
// foreign database is refused with a clear message instead of being altered.
const applicationID = 0x746e646d

// translateSQLite turns SQLite errors into messages a user can act on.
func translateSQLite(err error) error {
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

type sqliteDialect struct{}

func (sqliteDialect) engine() string { return EngineSQLite }

func (sqliteDialect) setup(ctx context.Context, db *DB, _ bool) error {
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
	return nil
}

func (sqliteDialect) ddl(s string) string { return s }

// batchTimeout: none. SQLite waits at most its busy timeout for a lock, and
// a context that can end costs the driver a goroutine per statement.
func (sqliteDialect) batchTimeout(time.Duration) time.Duration { return 0 }

func (sqliteDialect) lockMigrations(_ context.Context, db *DB) (migrator, func(), error) {
	// _txlock=immediate makes each migration's transaction take the write
	// lock first: two processes opening a new file migrate one after the
	// other.
	return db.db, func() {}, nil
}

func (sqliteDialect) usedBytes(ctx context.Context, db *DB) (int64, error) {
	var v [3]int64
	for i, pragma := range []string{"page_count", "freelist_count", "page_size"} {
		if err := db.db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&v[i]); err != nil {
			return 0, fmt.Errorf("database size: %w", translate(err))
		}
	}
	return (v[0] - v[1]) * v[2], nil
}

// forget: secure_delete (set when the database is opened) zeroes the pages
// the values were on, and a truncating checkpoint empties the WAL, which
// still held them.
func (sqliteDialect) forget(ctx context.Context, db *DB) error {
	_, err := db.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return translate(err)
}

func (sqliteDialect) integrityCheck(ctx context.Context, db *DB) (string, error) {
	var s string
	err := db.db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&s)
	return s, translate(err)
}

func (sqliteDialect) translate(err error) error { return translateSQLite(err) }

// insertExchanges: a prepared INSERT per row is what SQLite does fastest
// (no round trips), and LastInsertId gives each its id.
func (sqliteDialect) insertExchanges(ctx context.Context, _ *sql.Conn, tx *sql.Tx, rows []storedExchange) error {
	if len(rows) == 0 {
		return nil
	}
	ins, err := prepareInserts(ctx, tx)
	if err != nil {
		return err
	}
	defer ins.close()
	for _, r := range rows {
		if err := ins.exchange(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func openSQLite(dbPath string) (*sql.DB, error) {
	dsn := "file:" + dbPath + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_foreign_keys=on&_txlock=immediate&_secure_delete=on"
	return sql.Open("sqlite3", dsn)
}

// ---- PostgreSQL ----

type pgDialect struct{}

func (pgDialect) engine() string { return EnginePostgres }

// openPostgres opens a pool through pgx's database/sql driver: the store is
// written against database/sql (helpers take a *sql.Tx), so one code path
// serves both engines, and COPY is still at hand through sql.Conn.Raw.
func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the URL, password included.
		return nil, errors.New("bad PostgreSQL URL (want postgres://user:password@host:port/database?sslmode=…)")
	}
	if !strings.Contains(dsn, "connect_timeout") {
		cfg.ConnectTimeout = DefaultPGConnectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "tandem"
	sqldb := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	sqldb.SetMaxOpenConns(DefaultPGMaxConns)
	sqldb.SetMaxIdleConns(DefaultPGMaxConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return sqldb, nil
}

func (pgDialect) setup(ctx context.Context, db *DB, mustExist bool) error {
	if err := db.db.PingContext(ctx); err != nil {
		return translatePG(err)
	}
	var migrations, exchanges sql.NullString
	if err := db.db.QueryRowContext(ctx, "SELECT to_regclass('schema_migrations')::text, to_regclass('exchanges')::text").
		Scan(&migrations, &exchanges); err != nil {
		return translatePG(err)
	}
	switch {
	case exchanges.Valid && !migrations.Valid:
		return errors.New("not a tandem database (it has a table named exchanges that tandem did not make: use another database or schema)")
	case mustExist && !migrations.Valid:
		return errors.New("no tandem tables in this database (run tandem proxy or tandem replay with this --db first)")
	}
	return nil
}

var (
	// SQLite's INTEGER is 64-bit; PostgreSQL's is 32: times are
	// nanoseconds.
	pgInteger = regexp.MustCompile(`\bINTEGER\b`)
	pgBlob    = regexp.MustCompile(`\bBLOB\b`)
	// A table's own "id INTEGER PRIMARY KEY" is SQLite's rowid alias.
	pgRowidAlias = regexp.MustCompile(`(?m)^(\s*id\s+)INTEGER\s+PRIMARY KEY\b`)
	pgNoRowid    = regexp.MustCompile(`\)\s*WITHOUT ROWID`)
	pgCreate     = regexp.MustCompile(`(?s)CREATE TABLE (\w+) \((.*?)\n\)( WITHOUT ROWID)?;`)
)

// ddl translates a migration: 64-bit integers, bytea for blobs, identity
// columns for rowid aliases, and, for a SQLite table with an implicit
// rowid (not WITHOUT ROWID and no id alias), an explicit rowid column, so
// that "ORDER BY rowid" (insertion order) reads the same on both.
func (pgDialect) ddl(s string) string {
	s = pgCreate.ReplaceAllStringFunc(s, func(table string) string {
		m := pgCreate.FindStringSubmatch(table)
		if m[3] != "" || pgRowidAlias.MatchString(m[2]) {
			return table
		}
		return "CREATE TABLE " + m[1] + " (\n\trowid INTEGER GENERATED BY DEFAULT AS IDENTITY," + m[2] + "\n);"
	})
	s = pgRowidAlias.ReplaceAllString(s, "${1}INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
	s = pgNoRowid.ReplaceAllString(s, ")")
	s = pgInteger.ReplaceAllString(s, "BIGINT")
	return pgBlob.ReplaceAllString(s, "BYTEA")
}

func (pgDialect) batchTimeout(set time.Duration) time.Duration {
	if set > 0 {
		return set
	}
	return DefaultWriteTimeout
}

func (pgDialect) lockMigrations(ctx context.Context, db *DB) (migrator, func(), error) {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return nil, nil, translatePG(err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", pgMigrationLock); err != nil {
		conn.Close()
		return nil, nil, translatePG(err)
	}
	return conn, func() {
		conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(?)", pgMigrationLock)
		conn.Close()
	}, nil
}

// pgSampleRows is how many of the newest exchanges the storage budget
// averages their size over.
const pgSampleRows = 1000

// usedBytes: PostgreSQL's files do not shrink when rows are deleted (the
// space is reused after VACUUM), so the budget bounds the data tandem
// keeps, not a file: the stored exchanges times the average size of the
// newest ones (row and bodies, as stored), plus their differences likewise.
func (pgDialect) usedBytes(ctx context.Context, db *DB) (int64, error) {
	var n sql.NullFloat64
	err := db.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM exchanges) * coalesce((SELECT avg(pg_column_size(e.*)) FROM
			(SELECT * FROM exchanges ORDER BY id DESC LIMIT ?) e), 0) +
		(SELECT count(*) FROM differences) * coalesce((SELECT avg(pg_column_size(d.*)) FROM
			(SELECT * FROM differences ORDER BY rowid DESC LIMIT ?) d), 0)`, pgSampleRows, pgSampleRows).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("database size: %w", translatePG(err))
	}
	return int64(n.Float64), nil
}

// forget: VACUUM makes the space of deleted and rewritten rows reusable
// (so new rows overwrite it). The server's WAL and backups are its
// operator's to expire; tandem cannot reach them.
func (pgDialect) forget(ctx context.Context, db *DB) error {
	_, err := db.db.ExecContext(ctx, "VACUUM exchanges")
	return translatePG(err)
}

// integrityCheck: PostgreSQL checks its pages itself (and pg_amcheck does
// more); what tandem can check is that its tables answer.
func (pgDialect) integrityCheck(ctx context.Context, db *DB) (string, error) {
	var n int64
	if err := db.db.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return "", translatePG(err)
	}
	return "ok", nil
}

func (pgDialect) translate(err error) error { return translatePG(err) }

// insertExchanges: the ids are taken from the identity's sequence first (one
// round trip), so that the exchanges and their differences can each go in
// one COPY, the fastest way into PostgreSQL.
func (pgDialect) insertExchanges(ctx context.Context, conn *sql.Conn, tx *sql.Tx, rows []storedExchange) error {
	if len(rows) == 0 {
		return nil
	}
	ids, err := tx.QueryContext(ctx, "SELECT nextval(pg_get_serial_sequence('exchanges', 'id')) FROM generate_series(1, ?)", len(rows))
	if err != nil {
		return fmt.Errorf("allocate exchange ids: %w", err)
	}
	i := 0
	for ids.Next() && i < len(rows) {
		if err := ids.Scan(&rows[i].ex.ID); err != nil {
			ids.Close()
			return fmt.Errorf("allocate exchange ids: %w", err)
		}
		i++
	}
	ids.Close()
	if err := ids.Err(); err != nil {
		return fmt.Errorf("allocate exchange ids: %w", err)
	}
	if i != len(rows) {
		return fmt.Errorf("allocate exchange ids: got %d of %d", i, len(rows))
	}
	exRows := make([][]any, len(rows))
	var diffRows [][]any
	for i, r := range rows {
		exRows[i] = append([]any{r.ex.ID}, exchangeArgs(r)...)
		for _, d := range r.ex.Differences {
			diffRows = append(diffRows, differenceArgs(r.ex, d))
		}
	}
	return conn.Raw(func(dc any) error {
		pc := dc.(*pgConn).Conn.Conn()
		if _, err := pc.CopyFrom(ctx, pgx.Identifier{"exchanges"}, append([]string{"id"}, exchangeInsertColumns...), pgx.CopyFromRows(exRows)); err != nil {
			return fmt.Errorf("insert exchanges: %w", err)
		}
		if len(diffRows) > 0 {
			if _, err := pc.CopyFrom(ctx, pgx.Identifier{"differences"}, differenceColumns, pgx.CopyFromRows(diffRows)); err != nil {
				return fmt.Errorf("insert differences: %w", err)
			}
		}
		return nil
	})
}

// translatePG turns PostgreSQL errors into messages a user can act on.
func translatePG(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01" || pe.Code == "28000":
			return fmt.Errorf("PostgreSQL refused the login (%s): check the user and password in --db", pe.Message)
		case pe.Code == "3D000":
			return fmt.Errorf("%s: create it first (createdb) or name another in --db", pe.Message)
		case pe.Code == "42501":
			return fmt.Errorf("PostgreSQL: %s: grant the --db user the rights on tandem's tables", pe.Message)
		case pe.Code == "53100":
			return errors.New("PostgreSQL's disk is full")
		}
		return fmt.Errorf("PostgreSQL: %s (%s)", pe.Message, pe.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("PostgreSQL did not answer in time (a server that hangs, or is overloaded)")
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return fmt.Errorf("cannot reach PostgreSQL: %v (is the server up, and the host and port in --db right?)", ce.Unwrap())
	}
	return err
}

// pgConnector hands database/sql connections that take `?` placeholders.
type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &pgConn{dc.(*stdlib.Conn)}, nil
}

// pgConn is pgx's connection with the store's `?` placeholders rewritten
// as PostgreSQL's $n before a statement reaches the server.
type pgConn struct{ *stdlib.Conn }

func (c *pgConn) Prepare(q string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(q)) }

func (c *pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(q))
}

func (c *pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(q), args)
}

func (c *pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(q), args)
}

// rebind rewrites ? placeholders as $1, $2…, leaving quoted text and
// comments alone.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '\'', '"':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				j := strings.IndexByte(q[i:], '\n')
				if j < 0 {
					j = len(q) - i
				}
				b.WriteString(q[i : i+j])
				i += j - 1
				continue
			}
			b.WriteByte(c)
		case '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
