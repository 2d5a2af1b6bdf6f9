package replay

import (
	"context"
	"fmt"
	"io"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// dbPage is how many exchanges a database source reads at a time.
const dbPage = 256

// DBSource reads the exchanges a proxy stored (tandem proxy --record all),
// in id order, a page at a time.
type DBSource struct {
	ctx    context.Context
	db     *store.DB
	filter store.Filter
	total  int64
	read   int64
	page   []*tandem.Exchange
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
