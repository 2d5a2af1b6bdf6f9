package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// MergeResult counts what merging one database into another did.
type MergeResult struct {
	Added   int64 // exchanges copied
	Present int64 // exchanges already merged before, left alone
	// Instances are the instances whose counts were copied, under the
	// names they have in the target.
	Instances []string
}

// mergeBatch is how many exchanges one merge transaction copies.
const mergeBatch = 500

// derivedTables are the tables of counts derived from exchanges, keyed by
// instance first, with their columns.
var derivedTables = []struct{ name, columns string }{
	{"counters", "instance, endpoint, minute, name, n"},
	{"fields", "instance, endpoint, pattern, mismatches, noise, example_legacy, example_candidate"},
	{"noise_stats", "instance, endpoint, pattern, n"},
	{"latencies", "instance, endpoint, side, bucket, n"},
	{"pattern_pairs", "instance, endpoint, pattern, only_candidate, only_secondary, both_differ, unpaired, unpaired_removed, unpaired_type"},
	{"pair_totals", "instance, endpoint, paired, unpaired"},
}

// Merge copies src's exchanges (with their differences and triage), its
// counts and its pattern triage into db. rename gives the name an instance
// of src has in db (rows written before instances existed have instance
// "": the caller names them).
//
// Merging is idempotent: each exchange keeps a stable key, its origin
// ("instance/id" where it was first recorded), and one already present is
// not copied again; an instance's counts in db are replaced by src's,
// which are the whole of them (an instance writes one database). Pattern
// triage keeps the newest decision.
func (db *DB) Merge(ctx context.Context, src *DB, rename func(string) string) (*MergeResult, error) {
	res := &MergeResult{}
	names := map[string]string{}
	name := func(in string) string {
		if n, ok := names[in]; ok {
			return n
		}
		n := rename(in)
		names[in] = n
		return n
	}
	var after int64
	for {
		n, last, err := db.mergeExchanges(ctx, src, after, name, res)
		if err != nil {
			return res, fmt.Errorf("merge %s: %w", src.Path, translate(err))
		}
		if n < mergeBatch {
			break
		}
		after = last
	}
	if err := db.mergeCounts(ctx, src, name, res); err != nil {
		return res, fmt.Errorf("merge %s: %w", src.Path, translate(err))
	}
	return res, nil
}

// mergeColumns are the columns an exchange is copied with: those it is
// inserted with, but its id, read to make its origin.
var mergeColumns = exchangeInsertColumns

func (db *DB) mergeExchanges(ctx context.Context, src *DB, after int64, name func(string) string, res *MergeResult) (int, int64, error) {
	rows, err := src.db.QueryContext(ctx, "SELECT id, "+strings.Join(mergeColumns, ", ")+
		" FROM exchanges WHERE id > ? ORDER BY id LIMIT ?", after, mergeBatch)
	if err != nil {
		return 0, 0, err
	}
	type row struct {
		id   int64
		vals []any
	}
	var batch []row
	for rows.Next() {
		r := row{vals: make([]any, len(mergeColumns))}
		dest := []any{&r.id}
		for i := range r.vals {
			dest = append(dest, &r.vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return 0, 0, err
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	if len(batch) == 0 {
		return 0, after, nil
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, insertExchangeSQL+" ON CONFLICT (origin) DO NOTHING")
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, r := range batch {
			// vals[0] is the instance, vals[1] the origin.
			srcInstance := asString(r.vals[0])
			r.vals[0] = name(srcInstance)
			origin := asString(r.vals[1])
			if origin == "" {
				origin = r.vals[0].(string) + "/" + strconv.FormatInt(r.id, 10)
			}
			r.vals[1] = origin
			out, err := ins.ExecContext(ctx, r.vals...)
			if err != nil {
				return fmt.Errorf("copy exchange %d: %w", r.id, err)
			}
			var id int64
			if err := tx.QueryRowContext(ctx, "SELECT id FROM exchanges WHERE origin = ?", origin).Scan(&id); err != nil {
				return fmt.Errorf("copy exchange %d: %w", r.id, err)
			}
			if n, _ := out.RowsAffected(); n == 0 {
				res.Present++
			} else {
				res.Added++
				if err := copyDifferences(ctx, src, tx, r.id, id); err != nil {
					return err
				}
			}
			if err := copyExchangeTriage(ctx, src, tx, r.id, id); err != nil {
				return err
			}
		}
		return nil
	})
	return len(batch), batch[len(batch)-1].id, err
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

func copyDifferences(ctx context.Context, src *DB, tx *sql.Tx, from, to int64) error {
	cols := differenceColumns[1:]
	rows, err := src.db.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM differences WHERE exchange_id = ? ORDER BY rowid", from)
	if err != nil {
		return err
	}
	defer rows.Close()
	q := "INSERT INTO differences (" + strings.Join(differenceColumns, ", ") + ") VALUES (?" + strings.Repeat(",?", len(cols)) + ")"
	for rows.Next() {
		vals := make([]any, len(cols))
		dest := make([]any, len(cols))
		for i := range vals {
			dest[i] = &vals[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, append([]any{to}, vals...)...); err != nil {
			return fmt.Errorf("copy differences of exchange %d: %w", from, err)
		}
	}
	return rows.Err()
}

// copyExchangeTriage copies an exchange's decision; of two, the newest
// wins.
func copyExchangeTriage(ctx context.Context, src *DB, tx *sql.Tx, from, to int64) error {
	var state, note string
	var updated int64
	err := src.db.QueryRowContext(ctx, "SELECT state, note, updated FROM exchange_triage WHERE exchange_id = ?", from).Scan(&state, &note, &updated)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO exchange_triage (exchange_id, state, note, updated) VALUES (?,?,?,?)
		ON CONFLICT (exchange_id) DO UPDATE SET state = excluded.state, note = excluded.note, updated = excluded.updated
		WHERE excluded.updated > exchange_triage.updated`, to, state, note, updated)
	return err
}

// mergeCounts replaces, in one transaction, the counts of every instance
// of src by src's, and merges the pattern triage.
func (db *DB) mergeCounts(ctx context.Context, src *DB, name func(string) string, res *MergeResult) error {
	type table struct {
		name, columns string
		rows          [][]any
	}
	var tables []table
	instances := map[string]bool{}
	for _, t := range derivedTables {
		rows, err := src.db.QueryContext(ctx, "SELECT "+t.columns+" FROM "+t.name)
		if err != nil {
			return err
		}
		tb := table{name: t.name, columns: t.columns}
		n := len(strings.Split(t.columns, ","))
		for rows.Next() {
			vals := make([]any, n)
			dest := make([]any, n)
			for i := range vals {
				dest[i] = &vals[i]
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			vals[0] = name(asString(vals[0]))
			instances[vals[0].(string)] = true
			tb.rows = append(tb.rows, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		tables = append(tables, tb)
	}
	triage, err := src.patternTriage(ctx, "")
	if err != nil {
		return err
	}
	for in := range instances {
		res.Instances = append(res.Instances, in)
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		for _, t := range tables {
			for in := range instances {
				if _, err := tx.ExecContext(ctx, "DELETE FROM "+t.name+" WHERE instance = ?", in); err != nil {
					return err
				}
			}
			for start := 0; start < len(t.rows); start += upsertRows {
				chunk := t.rows[start:min(start+upsertRows, len(t.rows))]
				one := "(?" + strings.Repeat(",?", len(chunk[0])-1) + ")"
				var args []any
				for _, r := range chunk {
					args = append(args, r...)
				}
				if _, err := tx.ExecContext(ctx, "INSERT INTO "+t.name+" ("+t.columns+") VALUES "+one+strings.Repeat(","+one, len(chunk)-1), args...); err != nil {
					return fmt.Errorf("copy %s: %w", t.name, err)
				}
			}
		}
		for k, t := range triage {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pattern_triage (endpoint, pattern, state, note, updated) VALUES (?,?,?,?,?)
				ON CONFLICT (endpoint, pattern) DO UPDATE SET state = excluded.state, note = excluded.note, updated = excluded.updated
				WHERE excluded.updated > pattern_triage.updated`, k.endpoint, k.pattern, string(t.State), t.Note, t.Updated.UnixNano()); err != nil {
				return fmt.Errorf("copy pattern triage: %w", err)
			}
		}
		return nil
	})
}
