package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tandemproxy/tandem"
)

// The SQL a batch is written with: upserts of counters, transactions,
// and the prepared inserts of exchanges and their differences.

const upsertRows = 200

// upsert inserts rows into table ("name (columns)"), resolving conflicts
// with onConflict ("(key) DO UPDATE SET …"), upsertRows at a time.
func upsert(ctx context.Context, tx *sql.Tx, table string, rows [][]any, onConflict string) error {
	for start := 0; start < len(rows); start += upsertRows {
		chunk := rows[start:min(start+upsertRows, len(rows))]
		one := "(?" + strings.Repeat(",?", len(chunk[0])-1) + ")"
		args := make([]any, 0, len(chunk)*len(chunk[0]))
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := "INSERT INTO " + table + " VALUES " + one + strings.Repeat(","+one, len(chunk)-1) + " ON CONFLICT " + onConflict
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// inConnTx runs fn in a transaction on one connection, which fn may also
// use directly (PostgreSQL's COPY goes through it).
func (db *DB) inConnTx(ctx context.Context, fn func(*sql.Conn, *sql.Tx) error) error {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(conn, tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// exchangeInsertColumns are the columns an exchange is inserted with, in
// the order of exchangeArgs.
var exchangeInsertColumns = strings.Fields(strings.ReplaceAll(`instance, origin, ts, endpoint, source, method, url, host, req_headers, req_body,
	legacy_status, legacy_headers, legacy_body, legacy_latency_us, legacy_error, legacy_body_size, legacy_body_hash, legacy_truncated,
	candidate_status, candidate_headers, candidate_body, candidate_latency_us, candidate_error, candidate_body_size, candidate_body_hash, candidate_truncated,
	has_secondary, secondary_status, secondary_headers, secondary_body, secondary_latency_us, secondary_error, secondary_body_size, secondary_body_hash, secondary_truncated,
	outcome, error, noise_patterns, body_codec, served_by`, ",", " "))

var insertExchangeSQL = "INSERT INTO exchanges (" + strings.Join(exchangeInsertColumns, ", ") + ") VALUES (?" +
	strings.Repeat(",?", len(exchangeInsertColumns)-1) + ")"

// differenceColumns are the columns a difference is inserted with, in the
// order of differenceArgs.
var differenceColumns = []string{"exchange_id", "endpoint", "path", "pattern", "kind", "legacy", "candidate", "noise"}

func differenceArgs(ex *tandem.Exchange, d tandem.Difference) []any {
	return []any{ex.ID, ex.Endpoint, d.Path, d.Pattern, string(d.Kind), d.Legacy, d.Candidate, b2i(d.Noise)}
}

// responseArgs are a response's columns, body as stored (compressed).
func responseArgs(r *tandem.Response, body []byte) []any {
	size := r.BodySize
	if size == 0 {
		size = int64(len(r.Body))
	}
	return []any{r.Status, headersJSON(r.Header), body, r.Latency.Microseconds(), r.Err, size, r.BodyHash, b2i(r.Truncated)}
}

// inserts holds the statements that store exchanges, prepared once per
// transaction.
type inserts struct {
	ex, diff *sql.Stmt
}

func prepareInserts(ctx context.Context, tx *sql.Tx) (*inserts, error) {
	ex, err := tx.PrepareContext(ctx, insertExchangeSQL)
	if err != nil {
		return nil, err
	}
	d, err := tx.PrepareContext(ctx, "INSERT INTO differences ("+strings.Join(differenceColumns, ", ")+") VALUES (?"+
		strings.Repeat(",?", len(differenceColumns)-1)+")")
	if err != nil {
		ex.Close()
		return nil, err
	}
	return &inserts{ex: ex, diff: d}, nil
}

func (s *inserts) close() {
	s.ex.Close()
	s.diff.Close()
}

// storedExchange is an exchange to insert: bodies holds its bodies
// compressed (nil: store them as they are); origin is its stable key when
// it was merged from another database.
type storedExchange struct {
	ex     *tandem.Exchange
	bodies *bodies
	source string
	origin sql.NullString
}

// exchange inserts an exchange and its differences, setting ex.ID.
func (s *inserts) exchange(ctx context.Context, se storedExchange) error {
	res, err := s.ex.ExecContext(ctx, exchangeArgs(se)...)
	if err != nil {
		return fmt.Errorf("insert exchange: %w", err)
	}
	if se.ex.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return s.diffs(ctx, se.ex)
}

// exchangeArgs are the values of insertExchangeSQL's columns, in order.
func exchangeArgs(se storedExchange) []any {
	ex, bs, source := se.ex, se.bodies, se.source
	t := ex.Time
	if t.IsZero() {
		t = time.Now()
	}
	codecName := codecZstd
	if bs == nil {
		codecName = ""
		bs = &bodies{req: ex.Request.Body, legacy: ex.Legacy.Body, candidate: ex.Candidate.Body}
		if ex.Secondary != nil {
			bs.secondary = ex.Secondary.Body
		}
	}
	args := make([]any, 0, 40)
	args = append(args, ex.Instance, se.origin, t.UnixNano(), ex.Endpoint, source, ex.Request.Method, ex.Request.URL, ex.Request.Host, headersJSON(ex.Request.Header), bs.req)
	args = append(args, responseArgs(&ex.Legacy, bs.legacy)...)
	args = append(args, responseArgs(&ex.Candidate, bs.candidate)...)
	if ex.Secondary != nil {
		args = append(args, 1)
		args = append(args, responseArgs(ex.Secondary, bs.secondary)...)
	} else {
		args = append(args, 0, 0, "[]", nil, 0, "", 0, "", 0)
	}
	np := "[]"
	if len(ex.NoisePatterns) > 0 {
		b, _ := json.Marshal(ex.NoisePatterns)
		np = string(b)
	}
	return append(args, string(ex.Outcome), ex.Error, np, codecName, ex.ServedBy)
}

func (s *inserts) diffs(ctx context.Context, ex *tandem.Exchange) error {
	for _, d := range ex.Differences {
		if _, err := s.diff.ExecContext(ctx, differenceArgs(ex, d)...); err != nil {
			return fmt.Errorf("insert difference: %w", err)
		}
	}
	return nil
}
