package replay

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// Database reading.
const (
	// dbPage is how many exchanges a database source reads at a time.
	dbPage = 256
	// dbReorder is how many exchanges are held to be given out in the order
	// their requests arrived (see DBSource).
	dbReorder = 1024
)

// DBSource reads the exchanges a proxy stored (tandem proxy --record all),
// a page at a time, in the order their requests arrived. The proxy stores
// an exchange when its comparison is done, so ids follow the order in
// which the candidate answered: a request that the candidate answered
// slowly has a larger id than the one after it. Exchanges are held in a
// window of dbReorder and given out by arrival time (then id), which puts
// back the order of any two requests fewer than dbReorder exchanges apart
// (the proxy's default of 256 mirror workers bounds how far apart they
// get).
type DBSource struct {
	ctx    context.Context
	db     *store.DB
	filter store.Filter
	total  int64
	read   int64 // exchanges read from the database
	page   []*tandem.Exchange
	ahead  byArrival // read, not yet given out
}

// byArrival is a min-heap of exchanges by arrival time, then id.
type byArrival []*tandem.Exchange

func (h byArrival) Len() int { return len(h) }
func (h byArrival) Less(i, j int) bool {
	if !h[i].Time.Equal(h[j].Time) {
		return h[i].Time.Before(h[j].Time)
	}
	return h[i].ID < h[j].ID
}
func (h byArrival) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *byArrival) Push(x any)   { *h = append(*h, x.(*tandem.Exchange)) }
func (h *byArrival) Pop() any {
	old := *h
	ex := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return ex
}

// NewDBSource selects the exchanges of db that f selects (f's paging
// fields are its own). It counts them first: Len is known before reading,
// and exchanges stored after that (were db also the replay's output) are
// not read.
func NewDBSource(ctx context.Context, db *store.DB, f store.Filter) (*DBSource, error) {
	f.AfterID, f.Limit, f.Desc = 0, 0, false
	n, err := db.CountExchanges(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", db.Path, err)
	}
	return &DBSource{ctx: ctx, db: db, filter: f, total: n}, nil
}

// Len returns the number of exchanges the source gives.
func (s *DBSource) Len() int64 { return s.total }

// NextExchange returns the next stored exchange in full, or io.EOF.
func (s *DBSource) NextExchange() (*tandem.Exchange, error) {
	for len(s.ahead) < dbReorder {
		ex, err := s.fetch()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		heap.Push(&s.ahead, ex)
	}
	if len(s.ahead) == 0 {
		return nil, io.EOF
	}
	return heap.Pop(&s.ahead).(*tandem.Exchange), nil
}

// fetch returns the next exchange in id order, or io.EOF.
func (s *DBSource) fetch() (*tandem.Exchange, error) {
	if s.read >= s.total {
		return nil, io.EOF
	}
	if len(s.page) == 0 {
		f := s.filter
		f.Limit = dbPage
		if err := s.db.Exchanges(s.ctx, f, func(ex *tandem.Exchange) error {
			s.page = append(s.page, ex)
			return nil
		}); err != nil {
			return nil, fmt.Errorf("%s: %w", s.db.Path, err)
		}
		if len(s.page) == 0 {
			return nil, io.EOF
		}
		s.filter.AfterID = s.page[len(s.page)-1].ID
	}
	ex := s.page[0]
	s.page[0] = nil
	s.page = s.page[1:]
	s.read++
	return ex, nil
}

// Next returns the next exchange's request and legacy's recorded answer.
func (s *DBSource) Next() (*Record, error) {
	ex, err := s.NextExchange()
	if err != nil {
		return nil, err
	}
	rec := &Record{N: ex.ID, Time: ex.Time, Request: ex.Request}
	if ex.Legacy.Err == "" {
		rec.Legacy = &ex.Legacy
	}
	if err := check(rec); err != nil {
		return nil, &InvalidError{File: s.db.Path, Unit: "exchange", N: ex.ID, Err: err}
	}
	return rec, nil
}

// Close does not close the database, which the caller opened.
func (s *DBSource) Close() error { return nil }

// runMarker is the counter a replay run adds to its recorder before
// anything else (a process-wide count, of no endpoint), so that its results database
// is known for one whatever the run compared: `tandem replay --db X`
// replaces X only when it holds replay results, and a run that compared
// nothing stores no exchange to tell it by. The proxy never writes it.
const runMarker = "replay_run"

// IsResults reports whether db holds a replay's results (a run's marker),
// as opposed to what a proxy recorded. The unrecorded counter (never the
// proxy's) was written at the end of every run by tandem versions from
// before runMarker: it recognises their results databases.
func IsResults(ctx context.Context, db *store.DB) (bool, error) {
	var ok bool
	err := db.SQL().QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM counters WHERE endpoint = '' AND name IN (?, ?))`,
		runMarker, tandem.Unrecorded).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("%s: read its counters: %w", db.Path, err)
	}
	return ok, nil
}
