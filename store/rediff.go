package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/tandemproxy/tandem"
)

// DefaultRediffBatch is how many exchanges Rediff re-judges per transaction.
const DefaultRediffBatch = 500

// Reapply re-judges an exchange in place (endpoint, outcome, differences,
// noise patterns) and returns the names to redact before it is stored
// again. rules.Set.Apply is one.
type Reapply func(ex *tandem.Exchange) (redact []string)

// RediffResult counts what re-judging changed.
type RediffResult struct {
	Exchanges int64 // re-judged
	Changed   int64 // whose outcome, endpoint or differences changed
	// Scrubbed counts exchanges stored with values that the rules now
	// redact (a header, query parameter or JSON member named in redact:
	// since they were stored), rewritten without them.
	Scrubbed int64
	// Transitions counts outcome changes, keyed "mismatch→match".
	Transitions map[string]int64
}

// Rediff re-judges every stored exchange (those f selects), one
// transaction per batch, updating outcomes, differences and every counter
// derived from them, so that reports read as if the new rules had always
// been in force. Exchanges that were never stored (matches recorded with
// --record mismatches) cannot be re-judged and keep their counts.
func (db *DB) Rediff(ctx context.Context, f Filter, apply Reapply, batch int) (*RediffResult, error) {
	if batch <= 0 {
		batch = DefaultRediffBatch
	}
	res := &RediffResult{Transitions: map[string]int64{}}
	f.Desc, f.Limit = false, batch
	for {
		var exs []*tandem.Exchange
		if err := db.Exchanges(ctx, f, func(ex *tandem.Exchange) error {
			exs = append(exs, ex)
			return nil
		}); err != nil {
			return res, err
		}
		if len(exs) == 0 {
			return res, db.forget(ctx, res.Scrubbed)
		}
		f.AfterID = exs[len(exs)-1].ID
		if err := db.inTx(ctx, func(tx *sql.Tx) error { return rejudge(ctx, tx, exs, apply, res) }); err != nil {
			return res, fmt.Errorf("rediff: %w", translate(err))
		}
		if len(exs) < batch {
			return res, db.forget(ctx, res.Scrubbed)
		}
	}
}

// rejudge re-judges a batch and moves every derived count from the old
// verdict to the new one.
func rejudge(ctx context.Context, tx *sql.Tx, exs []*tandem.Exchange, apply Reapply, res *RediffResult) error {
	ins, err := prepareInserts(ctx, tx)
	if err != nil {
		return err
	}
	defer ins.close()
	agg := newDerived()
	for _, ex := range exs {
		old := *ex
		old.Differences = slices.Clone(ex.Differences)
		old.NoisePatterns = slices.Clone(ex.NoisePatterns)
		stored := storedForm(ex)
		redact := apply(ex)
		res.Exchanges++
		// Rules that name more to redact scrub what is already stored.
		Redact(ex, redact)
		if now := storedForm(ex); !slices.Equal(now, stored) {
			res.Scrubbed++
			if err := scrub(ctx, tx, ex); err != nil {
				return err
			}
		}
		if tandem.SameVerdict(&old, ex) {
			continue
		}
		res.Changed++
		if old.Outcome != ex.Outcome {
			res.Transitions[string(old.Outcome)+"→"+string(ex.Outcome)]++
		}
		agg.account(&old, -1)
		agg.account(ex, +1)
		np := "[]"
		if len(ex.NoisePatterns) > 0 {
			b, _ := json.Marshal(ex.NoisePatterns)
			np = string(b)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE exchanges SET endpoint = ?, outcome = ?, error = ?, noise_patterns = ? WHERE id = ?`,
			ex.Endpoint, string(ex.Outcome), ex.Error, np, ex.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM differences WHERE exchange_id = ?`, ex.ID); err != nil {
			return err
		}
		if err := ins.diffs(ctx, ex); err != nil {
			return err
		}
	}
	return agg.write(ctx, tx)
}

// forget makes scrubbed values unreadable in the database's files too,
// as far as the engine allows (dialect.forget).
func (db *DB) forget(ctx context.Context, scrubbed int64) error {
	if scrubbed == 0 {
		return nil
	}
	if err := db.d.forget(ctx, db); err != nil {
		return fmt.Errorf("rediff: make scrubbed values unreadable: %w", err)
	}
	return nil
}

// storedForm is what redaction can change of a stored exchange: its URL,
// headers and bodies, as text to compare (headers are redacted in place).
func storedForm(ex *tandem.Exchange) []string {
	out := []string{ex.Request.URL, headersJSON(ex.Request.Header), string(ex.Request.Body)}
	for _, r := range []*tandem.Response{&ex.Legacy, &ex.Candidate, ex.Secondary} {
		if r != nil {
			out = append(out, headersJSON(r.Header), string(r.Body))
		}
	}
	return out
}

// scrub rewrites a stored exchange's URL, headers and bodies after
// redaction.
func scrub(ctx context.Context, tx *sql.Tx, ex *tandem.Exchange) error {
	bs := compressBodies(ex)
	sec := &tandem.Response{}
	if ex.Secondary != nil {
		sec = ex.Secondary
	}
	_, err := tx.ExecContext(ctx, `UPDATE exchanges SET url = ?, req_headers = ?, req_body = ?,
		legacy_headers = ?, legacy_body = ?, candidate_headers = ?, candidate_body = ?,
		secondary_headers = ?, secondary_body = ?, body_codec = ? WHERE id = ?`,
		ex.Request.URL, headersJSON(ex.Request.Header), bs.req, headersJSON(ex.Legacy.Header), bs.legacy,
		headersJSON(ex.Candidate.Header), bs.candidate, headersJSON(sec.Header), bs.secondary, codecZstd, ex.ID)
	if err != nil {
		return fmt.Errorf("scrub exchange %d: %w", ex.ID, err)
	}
	return nil
}
