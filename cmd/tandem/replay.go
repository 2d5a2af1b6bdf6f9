package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/report"
	"github.com/tandemproxy/tandem/store"
)

type replayCmd struct{ env }

func (c *replayCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("replay", c.env, "tandem replay --from SOURCE --candidate URL [--legacy URL] [flags]\n\n"+
		"Replays recorded traffic (a tandem database, HAR, NDJSON or GoReplay .gor file) against\n"+
		"the candidate and compares: with --legacy against a live legacy, otherwise against\n"+
		"legacy's recorded answers. Exit status 0 when at most --max-mismatches exchanges fail,\n"+
		"1 when more, 2 on usage or input errors.")
	from := fs.String("from", "", "recorded traffic: a tandem `file`.db or postgres:// URL, .har, .ndjson or .gor (optionally .gz)")
	format := fs.String("format", "", "source format when it cannot be told from the file: "+replay.Formats)
	candidateURL := fs.String("candidate", "", "candidate service `URL`")
	legacyURL := fs.String("legacy", "", "live legacy `URL`; without it the recorded answers are compared (golden mode)")
	secondaryURL := fs.String("secondary", "", "second live legacy `URL`, to recognise legacy's own noise")
	rulesFile := fs.String("rules", "", "rules `file` (YAML)")
	dbPath := dbFlag(fs, "replay.db", "for this run's results (a file is replaced on every run; a URL's database is added to)")
	instance := instanceFlag(fs)
	concurrency := fs.Int("concurrency", replay.DefaultConcurrency, "requests in flight at once")
	rate := fs.Float64("rate", replay.DefaultRate, "requests started per second at most (0: no limit)")
	maxMismatches := fs.Int64("max-mismatches", 0, "failing exchanges allowed before the exit status is 1")
	junitFile := fs.String("junit", "", "write a JUnit XML report to `file` (one test case per endpoint)")
	summaryFile := fs.String("summary", "", "write a Markdown summary to `file` (for a pull-request comment)")
	skipInvalid := fs.Bool("skip-invalid", false, "go on past invalid input records, counting them")
	ordered := fs.Bool("ordered", false, "keep the recorded order within each endpoint")
	allowErrors := fs.Bool("allow-errors", false, "candidate errors (no answer) and legacy errors do not fail the run")
	timeout := fs.Duration("timeout", replay.DefaultTimeout, "per request and service")
	maxBody := sizeFlag(replay.DefaultMaxBody)
	fs.Var(&maxBody, "max-body", "bytes of a body compared and stored; larger bodies compare by hash")
	rewriteHost := fs.Bool("rewrite-host", false, "send each service its own Host header instead of the recorded one")
	var headers headerFlag
	fs.Var(&headers, "header", "`Name: value` set on every request (repeatable), e.g. a token the store redacted")
	top := fs.Int("top", report.DefaultTopFields, "differing patterns listed per endpoint")
	gate := fs.String("gate", report.GateCount, "what fails the run: count (every failing exchange) or statistical (only patterns judged regressions)")
	fdr := fdrFlag(fs)
	baselineDB := fs.String("baseline", "", "tandem `file`.db holding a baseline (tandem baseline): legacy's own noise where no --secondary runs")
	filters := addFilterFlags(fs)
	tlsOpts := addTLSFlags(fs, "legacy", "candidate", "secondary")
	if err := parse(fs, args, false); err != nil {
		return err
	}

	if *from == "" {
		return usagef("--from SOURCE is required")
	}
	candidate, err := parseUpstream("candidate", *candidateURL, true)
	if err != nil {
		return err
	}
	legacy, err := parseUpstream("legacy", *legacyURL, false)
	if err != nil {
		return err
	}
	secondary, err := parseUpstream("secondary", *secondaryURL, false)
	if err != nil {
		return err
	}
	tlsFor, err := tlsOpts.resolve(map[string]*url.URL{"legacy": legacy, "candidate": candidate, "secondary": secondary},
		slog.New(slog.NewTextHandler(c.stderr, nil)))
	if err != nil {
		return err
	}
	if *concurrency <= 0 {
		return usagef("--concurrency %d: want at least 1", *concurrency)
	}
	if *rate < 0 {
		return usagef("--rate %v: want 0 (no limit) or more", *rate)
	}
	if *maxMismatches < 0 {
		return usagef("--max-mismatches %d: want 0 or more", *maxMismatches)
	}
	// A report that cannot be written is found now, not after the replay.
	for flag, p := range map[string]string{"junit": *junitFile, "summary": *summaryFile} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return usagef("--%s %s: no such directory %s", flag, p, filepath.Dir(p))
		}
		if same(p, *from) || same(p, *dbPath) {
			return usagef("--%s %s would overwrite the traffic or the results: choose another file", flag, p)
		}
	}
	gateMode, err := report.ParseGateMode(*gate)
	if err != nil {
		return usageError{err}
	}
	if err := checkFDR(*fdr); err != nil {
		return err
	}
	if *baselineDB != "" && same(*baselineDB, *dbPath) {
		return usagef("--baseline %s is --db, which every replay replaces: keep the baseline in another file", *baselineDB)
	}
	rs, err := loadRules(*rulesFile)
	if err != nil {
		return err
	}

	open, release, err := openInput(ctx, *from, *format, filters, replay.Options{MaxBody: int(maxBody)}, c.stderr)
	if err != nil {
		return err
	}
	defer release()
	if same(*from, *dbPath) || (store.IsURL(*dbPath) && *from == *dbPath) {
		return usagef("--db %s is the source: write this run's results to another file", *dbPath)
	}
	counts, err := scan(open, *skipInvalid)
	if err != nil {
		return err
	}
	if counts.Records == 0 {
		return usagef("%s: no request to replay", *from)
	}
	if counts.Invalid > 0 {
		fmt.Fprintf(c.stderr, "tandem replay: %d invalid records in %s will be skipped (--skip-invalid)\n", counts.Invalid, *from)
	}

	if *instance == "" {
		*instance = store.DefaultInstance()
	}
	db, err := openResults(ctx, *dbPath, *instance)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := copyBaseline(ctx, *baselineDB, db); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Source: "replay", Logger: log, Instance: *instance})
	defer w.Close()
	runner, err := replay.New(replay.Config{
		Candidate: candidate, Legacy: legacy, Secondary: secondary, Rules: rs, Recorder: w,
		Concurrency: *concurrency, Rate: *rate, Ordered: *ordered, SkipInvalid: *skipInvalid,
		Timeout: *timeout, MaxBody: int(maxBody), RewriteHost: *rewriteHost, Header: tandem.Headers(headers),
		LegacyTLS: tlsFor["legacy"], CandidateTLS: tlsFor["candidate"], SecondaryTLS: tlsFor["secondary"],
	})
	if err != nil {
		return usageError{err}
	}
	src, err := open()
	if err != nil {
		return err
	}
	defer src.Close()

	total := counts.Records + counts.Invalid
	tty, every := c.isTerminal(), replay.PlainEvery
	if tty {
		every = replay.TTYEvery
	}
	stop := replay.ShowProgress(c.stderr, tty, every, func() replay.Progress { return runner.Progress(total) })
	res, runErr := runner.Run(ctx, src)
	stop()
	w.Close()
	if runErr != nil {
		var inv *replay.InvalidError
		if errors.As(runErr, &inv) {
			return usageError{runErr}
		}
		return fmt.Errorf("replay stopped after %d records: %w", res.Records, runErr)
	}
	if lost := w.Stats().Lost; lost > 0 {
		return fmt.Errorf("%d results could not be written to %s: the report would be incomplete", lost, shownDB(*dbPath))
	}

	r, err := db.Report(ctx)
	if err != nil {
		return err
	}
	judgeAt(r, *fdr)
	run := report.Run{Name: *from, Gate: report.Gate{MaxMismatches: *maxMismatches, AllowErrors: *allowErrors, Mode: gateMode},
		Skipped: map[string]report.Skipped{}, Invalid: res.Invalid, Duration: res.Elapsed, Errors: res.Errors, LegacyError: res.LegacyError}
	for ep, s := range res.Skipped {
		run.Skipped[ep] = report.Skipped{SideEffects: s.SideEffects, Unrecorded: s.Unrecorded, WebSocket: s.WebSocket}
	}
	if err := report.Text(c.stdout, r, *top); err != nil {
		return err
	}
	if *junitFile != "" {
		if err := writeFile(*junitFile, func(f *os.File) error { return report.JUnit(f, r, run) }); err != nil {
			return err
		}
	}
	if *summaryFile != "" {
		if err := writeFile(*summaryFile, func(f *os.File) error { return report.Markdown(f, r, run, *top) }); err != nil {
			return err
		}
	}
	mode := "golden mode: compared with the recorded answers"
	if legacy != nil {
		mode = "live mode: compared with " + legacy.String()
	}
	v := run.Gate.Check(r)
	verdict := "PASS"
	if !v.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(c.stdout, "\n%s: %s (%s; %d records in %s, results in %s)\n", verdict, v.Reason, mode,
		res.Records, res.Elapsed.Round(time.Millisecond), shownDB(*dbPath))
	if n := res.SkippedUnrecorded; n > 0 {
		what := fmt.Sprintf("%d requests were", n)
		if n == 1 {
			what = "1 request was"
		}
		fmt.Fprintf(c.stdout, "%s not sent: the source holds no answer of legacy to compare with (pass --legacy to compare live)\n", what)
	}
	if n := res.SkippedWebSocket; n > 0 {
		fmt.Fprintf(c.stdout, "%s not sent: WebSocket handshakes (replay sends HTTP exchanges only)\n", plural(n, "record was", "records were"))
	}
	if n := res.WithoutBody; n > 0 {
		fmt.Fprintf(c.stdout, "%s compared by status and headers only: a 304, or a body the source did not record\n", plural(n, "exchange was", "exchanges were"))
	}
	if res.Invalid > 0 {
		fmt.Fprintf(c.stdout, "%d invalid records of %s were skipped (--skip-invalid)\n", res.Invalid, *from)
	}
	printErrors(c.stdout, res)
	if !v.Passed {
		return exitError{exitFail}
	}
	return nil
}

// isTerminal reports whether progress goes to a terminal (a character
// device; /dev/null is one too, where a redrawn line costs nothing).
func (c *replayCmd) isTerminal() bool {
	f, ok := c.stderr.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// openInput opens the source named by --from and returns how to read it
// (as often as needed: once to check and count it, once to replay it) and
// how to release it. Bad input is a usage error (exit status 2).
func openInput(ctx context.Context, from, format string, ff *filterFlags, opts replay.Options, warn io.Writer) (open func() (replay.Source, error), release func(), err error) {
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

// scan checks and counts a source before anything is sent.
func scan(open func() (replay.Source, error), skipInvalid bool) (replay.Counts, error) {
	s, err := open()
	if err != nil {
		return replay.Counts{}, err
	}
	defer s.Close()
	c, err := replay.Scan(s, skipInvalid)
	if err != nil {
		var inv *replay.InvalidError
		if errors.As(err, &inv) {
			err = fmt.Errorf("%w (--skip-invalid goes on past invalid records)", err)
		}
		return c, usageError{err}
	}
	return c, nil
}

// openResults opens a fresh database for a run's results, so that its
// report is this run's. An existing file is replaced only when it holds
// nothing but earlier replays' results: recorded traffic is never lost.
// A shared database (a URL) is not replaced: the run's instance is, under
// the same rule, and the report reads that instance only.
func openResults(ctx context.Context, path, instance string) (*store.DB, error) {
	if store.IsURL(path) {
		return openSharedResults(ctx, path, instance)
	}
	if _, err := os.Stat(path); err == nil {
		old, err := store.Open(ctx, path, store.Options{MustExist: true})
		if err != nil {
			return nil, usagef("--db: %v", err)
		}
		sources, err := old.Sources(ctx)
		var r *store.Report
		if err == nil {
			r, err = old.Report(ctx)
		}
		// A replay's results are known by the marker every run writes,
		// whatever it compared; without one, a database with requests but
		// no exchange is taken for a proxy's that stored nothing yet.
		var results bool
		if err == nil {
			results, err = replay.IsResults(ctx, old)
		}
		old.Close()
		if err != nil {
			return nil, usagef("--db %s: %v", path, err)
		}
		foreign := !results && len(sources) == 0 && r.Totals.Requests > 0
		for s := range sources {
			foreign = foreign || s != "replay"
		}
		if foreign {
			return nil, usagef("--db %s holds what tandem proxy recorded, not an earlier replay's results: choose another file", path)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				return nil, fmt.Errorf("replace %s: %w", path, err)
			}
		}
	}
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		return nil, usageError{err}
	}
	return db, nil
}

// plural writes n with the singular or plural words that follow it.
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func openSharedResults(ctx context.Context, url, instance string) (*store.DB, error) {
	db, err := store.Open(ctx, url, store.Options{Instance: instance})
	if err != nil {
		return nil, usageError{err}
	}
	sources, err := db.Sources(ctx)
	var r *store.Report
	if err == nil {
		r, err = db.Report(ctx)
	}
	if err != nil {
		db.Close()
		return nil, usagef("--db %s: %v", shownDB(url), err)
	}
	foreign := len(sources) == 0 && r.Totals.Requests > 0
	for s := range sources {
		foreign = foreign || s != "replay"
	}
	if foreign {
		db.Close()
		return nil, usagef("--db %s holds what tandem proxy recorded as instance %q: name this run with another --instance", shownDB(url), instance)
	}
	if err := db.DeleteInstance(ctx, instance); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// same reports whether two paths name the same existing file.
func same(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// writeFile writes a report file whole: a failed render leaves no file.
func writeFile(path string, render func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := render(f); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// filterFlags are the flags that select stored exchanges (replay --from
// a database, export).
type filterFlags struct {
	endpoint, since, outcome *string
}

func addFilterFlags(fs *flag.FlagSet) *filterFlags {
	return &filterFlags{
		endpoint: fs.String("endpoint", "", "database source: only this `endpoint` (\"GET /api/users/{id}\")"),
		since:    fs.String("since", "", "database source: only exchanges recorded since `T` (RFC 3339 time, or a duration ago: 24h)"),
		outcome:  fs.String("outcome", "", "database source: only these `outcomes`, comma-separated (match,mismatch,…)"),
	}
}

func (f *filterFlags) set() bool { return *f.endpoint != "" || *f.since != "" || *f.outcome != "" }

func (f *filterFlags) filter() (store.Filter, error) {
	out := store.Filter{Endpoint: *f.endpoint}
	if s := *f.since; s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			out.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			switch {
			case t.After(time.Now()):
				// Also keeps it within what the store's nanosecond times can
				// hold (up to 2262): a later time would select everything.
				return out, usagef("--since %q is in the future: nothing was recorded since", s)
			case t.After(time.Unix(0, 0)):
				out.Since = t
			} // earlier: everything, as no --since
		} else {
			return out, usagef("--since %q: want an RFC 3339 time (2024-05-01T00:00:00Z) or a duration (24h)", s)
		}
	}
	if *f.outcome != "" {
		for _, o := range strings.Split(*f.outcome, ",") {
			o := tandem.Outcome(strings.TrimSpace(o))
			if !o.Compared() {
				return out, usagef("--outcome %q: want match, mismatch, noise, candidate_error or diff_error", o)
			}
			out.Outcomes = append(out.Outcomes, o)
		}
	}
	return out, nil
}

// headerFlag collects --header "Name: value" flags.
type headerFlag tandem.Headers

func (h *headerFlag) String() string { return fmt.Sprint(len(*h), " headers") }

func (h *headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return fmt.Errorf("%q: want Name: value", v)
	}
	*h = append(*h, tandem.Header{Name: name, Value: strings.TrimSpace(value)})
	return nil
}
