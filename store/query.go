package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/tandemproxy/tandem"
)

// Totals counts requests over the whole database.
type Totals struct {
	Requests        int64 `json:"requests"`
	Compared        int64 `json:"compared"`
	Matched         int64 `json:"matched"`
	Mismatched      int64 `json:"mismatched"`
	Noise           int64 `json:"noise"`
	CandidateErrors int64 `json:"candidate_errors"`
	Dropped         int64 `json:"dropped"`
	Skipped         int64 `json:"skipped"`
	DiffErrors      int64 `json:"diff_errors"`
	LegacyErrors    int64 `json:"legacy_errors"`
	// SecondaryErrors are the exchanges judged without noise detection
	// because the secondary did not answer.
	SecondaryErrors int64 `json:"secondary_errors,omitempty"`
	// Upgraded are the upgraded connections (WebSocket) tunnelled to
	// legacy: never mirrored, never compared.
	Upgraded int64 `json:"upgraded,omitempty"`
	// Streamed are the requests not compared because legacy's answer was a
	// stream (text/event-stream, or long without a length).
	Streamed int64 `json:"streamed"`
	// SampledOut are the requests served but not mirrored: outside the
	// endpoint's sample.
	SampledOut int64 `json:"sampled_out,omitempty"`
	// Unrecorded and WebSocket are a replay's records not sent: no
	// recorded answer to compare with (golden mode), or a WebSocket.
	Unrecorded int64 `json:"unrecorded,omitempty"`
	WebSocket  int64 `json:"websocket,omitempty"`
}

// totalsOf reads the totals from the counters summed.
func totalsOf(c tandem.Counts) Totals {
	return Totals{
		Requests: c.Get(tandem.Requests), Compared: c.Compared(),
		Matched: c.Get(tandem.Match), Mismatched: c.Get(tandem.Mismatch), Noise: c.Get(tandem.Noise),
		CandidateErrors: c.Get(tandem.CandidateError), DiffErrors: c.Get(tandem.DiffError),
		Dropped: c.Get(tandem.Dropped), Skipped: c.Get(tandem.Skipped), LegacyErrors: c.Get(tandem.LegacyError),
		SecondaryErrors: c.Get(tandem.SecondaryError), Upgraded: c.Get(tandem.Upgraded), Streamed: c.Get(tandem.Streamed),
		SampledOut: c.Get(tandem.SampledOut), Unrecorded: c.Get(tandem.Unrecorded), WebSocket: c.Get(tandem.WebSocket),
	}
}

// setCounts reads an endpoint's outcomes from its counters summed.
func (e *EndpointReport) setCounts(c tandem.Counts) {
	e.Compared = c.Compared()
	e.Matched, e.Mismatched, e.Noise = c.Get(tandem.Match), c.Get(tandem.Mismatch), c.Get(tandem.Noise)
	e.CandidateErrors, e.DiffErrors = c.Get(tandem.CandidateError), c.Get(tandem.DiffError)
	e.SecondaryCompared, e.SecondaryErrors = c.Get(tandem.SecondaryCompared), c.Get(tandem.SecondaryError)
}

// Report summarises the database: totals, and per endpoint the outcomes and
// the patterns that differ.
type Report struct {
	Totals    Totals           `json:"totals"`
	Endpoints []EndpointReport `json:"endpoints"`
	// Verdicts are the settings the fields' verdicts were reached with.
	Verdicts VerdictSettings `json:"verdicts"`
}

// EndpointReport is one endpoint's line of a report.
type EndpointReport struct {
	Endpoint        string `json:"endpoint"`
	Compared        int64  `json:"compared"`
	Matched         int64  `json:"matched"`
	Mismatched      int64  `json:"mismatched"`
	Noise           int64  `json:"noise"`
	CandidateErrors int64  `json:"candidate_errors"`
	DiffErrors      int64  `json:"diff_errors"`
	// Fields are the patterns at which exchanges differed for real, most
	// frequent first.
	Fields []Field `json:"fields"`
	// NoisyFields are the patterns at which a secondary legacy instance
	// disagreed with legacy, with the share of compared exchanges.
	NoisyFields       []NoisyField `json:"noisy_fields"`
	SecondaryCompared int64        `json:"secondary_compared"`
	SecondaryErrors   int64        `json:"secondary_errors,omitempty"` // judged without noise detection
	Latency           Latency      `json:"latency"`
	// ServedBy counts the compared exchanges of an endpoint in cutover by
	// the side that answered the client ("legacy", "candidate").
	ServedBy map[string]int64 `json:"served_by,omitempty"`
}

// Field is a pattern with the number of exchanges that differed there.
type Field struct {
	Pattern          string `json:"pattern"`
	Count            int64  `json:"count"`
	Noise            int64  `json:"noise"`
	ExampleLegacy    string `json:"example_legacy"`
	ExampleCandidate string `json:"example_candidate"`
	// The statistical verdict on the pattern and its evidence (verdict.go;
	// README, "Verdicts").
	FieldVerdict
}

// NoisyField is a pattern where legacy disagrees with itself.
type NoisyField struct {
	Pattern string  `json:"pattern"`
	Count   int64   `json:"count"`
	Rate    float64 `json:"rate"` // of exchanges compared with a secondary
}

// Latency holds quantiles, in milliseconds.
type Latency struct {
	LegacyP50    float64 `json:"legacy_p50_ms"`
	LegacyP99    float64 `json:"legacy_p99_ms"`
	CandidateP50 float64 `json:"candidate_p50_ms"`
	CandidateP99 float64 `json:"candidate_p99_ms"`
}

// Report computes the report: the sum over every instance, or only the
// one the database was opened for (Options.Instance).
func (db *DB) Report(ctx context.Context) (*Report, error) {
	r := &Report{Endpoints: []EndpointReport{}}
	where, args := db.instanceWhere("WHERE")
	rows, err := db.db.QueryContext(ctx, "SELECT endpoint, name, sum(n) FROM counters "+where+" GROUP BY endpoint, name", args...)
	if err != nil {
		return nil, fmt.Errorf("report: %w", translate(err))
	}
	byName := map[string]*EndpointReport{}
	// The counters are summed by the tally's names: every one into the
	// totals, an endpoint's into its own too.
	var total tandem.Counts
	perEndpoint := map[string]*tandem.Counts{}
	for rows.Next() {
		var ep, name string
		var n int64
		if err := rows.Scan(&ep, &name, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("report: %w", translate(err))
		}
		total.Add(tandem.Outcome(name), n)
		if ep == "" {
			continue
		}
		e := byName[ep]
		if e == nil {
			e = &EndpointReport{Endpoint: ep, Fields: []Field{}, NoisyFields: []NoisyField{}}
			byName[ep] = e
			perEndpoint[ep] = &tandem.Counts{}
		}
		perEndpoint[ep].Add(tandem.Outcome(name), n)
		e.addServed(name, n) // cutover.go: served_by_* counters
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", translate(err))
	}
	r.Totals = totalsOf(total)
	for ep, e := range byName {
		e.setCounts(*perEndpoint[ep])
	}
	if err := db.reportFields(ctx, byName); err != nil {
		return nil, err
	}
	if err := db.reportNoise(ctx, byName); err != nil {
		return nil, err
	}
	if err := db.reportLatency(ctx, byName); err != nil {
		return nil, err
	}
	for _, e := range byName {
		r.Endpoints = append(r.Endpoints, *e)
	}
	// Worst first: most mismatches, then most errors, then by name.
	slices.SortFunc(r.Endpoints, func(a, b EndpointReport) int {
		if a.Mismatched != b.Mismatched {
			return cmp.Compare(b.Mismatched, a.Mismatched)
		}
		if a.CandidateErrors != b.CandidateErrors {
			return cmp.Compare(b.CandidateErrors, a.CandidateErrors)
		}
		return strings.Compare(a.Endpoint, b.Endpoint)
	})
	if err := db.reportVerdicts(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (db *DB) reportFields(ctx context.Context, byName map[string]*EndpointReport) error {
	all, err := db.fieldCounts(ctx, "")
	if err != nil {
		return fmt.Errorf("report fields: %w", err)
	}
	for _, f := range all {
		if e := byName[f.endpoint]; e != nil && f.Count > 0 {
			e.Fields = append(e.Fields, f.Field)
		}
	}
	return nil
}

type endpointField struct {
	endpoint string
	Field
}

// fieldCounts returns the patterns that differed (of one endpoint, or of
// all with endpoint ""), summed over the instances in scope, most frequent
// first. The example is the one of the instance where the pattern
// mismatched most, so that its two values belong together.
func (db *DB) fieldCounts(ctx context.Context, endpoint string) ([]endpointField, error) {
	conds, args := []string{"(mismatches > 0 OR noise > 0)"}, []any{}
	if endpoint != "" {
		conds, args = append(conds, "endpoint = ?"), append(args, endpoint)
	}
	if db.scope != "" {
		conds, args = append(conds, "instance = ?"), append(args, db.scope)
	}
	rows, err := db.db.QueryContext(ctx, `SELECT endpoint, pattern, mismatches, noise, example_legacy, example_candidate
		FROM fields WHERE `+strings.Join(conds, " AND ")+` ORDER BY endpoint, pattern, mismatches DESC, noise DESC, instance`, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []endpointField
	for rows.Next() {
		var f endpointField
		if err := rows.Scan(&f.endpoint, &f.Pattern, &f.Count, &f.Noise, &f.ExampleLegacy, &f.ExampleCandidate); err != nil {
			return nil, translate(err)
		}
		if n := len(out); n > 0 && out[n-1].endpoint == f.endpoint && out[n-1].Pattern == f.Pattern {
			out[n-1].Count += f.Count
			out[n-1].Noise += f.Noise
			continue
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	slices.SortStableFunc(out, func(a, b endpointField) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		if a.Noise != b.Noise {
			return cmp.Compare(b.Noise, a.Noise)
		}
		return strings.Compare(a.Pattern, b.Pattern)
	})
	return out, nil
}

// instanceWhere is the condition that keeps the rows of the instance in
// scope (none when the database is read whole), after the keyword kw
// ("WHERE" or "AND").
func (db *DB) instanceWhere(kw string) (string, []any) {
	if db.scope == "" {
		return "", nil
	}
	return " " + kw + " instance = ? ", []any{db.scope}
}

func (db *DB) reportNoise(ctx context.Context, byName map[string]*EndpointReport) error {
	where, args := db.instanceWhere("WHERE")
	rows, err := db.db.QueryContext(ctx, "SELECT endpoint, pattern, sum(n) AS total FROM noise_stats "+where+
		" GROUP BY endpoint, pattern ORDER BY total DESC, pattern", args...)
	if err != nil {
		return fmt.Errorf("report noise: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var ep string
		var f NoisyField
		if err := rows.Scan(&ep, &f.Pattern, &f.Count); err != nil {
			return fmt.Errorf("report noise: %w", translate(err))
		}
		if e := byName[ep]; e != nil {
			if e.SecondaryCompared > 0 {
				f.Rate = float64(f.Count) / float64(e.SecondaryCompared)
			}
			e.NoisyFields = append(e.NoisyFields, f)
		}
	}
	return rows.Err()
}

func (db *DB) reportLatency(ctx context.Context, byName map[string]*EndpointReport) error {
	hists, err := db.Latencies(ctx)
	if err != nil {
		return err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for ep, sides := range hists {
		if e := byName[ep]; e != nil {
			e.Latency = Latency{
				LegacyP50: ms(sides["legacy"].Quantile(0.5)), LegacyP99: ms(sides["legacy"].Quantile(0.99)),
				CandidateP50: ms(sides["candidate"].Quantile(0.5)), CandidateP99: ms(sides["candidate"].Quantile(0.99)),
			}
		}
	}
	return nil
}

// Latencies returns the latency histograms by endpoint and side.
func (db *DB) Latencies(ctx context.Context) (map[string]map[string]Histogram, error) {
	where, args := db.instanceWhere("WHERE")
	rows, err := db.db.QueryContext(ctx, "SELECT endpoint, side, bucket, n FROM latencies"+where, args...)
	if err != nil {
		return nil, fmt.Errorf("latencies: %w", translate(err))
	}
	defer rows.Close()
	out := map[string]map[string]Histogram{}
	for rows.Next() {
		var ep, side string
		var b int
		var n int64
		if err := rows.Scan(&ep, &side, &b, &n); err != nil {
			return nil, fmt.Errorf("latencies: %w", translate(err))
		}
		if out[ep] == nil {
			out[ep] = map[string]Histogram{}
		}
		if out[ep][side] == nil {
			out[ep][side] = Histogram{}
		}
		out[ep][side][b] += n
	}
	return out, rows.Err()
}

// Filter selects stored exchanges. Zero fields select everything.
type Filter struct {
	// Instance selects the exchanges one instance recorded ("" every
	// instance's, unless the database was opened for one).
	Instance string
	Endpoint string
	Pattern  string // exchanges with a difference at this pattern
	Outcomes []tandem.Outcome
	Since    time.Time
	AfterID  int64 // for paging: exchanges with a larger id
	Limit    int   // 0: no limit
	Desc     bool  // newest first
}

const exchangeColumns = `id, instance, ts, endpoint, method, url, host, req_headers, req_body,
	legacy_status, legacy_headers, legacy_body, legacy_latency_us, legacy_error, legacy_body_size, legacy_body_hash, legacy_truncated,
	candidate_status, candidate_headers, candidate_body, candidate_latency_us, candidate_error, candidate_body_size, candidate_body_hash, candidate_truncated,
	has_secondary, secondary_status, secondary_headers, secondary_body, secondary_latency_us, secondary_error, secondary_body_size, secondary_body_hash, secondary_truncated,
	outcome, error, noise_patterns, body_codec, served_by`

func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	if f.Instance != "" {
		conds = append(conds, "instance = ?")
		args = append(args, f.Instance)
	}
	if f.Endpoint != "" {
		conds = append(conds, "endpoint = ?")
		args = append(args, f.Endpoint)
	}
	if f.Pattern != "" {
		conds = append(conds, "id IN (SELECT exchange_id FROM differences WHERE pattern = ?"+
			map[bool]string{true: " AND endpoint = ?", false: ""}[f.Endpoint != ""]+")")
		args = append(args, f.Pattern)
		if f.Endpoint != "" {
			args = append(args, f.Endpoint)
		}
	}
	if len(f.Outcomes) > 0 {
		conds = append(conds, "outcome IN (?"+strings.Repeat(",?", len(f.Outcomes)-1)+")")
		for _, o := range f.Outcomes {
			args = append(args, string(o))
		}
	}
	if !f.Since.IsZero() {
		conds = append(conds, "ts >= ?")
		args = append(args, unixNanoClamped(f.Since))
	}
	if f.AfterID > 0 {
		if f.Desc {
			conds = append(conds, "id < ?")
		} else {
			conds = append(conds, "id > ?")
		}
		args = append(args, f.AfterID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// unixNanoClamped is t in Unix nanoseconds (how times are stored), clamped
// to what an int64 holds: UnixNano is undefined past 2262, and a filter
// "since 3000" must select nothing, not everything.
func unixNanoClamped(t time.Time) int64 {
	switch {
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	}
	return t.UnixNano()
}

// order returns the ORDER BY and LIMIT clauses of the filter.
func (f *Filter) order() string {
	q := " ORDER BY id"
	if f.Desc {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return q
}

// exchangePage is how many exchanges Exchanges holds in memory at a time.
const exchangePage = 500

// Exchanges calls fn for each stored exchange the filter selects, in id
// order (newest first with Desc), with its differences, until fn returns an
// error. It reads in pages, so that a large database is never held in
// memory at once.
func (db *DB) Exchanges(ctx context.Context, f Filter, fn func(*tandem.Exchange) error) error {
	remaining := f.Limit
	for {
		page := f
		page.Limit = exchangePage
		if remaining > 0 {
			page.Limit = min(remaining, exchangePage)
		}
		batch, err := db.exchangePage(ctx, page)
		if err != nil {
			return err
		}
		for _, ex := range batch {
			if err := fn(ex); err != nil {
				return err
			}
		}
		if len(batch) < page.Limit {
			return nil
		}
		if remaining > 0 {
			if remaining -= len(batch); remaining == 0 {
				return nil
			}
		}
		f.AfterID = batch[len(batch)-1].ID
	}
}

// scoped is f within the instance the database was opened for.
func (db *DB) scoped(f Filter) Filter {
	if f.Instance == "" {
		f.Instance = db.scope
	}
	return f
}

func (db *DB) exchangePage(ctx context.Context, f Filter) ([]*tandem.Exchange, error) {
	where, args := db.scoped(f).where()
	rows, err := db.db.QueryContext(ctx, "SELECT "+exchangeColumns+" FROM exchanges"+where+f.order(), args...)
	if err != nil {
		return nil, fmt.Errorf("list exchanges: %w", translate(err))
	}
	var batch []*tandem.Exchange
	for rows.Next() {
		ex, err := scanExchange(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		batch = append(batch, ex)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list exchanges: %w", translate(err))
	}
	return batch, db.loadDiffs(ctx, batch)
}

// Exchange returns one stored exchange.
func (db *DB) Exchange(ctx context.Context, id int64) (*tandem.Exchange, error) {
	row := db.db.QueryRowContext(ctx, "SELECT "+exchangeColumns+" FROM exchanges WHERE id = ?", id)
	ex, err := scanExchange(row)
	if err == sql.ErrNoRows {
		return nil, fmt.Errorf("exchange %d: not found", id)
	}
	if err != nil {
		return nil, err
	}
	return ex, db.loadDiffs(ctx, []*tandem.Exchange{ex})
}

func (db *DB) loadDiffs(ctx context.Context, exs []*tandem.Exchange) error {
	if len(exs) == 0 {
		return nil
	}
	byID := make(map[int64]*tandem.Exchange, len(exs))
	ids := make([]any, len(exs))
	for i, ex := range exs {
		byID[ex.ID] = ex
		ids[i] = ex.ID
	}
	// Chunks stay under SQLite's limit on bound parameters.
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		rows, err := db.db.QueryContext(ctx, `SELECT exchange_id, path, pattern, kind, legacy, candidate, noise FROM differences
			WHERE exchange_id IN (?`+strings.Repeat(",?", len(chunk)-1)+`) ORDER BY rowid`, chunk...)
		if err != nil {
			return fmt.Errorf("load differences: %w", translate(err))
		}
		for rows.Next() {
			var id int64
			var d tandem.Difference
			var kind string
			var noise int
			if err := rows.Scan(&id, &d.Path, &d.Pattern, &kind, &d.Legacy, &d.Candidate, &noise); err != nil {
				rows.Close()
				return fmt.Errorf("load differences: %w", translate(err))
			}
			d.Kind, d.Noise = tandem.Kind(kind), noise != 0
			byID[id].Differences = append(byID[id].Differences, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load differences: %w", translate(err))
		}
	}
	return nil
}

type scanner interface{ Scan(...any) error }

type respCols struct {
	status          int
	headers, errStr string
	body            []byte
	latencyUS, size int64
	hash            string
	truncated       int
}

func (c *respCols) dest() []any {
	return []any{&c.status, &c.headers, &c.body, &c.latencyUS, &c.errStr, &c.size, &c.hash, &c.truncated}
}

func (c *respCols) response(codec string) (tandem.Response, error) {
	h, err := parseHeaders(c.headers)
	if err != nil {
		return tandem.Response{}, fmt.Errorf("headers: %w", err)
	}
	body, err := decodeBody(codec, c.body)
	if err != nil {
		return tandem.Response{}, err
	}
	return tandem.Response{Status: c.status, Header: h, Body: body, Latency: time.Duration(c.latencyUS) * time.Microsecond,
		Err: c.errStr, BodySize: c.size, BodyHash: c.hash, Truncated: c.truncated != 0}, nil
}

func scanExchange(s scanner) (*tandem.Exchange, error) {
	var (
		ex                tandem.Exchange
		ts                int64
		reqHeaders, noise string
		outcome, codec    string
		hasSecondary      int
		legacy, cand, sec respCols
	)
	dest := []any{&ex.ID, &ex.Instance, &ts, &ex.Endpoint, &ex.Request.Method, &ex.Request.URL, &ex.Request.Host, &reqHeaders, &ex.Request.Body}
	dest = append(dest, legacy.dest()...)
	dest = append(dest, cand.dest()...)
	dest = append(dest, &hasSecondary)
	dest = append(dest, sec.dest()...)
	dest = append(dest, &outcome, &ex.Error, &noise, &codec, &ex.ServedBy)
	if err := s.Scan(dest...); err != nil {
		if err == sql.ErrNoRows {
			return nil, err
		}
		return nil, fmt.Errorf("read exchange: %w", translate(err))
	}
	var err error
	fail := func(what string, err error) (*tandem.Exchange, error) {
		return nil, fmt.Errorf("read exchange %d: bad %s: %w", ex.ID, what, err)
	}
	ex.Time = time.Unix(0, ts)
	ex.Outcome = tandem.Outcome(outcome)
	if ex.Request.Header, err = parseHeaders(reqHeaders); err != nil {
		return fail("request headers", err)
	}
	if ex.Request.Body, err = decodeBody(codec, ex.Request.Body); err != nil {
		return fail("request body", err)
	}
	if ex.Legacy, err = legacy.response(codec); err != nil {
		return fail("legacy answer", err)
	}
	if ex.Candidate, err = cand.response(codec); err != nil {
		return fail("candidate answer", err)
	}
	if hasSecondary != 0 {
		s, err := sec.response(codec)
		if err != nil {
			return fail("secondary answer", err)
		}
		ex.Secondary = &s
	}
	if err := json.Unmarshal([]byte(noise), &ex.NoisePatterns); err != nil {
		return fail("noise patterns", err)
	}
	if len(ex.NoisePatterns) == 0 {
		ex.NoisePatterns = nil
	}
	return &ex, nil
}
