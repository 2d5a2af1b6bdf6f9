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

// replayOptions holds what the replay flags set: the flags bind straight into
// cfg where the field types allow, and into the few conversion fields below
// where they do not (URLs, sizes, headers), which validate turns into cfg.
type replayOptions struct {
	cfg replay.Config

	sourceOptions
	candidateURL, legacyURL, secondaryURL string
	dbPath, instance                      *string
	maxMismatches                         int64
	junitFile, summaryFile                string
	allowErrors                           bool
	top                                   int
	gate                                  string
	fdr                                   *float64
	baselineDB                            string
	tlsOpts                               *tlsFlags

	gateMode string
}

func (c *replayCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("replay", c.env, "tandem replay --from SOURCE --candidate URL [--legacy URL] [flags]\n\n"+
		"Replays recorded traffic (a tandem database, HAR, NDJSON or GoReplay .gor file) against\n"+
		"the candidate and compares: with --legacy against a live legacy, otherwise against\n"+
		"legacy's recorded answers. Exit status 0 when at most --max-mismatches exchanges fail,\n"+
		"1 when more, 2 on usage or input errors.")
	o := &replayOptions{}
	o.register(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.validate(c.stderr); err != nil {
		return err
	}
	return c.execute(ctx, o)
}

func (o *replayOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.from, "from", "", "recorded traffic: a tandem `file`.db or postgres:// URL, .har, .ndjson or .gor (optionally .gz)")
	fs.StringVar(&o.candidateURL, "candidate", "", "candidate service `URL`")
	fs.StringVar(&o.legacyURL, "legacy", "", "live legacy `URL`; without it the recorded answers are compared (golden mode)")
	fs.StringVar(&o.secondaryURL, "secondary", "", "second live legacy `URL`, to recognise legacy's own noise")
	fs.StringVar(&o.rulesFile, "rules", "", "rules `file` (YAML)")
	o.dbPath = dbFlag(fs, "replay.db", "for this run's results (a file is replaced on every run; a URL's database is added to)")
	o.instance = instanceFlag(fs)
	o.sourceOptions.register(fs, &o.cfg)
	fs.Int64Var(&o.maxMismatches, "max-mismatches", 0, "failing exchanges allowed before the exit status is 1")
	fs.StringVar(&o.junitFile, "junit", "", "write a JUnit XML report to `file` (one test case per endpoint)")
	fs.StringVar(&o.summaryFile, "summary", "", "write a Markdown summary to `file` (for a pull-request comment)")
	fs.BoolVar(&o.cfg.SkipInvalid, "skip-invalid", false, "go on past invalid input records, counting them")
	fs.BoolVar(&o.cfg.Ordered, "ordered", false, "keep the recorded order within each endpoint")
	fs.BoolVar(&o.allowErrors, "allow-errors", false, "candidate errors (no answer) and legacy errors do not fail the run")
	fs.DurationVar(&o.cfg.Timeout, "timeout", replay.DefaultTimeout, "per request and service")
	fs.Var(&o.maxBody, "max-body", "bytes of a body compared and stored; larger bodies compare by hash")
	fs.BoolVar(&o.cfg.RewriteHost, "rewrite-host", false, "send each service its own Host header instead of the recorded one")
	fs.IntVar(&o.top, "top", report.DefaultTopFields, "differing patterns listed per endpoint")
	fs.StringVar(&o.gate, "gate", report.GateCount, "what fails the run: count (every failing exchange) or statistical (only patterns judged regressions)")
	o.fdr = fdrFlag(fs)
	fs.StringVar(&o.baselineDB, "baseline", "", "tandem `file`.db holding a baseline (tandem baseline): legacy's own noise where no --secondary runs")
	o.tlsOpts = addTLSFlags(fs, "legacy", "candidate", "secondary")
}

// validate checks the flags in the order the command always has, and fills
// cfg's upstreams, TLS, rules, body limit and headers from them.
func (o *replayOptions) validate(stderr io.Writer) error {
	if o.from == "" {
		return usagef("--from SOURCE is required")
	}
	var err error
	if o.cfg.Candidate, err = parseUpstream("candidate", o.candidateURL, true); err != nil {
		return err
	}
	if o.cfg.Legacy, err = parseUpstream("legacy", o.legacyURL, false); err != nil {
		return err
	}
	if o.cfg.Secondary, err = parseUpstream("secondary", o.secondaryURL, false); err != nil {
		return err
	}
	tlsFor, err := o.tlsOpts.resolve(map[string]*url.URL{"legacy": o.cfg.Legacy, "candidate": o.cfg.Candidate, "secondary": o.cfg.Secondary},
		slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	o.cfg.LegacyTLS, o.cfg.CandidateTLS, o.cfg.SecondaryTLS = tlsFor["legacy"], tlsFor["candidate"], tlsFor["secondary"]
	if o.cfg.Concurrency <= 0 {
		return usagef("--concurrency %d: want at least 1", o.cfg.Concurrency)
	}
	if o.cfg.Rate < 0 {
		return usagef("--rate %v: want 0 (no limit) or more", o.cfg.Rate)
	}
	if o.maxMismatches < 0 {
		return usagef("--max-mismatches %d: want 0 or more", o.maxMismatches)
	}
	// A report that cannot be written is found now, not after the replay.
	for flag, p := range map[string]string{"junit": o.junitFile, "summary": o.summaryFile} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return usagef("--%s %s: no such directory %s", flag, p, filepath.Dir(p))
		}
		if same(p, o.from) || same(p, *o.dbPath) {
			return usagef("--%s %s would overwrite the traffic or the results: choose another file", flag, p)
		}
	}
	if o.gateMode, err = report.ParseGateMode(o.gate); err != nil {
		return usageError{err}
	}
	if err := checkFDR(*o.fdr); err != nil {
		return err
	}
	if o.baselineDB != "" && same(o.baselineDB, *o.dbPath) {
		return usagef("--baseline %s is --db, which every replay replaces: keep the baseline in another file", o.baselineDB)
	}
	return o.configure(&o.cfg)
}

// execute scans the source, replays it into the results database and
// reports; validate has run.
func (c *replayCmd) execute(ctx context.Context, o *replayOptions) error {
	open, release, err := o.open(ctx, &o.cfg, c.stderr)
	if err != nil {
		return err
	}
	defer release()
	if same(o.from, *o.dbPath) || (store.IsURL(*o.dbPath) && o.from == *o.dbPath) {
		return usagef("--db %s is the source: write this run's results to another file", *o.dbPath)
	}
	counts, err := o.scan(open, &o.cfg)
	if err != nil {
		return err
	}
	if counts.Invalid > 0 {
		fmt.Fprintf(c.stderr, "tandem replay: %d invalid records in %s will be skipped (--skip-invalid)\n", counts.Invalid, o.from)
	}

	if *o.instance == "" {
		*o.instance = store.DefaultInstance()
	}
	db, err := openResults(ctx, *o.dbPath, *o.instance)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := copyBaseline(ctx, o.baselineDB, db); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Source: "replay", Logger: log, Instance: *o.instance})
	defer w.Close()
	o.cfg.Recorder = w
	runner, err := replay.New(o.cfg)
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
		return fmt.Errorf("replay stopped after %d records: %w", res.Get(tandem.Requests), runErr)
	}
	if lost := w.Stats().Lost; lost > 0 {
		return fmt.Errorf("%d results could not be written to %s: the report would be incomplete", lost, shownDB(*o.dbPath))
	}
	return c.report(ctx, o, db, res)
}

// report writes the text report, the optional JUnit and Markdown files and
// the verdict, and turns a failed gate into exit status 1.
func (c *replayCmd) report(ctx context.Context, o *replayOptions, db *store.DB, res replay.Result) error {
	r, err := db.Report(ctx)
	if err != nil {
		return err
	}
	judgeAt(r, *o.fdr)
	run := report.Run{Name: o.from, Gate: report.Gate{MaxMismatches: o.maxMismatches, AllowErrors: o.allowErrors, Mode: o.gateMode},
		Skipped: res.Skipped, Invalid: res.Invalid, Duration: res.Elapsed, Errors: res.Errors, LegacyError: res.LegacyError}
	if err := report.Text(c.stdout, r, o.top); err != nil {
		return err
	}
	if o.junitFile != "" {
		if err := writeFile(o.junitFile, func(f *os.File) error { return report.JUnit(f, r, run) }); err != nil {
			return err
		}
	}
	if o.summaryFile != "" {
		if err := writeFile(o.summaryFile, func(f *os.File) error { return report.Markdown(f, r, run, o.top) }); err != nil {
			return err
		}
	}
	mode := "golden mode: compared with the recorded answers"
	if o.cfg.Legacy != nil {
		mode = "live mode: compared with " + o.cfg.Legacy.String()
	}
	v := run.Gate.Check(r)
	verdict := "PASS"
	if !v.Passed {
		verdict = "FAIL"
	}
	fmt.Fprintf(c.stdout, "\n%s: %s (%s; %d records in %s, results in %s)\n", verdict, v.Reason, mode,
		res.Get(tandem.Requests), res.Elapsed.Round(time.Millisecond), shownDB(*o.dbPath))
	c.printNotSent(o, res)
	if !v.Passed {
		return exitError{exitFail}
	}
	return nil
}

// printNotSent says which records were skipped or compared only in part.
func (c *replayCmd) printNotSent(o *replayOptions, res replay.Result) {
	if n := res.Get(tandem.Unrecorded); n > 0 {
		what := fmt.Sprintf("%d requests were", n)
		if n == 1 {
			what = "1 request was"
		}
		fmt.Fprintf(c.stdout, "%s not sent: the source holds no answer of legacy to compare with (pass --legacy to compare live)\n", what)
	}
	if n := res.Get(tandem.WebSocket); n > 0 {
		fmt.Fprintf(c.stdout, "%s not sent: WebSocket handshakes (replay sends HTTP exchanges only)\n", plural(n, "record was", "records were"))
	}
	if n := res.WithoutBody; n > 0 {
		fmt.Fprintf(c.stdout, "%s compared by status and headers only: a 304, or a body the source did not record\n", plural(n, "exchange was", "exchanges were"))
	}
	if res.Invalid > 0 {
		fmt.Fprintf(c.stdout, "%d invalid records of %s were skipped (--skip-invalid)\n", res.Invalid, o.from)
	}
	printErrors(c.stdout, res)
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
