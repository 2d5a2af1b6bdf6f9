package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemproxy/tandem"
)

// RecordMode says which exchanges are stored in full. Counters are kept for
// every exchange whatever the mode.
type RecordMode string

// Record modes.
const (
	RecordMismatches RecordMode = "mismatches" // mismatches, noise and errors (the default)
	RecordAll        RecordMode = "all"        // every exchange: what replay needs
	RecordNone       RecordMode = "none"       // counters only
)

// ParseRecordMode checks a --record value.
func ParseRecordMode(s string) (RecordMode, error) {
	switch m := RecordMode(s); m {
	case RecordMismatches, RecordAll, RecordNone:
		return m, nil
	}
	return "", fmt.Errorf("--record %q: want mismatches, all or none", s)
}

// Writer defaults.
const (
	DefaultQueueSize  = 8192
	DefaultBatchSize  = 512
	DefaultFlushEvery = 100 * time.Millisecond
)

// WriterConfig configures a Writer; zero fields take the defaults.
type WriterConfig struct {
	Record RecordMode
	Source string // what produced the exchanges: "proxy" (default) or "replay"
	// Instance names this tandem in the rows it writes (DefaultInstance
	// when empty), so that many instances can share one database.
	Instance   string
	QueueSize  int
	BatchSize  int
	FlushEvery time.Duration
	Logger     *slog.Logger
	// Retention is applied by the writer itself, every PruneEvery, so that
	// pruning never competes with it for the database.
	Retention  Retention
	PruneEvery time.Duration // 0 means DefaultPruneEvery
	// BatchTimeout bounds a batch's transaction on PostgreSQL (0:
	// DefaultWriteTimeout); a batch that takes longer is counted as lost.
	BatchTimeout time.Duration
}

// DefaultWriteTimeout bounds one batch's transaction on PostgreSQL: a
// server that hangs (gone from the network) costs that batch, which is
// counted as lost, not the writer. (SQLite waits on its busy timeout.)
const DefaultWriteTimeout = 15 * time.Second

// DefaultInstance is the instance name rows carry when none is given: the
// host's name.
func DefaultInstance() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "tandem"
}

// failLogEvery bounds how often write failures (and recoveries) are logged.
const failLogEvery = time.Minute

// DefaultPruneEvery is how often the writer applies the retention.
const DefaultPruneEvery = 5 * time.Second

// countOnlyBatches bounds a batch of exchanges that are only counted, in
// BatchSizes.
const countOnlyBatches = 16

// WriterStats are the writer's own counters.
type WriterStats struct {
	Recorded int64 // exchanges counted
	Stored   int64 // exchanges stored in full
	Lost     int64 // exchanges whose batch could not be written
	Batches  int64
	Pruned   int64 // stored exchanges deleted by the retention
	Queued   int   // waiting in the queue now
}

// Writer is the one goroutine that writes to the database. It batches what
// it is given into transactions: at most BatchSize stored exchanges, or what came
// within FlushEvery. A crash loses at most the batch being assembled and the
// queue (see README, "Safety and guarantees").
type Writer struct {
	db   *DB
	cfg  WriterConfig
	in   chan message
	done chan struct{}
	log  *slog.Logger

	// mu guards closing in against concurrent sends: a late Record after
	// Close is counted as lost instead of panicking.
	mu        sync.RWMutex
	closed    bool
	recorded  atomic.Int64
	pruned    atomic.Int64
	lastPrune time.Time // writer goroutine only
	stored    atomic.Int64
	lost      atomic.Int64
	batches   atomic.Int64
	// writer goroutine only: the state of failing writes, for logging
	failing                   bool
	failLogged, recoverLogged time.Time
}

type message struct {
	ex     *tandem.Exchange
	store  bool
	bodies *bodies // ex's bodies compressed, when store is set
	counts []tandem.Count
	flush  chan struct{}
}

// NewWriter starts a writer. Close it to flush and stop it.
func (db *DB) NewWriter(cfg WriterConfig) *Writer {
	if cfg.Record == "" {
		cfg.Record = RecordMismatches
	}
	if cfg.Source == "" {
		cfg.Source = "proxy"
	}
	if cfg.Instance == "" {
		cfg.Instance = DefaultInstance()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = DefaultPruneEvery
	}
	w := &Writer{db: db, cfg: cfg, in: make(chan message, cfg.QueueSize), done: make(chan struct{}), log: cfg.Logger}
	go w.run()
	return w
}

// Stores reports whether an exchange with this outcome is stored in full.
func (w *Writer) Stores(o tandem.Outcome) bool {
	switch w.cfg.Record {
	case RecordAll:
		return true
	case RecordNone:
		return false
	}
	return o != tandem.Match
}

// Record counts an exchange and, if the record mode keeps it, stores it
// after redacting the headers and JSON fields named in redact (the standard
// secret headers are always redacted). The writer owns ex afterwards. Record
// blocks while the queue is full: the caller is a mirror worker, never the
// client path.
func (w *Writer) Record(ex *tandem.Exchange, redact []string) {
	m := message{ex: ex, store: w.Stores(ex.Outcome)}
	if m.store {
		Redact(ex, redact)
		m.bodies = compressBodies(ex)
	} else {
		redactDiffs(ex, redact)
		slim(ex)
	}
	if !w.send(m) {
		w.lost.Add(1)
	}
}

// Count counts an exchange without storing it, whatever the record mode:
// for exchanges that hold nothing a stored one does not (a copy never sent
// to a candidate known to be down). The writer owns ex afterwards.
func (w *Writer) Count(ex *tandem.Exchange, redact []string) {
	redactDiffs(ex, redact)
	slim(ex)
	if !w.send(message{ex: ex}) {
		w.lost.Add(1)
	}
}

// slim drops what an exchange that is only counted does not need (bodies
// and headers), so that it does not hold them while it waits for the writer.
func slim(ex *tandem.Exchange) {
	ex.Request.Header, ex.Request.Body = nil, nil
	for _, r := range []*tandem.Response{&ex.Legacy, &ex.Candidate, ex.Secondary} {
		if r != nil {
			r.Header, r.Body = nil, nil
		}
	}
}

// Add adds to process-wide counters.
func (w *Writer) Add(counts ...tandem.Count) {
	if len(counts) > 0 {
		w.send(message{counts: counts})
	}
}

// Flush waits until everything given so far is committed.
func (w *Writer) Flush() {
	ch := make(chan struct{})
	if w.send(message{flush: ch}) {
		<-ch
	}
}

func (w *Writer) send(m message) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return false
	}
	w.in <- m
	return true
}

// Close flushes and stops the writer. Records given after Close are
// counted as lost.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.in)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

// Stats returns the writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{Recorded: w.recorded.Load(), Stored: w.stored.Load(), Lost: w.lost.Load(),
		Batches: w.batches.Load(), Pruned: w.pruned.Load(), Queued: len(w.in)}
}

func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.FlushEvery)
	defer t.Stop()
	var batch []message
	var waiting []chan struct{}
	stored := 0
	flush := func() {
		if len(batch) > 0 {
			w.write(batch)
			clear(batch)
			batch = batch[:0]
			stored = 0
		}
		for _, ch := range waiting {
			close(ch)
		}
		waiting = waiting[:0]
	}
	for {
		select {
		case m, ok := <-w.in:
			if !ok {
				flush()
				return
			}
			if m.flush != nil {
				waiting = append(waiting, m.flush)
				flush()
				continue
			}
			batch = append(batch, m)
			if m.store {
				stored++
			}
			// A batch is BatchSize stored exchanges; exchanges only
			// counted (most of them, when only mismatches are stored) are
			// cheap to hold, and a transaction each 512 of them was a
			// tenth of the writer's work at full speed.
			if stored >= w.cfg.BatchSize || len(batch) >= countOnlyBatches*w.cfg.BatchSize {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

type counterKey struct {
	instance string
	endpoint string
	minute   int64
	name     string
}

type fieldKey struct{ endpoint, pattern string }

// instKey is a key of a derived count: the instance and what it counts.
type instKey[K comparable] struct {
	instance string
	key      K
}

type fieldAgg struct {
	mismatches, noise int64
	legacy, candidate string
}

type latencyKey struct {
	instance, endpoint, side string
	bucket                   int
}

func (w *Writer) write(batch []message) {
	ctx := context.Background()
	if d := w.db.d.batchTimeout(w.cfg.BatchTimeout); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	now := w.db.Now()
	agg := newDerived()
	exchanges := 0
	var rows []storedExchange
	for _, m := range batch {
		for _, c := range m.counts {
			agg.counters[counterKey{w.cfg.Instance, "", now.Unix() / 60, c.Name}] += c.N
		}
		if m.ex == nil {
			continue
		}
		if m.ex.Time.IsZero() {
			m.ex.Time = now
		}
		m.ex.Instance = w.cfg.Instance
		exchanges++
		agg.account(m.ex, +1)
		if m.store {
			rows = append(rows, storedExchange{ex: m.ex, bodies: m.bodies, source: w.cfg.Source})
		}
	}
	err := w.db.inConnTx(ctx, func(conn *sql.Conn, tx *sql.Tx) error {
		if err := w.db.d.insertExchanges(ctx, conn, tx, rows); err != nil {
			return err
		}
		return agg.write(ctx, tx)
	})
	w.recorded.Add(int64(exchanges))
	if err != nil {
		w.lost.Add(int64(exchanges))
		// Log the failure loudly, then stay quiet: a full disk must not
		// turn into a log line per request, nor one per flap when small
		// batches still fit (at most one line a minute).
		w.failing = true
		if now.Sub(w.failLogged) >= failLogEvery {
			w.failLogged = now
			w.log.Error("store: writes are failing; exchanges are being lost (counted in tandem_store_lost_total)",
				"db", w.db.Path, "err", translate(err), "lost", w.lost.Load())
		}
		return
	}
	if w.failing && exchanges > 0 {
		w.failing = false
		if now.Sub(w.recoverLogged) >= failLogEvery {
			w.recoverLogged = now
			w.log.Warn("store: writes work again", "db", w.db.Path, "lost", w.lost.Load())
		}
	}
	w.batches.Add(1)
	for _, m := range batch {
		if m.ex != nil && m.store {
			w.stored.Add(1)
		}
	}
	w.prune(now)
}

// prune applies the retention at most every PruneEvery.
func (w *Writer) prune(now time.Time) {
	if w.cfg.Retention.IsZero() || now.Sub(w.lastPrune) < w.cfg.PruneEvery {
		return
	}
	w.lastPrune = now
	n, err := w.db.Prune(context.Background(), w.cfg.Retention, now)
	w.pruned.Add(n)
	if err != nil {
		w.log.Error("store: pruning failed", "err", err)
	}
}

// derived holds the counts derived from exchanges (outcome counters,
// per-pattern counts, noise observations, latencies), to be added to the
// database in one go.
type derived struct {
	counters map[counterKey]int64
	fields   map[instKey[fieldKey]]*fieldAgg
	noise    map[instKey[fieldKey]]int64
	lat      map[latencyKey]int64
	pairAgg  // paired counts for per-field verdicts (pairs.go)
}

func newDerived() *derived {
	return &derived{counters: map[counterKey]int64{}, fields: map[instKey[fieldKey]]*fieldAgg{}, noise: map[instKey[fieldKey]]int64{}, lat: map[latencyKey]int64{}}
}

// account adds (sign +1) or removes (sign -1) an exchange's share of every
// derived count; per-pattern counts go once per exchange and pattern,
// however many elements differ there. The writer adds; rediff removes the
// old verdict and adds the new one.
func (d *derived) account(ex *tandem.Exchange, sign int64) {
	minute := ex.Time.Unix() / 60
	in := ex.Instance
	d.counters[counterKey{in, ex.Endpoint, minute, string(ex.Outcome)}] += sign
	if ex.Secondary != nil {
		name := "secondary_compared"
		if ex.Secondary.Err != "" {
			name = "secondary_error"
		}
		d.counters[counterKey{in, ex.Endpoint, minute, name}] += sign
	}
	if ex.ServedBy != "" { // cutover: who answered the client
		d.counters[counterKey{in, ex.Endpoint, minute, servedByCounter + ex.ServedBy}] += sign
	}
	seen := map[string]bool{}
	for _, df := range ex.Differences {
		if seen[df.Pattern] {
			continue
		}
		seen[df.Pattern] = true
		k := instKey[fieldKey]{in, fieldKey{ex.Endpoint, df.Pattern}}
		f := d.fields[k]
		if f == nil {
			f = &fieldAgg{}
			d.fields[k] = f
		}
		if df.Noise {
			f.noise += sign
		} else {
			f.mismatches += sign
		}
		if sign > 0 {
			f.legacy, f.candidate = df.Legacy, df.Candidate
		}
	}
	for _, p := range ex.NoisePatterns {
		d.noise[instKey[fieldKey]{in, fieldKey{ex.Endpoint, p}}] += sign
	}
	d.accountPairs(ex, sign)
	if ex.Legacy.Err == "" {
		d.lat[latencyKey{in, ex.Endpoint, "legacy", latencyBucket(ex.Legacy.Latency)}] += sign
	}
	if ex.Candidate.Err == "" {
		d.lat[latencyKey{in, ex.Endpoint, "candidate", latencyBucket(ex.Candidate.Latency)}] += sign
	}
}

// write adds the counts to the database, in multi-row upserts (a round
// trip each hundreds of keys, which is what counts on a remote server).
func (d *derived) write(ctx context.Context, tx *sql.Tx) error {
	counters := make([][]any, 0, len(d.counters))
	for k, n := range d.counters {
		counters = append(counters, []any{k.instance, k.endpoint, k.minute, k.name, n})
	}
	if err := upsert(ctx, tx, "counters (instance, endpoint, minute, name, n)", counters,
		"(instance, endpoint, minute, name) DO UPDATE SET n = counters.n + excluded.n"); err != nil {
		return fmt.Errorf("add counters: %w", err)
	}
	fields := make([][]any, 0, len(d.fields))
	for k, f := range d.fields {
		fields = append(fields, []any{k.instance, k.key.endpoint, k.key.pattern, f.mismatches, f.noise, f.legacy, f.candidate})
	}
	if err := upsert(ctx, tx, "fields (instance, endpoint, pattern, mismatches, noise, example_legacy, example_candidate)", fields,
		`(instance, endpoint, pattern) DO UPDATE SET mismatches = fields.mismatches + excluded.mismatches,
			noise = fields.noise + excluded.noise,
			example_legacy = CASE WHEN excluded.example_legacy || excluded.example_candidate != '' THEN excluded.example_legacy ELSE fields.example_legacy END,
			example_candidate = CASE WHEN excluded.example_legacy || excluded.example_candidate != '' THEN excluded.example_candidate ELSE fields.example_candidate END`); err != nil {
		return fmt.Errorf("add fields: %w", err)
	}
	noise := make([][]any, 0, len(d.noise))
	for k, n := range d.noise {
		noise = append(noise, []any{k.instance, k.key.endpoint, k.key.pattern, n})
	}
	if err := upsert(ctx, tx, "noise_stats (instance, endpoint, pattern, n)", noise,
		"(instance, endpoint, pattern) DO UPDATE SET n = noise_stats.n + excluded.n"); err != nil {
		return fmt.Errorf("add noise: %w", err)
	}
	lat := make([][]any, 0, len(d.lat))
	for k, n := range d.lat {
		lat = append(lat, []any{k.instance, k.endpoint, k.side, k.bucket, n})
	}
	if err := upsert(ctx, tx, "latencies (instance, endpoint, side, bucket, n)", lat,
		"(instance, endpoint, side, bucket) DO UPDATE SET n = latencies.n + excluded.n"); err != nil {
		return fmt.Errorf("add latencies: %w", err)
	}
	return d.writePairs(ctx, tx)
}

// upsertRows bounds the rows of one multi-row upsert: well under both
// engines' limits on bound parameters.
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

func headersJSON(h tandem.Headers) string {
	pairs := make([][2]string, len(h))
	for i, f := range h {
		pairs[i] = [2]string{f.Name, f.Value}
	}
	b, _ := json.Marshal(pairs)
	return string(b)
}

func parseHeaders(s string) (tandem.Headers, error) {
	var pairs [][2]string
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, err
	}
	h := make(tandem.Headers, len(pairs))
	for i, p := range pairs {
		h[i] = tandem.Header{Name: p[0], Value: p[1]}
	}
	return h, nil
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

// WriteMetrics writes the writer's counters in the Prometheus text format.
func (w *Writer) WriteMetrics(out io.Writer) {
	s := w.Stats()
	fmt.Fprintf(out, "# HELP tandem_store_stored_total Exchanges stored in full.\n# TYPE tandem_store_stored_total counter\ntandem_store_stored_total %d\n", s.Stored)
	fmt.Fprintf(out, "# HELP tandem_store_lost_total Exchanges lost because the database could not be written.\n# TYPE tandem_store_lost_total counter\ntandem_store_lost_total %d\n", s.Lost)
	fmt.Fprintf(out, "# HELP tandem_store_pruned_total Stored exchanges deleted by the retention.\n# TYPE tandem_store_pruned_total counter\ntandem_store_pruned_total %d\n", s.Pruned)
	fmt.Fprintf(out, "# HELP tandem_store_queue Exchanges waiting for the writer.\n# TYPE tandem_store_queue gauge\ntandem_store_queue %d\n", s.Queued)
}
