package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/store"
)

// sourceOptions are the flags of the commands that replay recorded traffic
// (replay, baseline): where the traffic comes from, how it is read, and the
// rules, body limit and headers its requests are sent with. Each command
// registers --from, --rules and --max-body with texts of its own; register
// binds the rest, which read alike.
type sourceOptions struct {
	from, format, rulesFile string
	maxBody                 sizeFlag
	headers                 headerFlag
	filters                 *filterFlags
}

// register binds the flags both commands describe alike, into s and cfg,
// and gives maxBody its default: call it before the command registers
// --max-body, whose help shows the default.
func (s *sourceOptions) register(fs *flag.FlagSet, cfg *replay.Config) {
	fs.StringVar(&s.format, "format", "", "source format when it cannot be told from the file: "+replay.Formats)
	fs.IntVar(&cfg.Concurrency, "concurrency", replay.DefaultConcurrency, "requests in flight at once")
	fs.Float64Var(&cfg.Rate, "rate", replay.DefaultRate, "requests started per second at most (0: no limit)")
	s.maxBody = sizeFlag(replay.DefaultMaxBody)
	fs.Var(&s.headers, "header", "`Name: value` set on every request (repeatable), e.g. a token the store redacted")
	s.filters = addFilterFlags(fs)
}

// configure ends a command's validate: it loads the rules and sets the
// body limit and the headers in cfg.
func (s *sourceOptions) configure(cfg *replay.Config) error {
	var err error
	if cfg.Rules, err = loadRules(s.rulesFile); err != nil {
		return err
	}
	cfg.MaxBody, cfg.Header = int(s.maxBody), tandem.Headers(s.headers)
	return nil
}

// open opens the source named by --from and returns how to read it (as
// often as needed: once to check and count it, once to replay it) and how
// to release it. Bad input is a usage error (exit status 2).
func (s *sourceOptions) open(ctx context.Context, cfg *replay.Config, warn io.Writer) (open func() (replay.Source, error), release func(), err error) {
	from, format, ff, opts := s.from, s.format, s.filters, replay.Options{MaxBody: cfg.MaxBody}
	var f replay.Format
	if format != "" {
		f, err = replay.ParseFormat(format)
	} else {
		f, err = replay.Detect(from)
	}
	if err != nil {
		return nil, nil, usageError{err}
	}
	filter, err := ff.filter()
	if err != nil {
		return nil, nil, err
	}
	if f != replay.DB {
		if ff.set() {
			return nil, nil, usagef("--endpoint, --since and --outcome select from a tandem database; %s is %s", from, f)
		}
		open := func() (replay.Source, error) {
			s, err := replay.OpenFile(from, f, opts)
			if err != nil {
				return nil, usageError{err}
			}
			return s, nil
		}
		return open, func() {}, nil
	}
	db, err := store.Open(ctx, from, store.Options{MustExist: true})
	if err != nil {
		return nil, nil, usageError{err}
	}
	if !ff.set() {
		// The proxy stores only mismatches unless told to store everything:
		// such a recording replays only what already differed.
		stored, err1 := db.CountExchanges(ctx, store.Filter{})
		r, err2 := db.Report(ctx)
		if err1 == nil && err2 == nil && stored < r.Totals.Compared {
			fmt.Fprintf(warn, "tandem replay: %s holds %d of the %d exchanges its proxy compared: record with --record all to replay them all\n",
				from, stored, r.Totals.Compared)
		}
	}
	open = func() (replay.Source, error) {
		s, err := replay.NewDBSource(ctx, db, filter)
		if err != nil {
			return nil, usageError{err}
		}
		return s, nil
	}
	return open, func() { db.Close() }, nil
}

// scan checks and counts the source before anything is sent: bad input,
// or none to replay, is a usage error.
func (s *sourceOptions) scan(open func() (replay.Source, error), cfg *replay.Config) (replay.Counts, error) {
	src, err := open()
	if err != nil {
		return replay.Counts{}, err
	}
	defer src.Close()
	c, err := replay.Scan(src, cfg.SkipInvalid)
	if err != nil {
		var inv *replay.InvalidError
		if errors.As(err, &inv) {
			err = fmt.Errorf("%w (--skip-invalid goes on past invalid records)", err)
		}
		return c, usageError{err}
	}
	if c.Records == 0 {
		return c, usagef("%s: no request to replay", s.from)
	}
	return c, nil
}
