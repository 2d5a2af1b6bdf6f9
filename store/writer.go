package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
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

// CountOnly counts an exchange without storing it, whatever the record mode:
// for exchanges that hold nothing a stored one does not (a copy never sent
// to a candidate known to be down). The writer owns ex afterwards.
func (w *Writer) CountOnly(ex *tandem.Exchange, redact []string) {
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
// WriteMetrics writes the writer's counters in the Prometheus text format.
func (w *Writer) WriteMetrics(out io.Writer) {
	s := w.Stats()
	fmt.Fprintf(out, "# HELP tandem_store_stored_total Exchanges stored in full.\n# TYPE tandem_store_stored_total counter\ntandem_store_stored_total %d\n", s.Stored)
	fmt.Fprintf(out, "# HELP tandem_store_lost_total Exchanges lost because the database could not be written.\n# TYPE tandem_store_lost_total counter\ntandem_store_lost_total %d\n", s.Lost)
	fmt.Fprintf(out, "# HELP tandem_store_pruned_total Stored exchanges deleted by the retention.\n# TYPE tandem_store_pruned_total counter\ntandem_store_pruned_total %d\n", s.Pruned)
	fmt.Fprintf(out, "# HELP tandem_store_queue Exchanges waiting for the writer.\n# TYPE tandem_store_queue gauge\ntandem_store_queue %d\n", s.Queued)
}
