package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

// DefaultBaselineRuns is how many times tandem baseline replays the
// traffic: two comparisons of legacy with itself per request.
const DefaultBaselineRuns = 2

type baselineCmd struct{ env }

// baselineOptions holds what the baseline flags set: straight into cfg
// where the field types allow, into conversion fields where they do not.
type baselineOptions struct {
	cfg replay.Config

	sourceOptions
	legacyURL, dbPath string
	runs              int
}

func (c *baselineCmd) Run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "show" {
		return c.show(ctx, args[1:])
	}
	fs := newFlags("baseline", c.env, "tandem baseline --from SOURCE --legacy URL --db tandem.db [--runs 2] [flags]\n"+
		"tandem baseline show --db tandem.db [--format text|json]\n\n"+
		"Learns where and how often legacy differs from itself, for the verdicts where no\n"+
		"--secondary runs: replays recorded traffic (a tandem database, HAR, NDJSON or .gor)\n"+
		"--runs times; each run sends every request to legacy twice at once and compares the\n"+
		"two answers. The baseline replaces any earlier one in --db; tandem report reads it\n"+
		"there, tandem replay with --baseline.")
	o := &baselineOptions{}
	o.register(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	return c.execute(ctx, o)
}

func (o *baselineOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.from, "from", "", "recorded traffic: a tandem `file`.db, .har, .ndjson or .gor (optionally .gz)")
	fs.StringVar(&o.legacyURL, "legacy", "", "legacy service `URL`")
	fs.StringVar(&o.rulesFile, "rules", "", "rules `file` (YAML): the same as the proxy's or replay's, so that endpoints and ignores agree")
	fs.StringVar(&o.dbPath, "db", "tandem.db", "SQLite `file` to store the baseline in (created if needed)")
	fs.IntVar(&o.runs, "runs", DefaultBaselineRuns, "times the traffic is replayed (at least 1; each gives one comparison per request)")
	o.sourceOptions.register(fs, &o.cfg)
	fs.DurationVar(&o.cfg.Timeout, "timeout", replay.DefaultTimeout, "per request")
	fs.Var(&o.maxBody, "max-body", "bytes of a body compared; larger bodies compare by hash")
	fs.BoolVar(&o.cfg.SkipInvalid, "skip-invalid", false, "go on past invalid input records")
	fs.BoolVar(&o.cfg.RewriteHost, "rewrite-host", false, "send legacy its own Host header instead of the recorded one")
}

// validate checks the flags in the order the command always has. Legacy
// stands in for the candidate: the runner that replays against candidates
// sends every request to both at once, as the proxy sends legacy and its
// secondary, so what differs is what a secondary would have shown.
func (o *baselineOptions) validate() error {
	if o.from == "" {
		return usagef("--from SOURCE is required")
	}
	legacy, err := parseUpstream("legacy", o.legacyURL, true)
	if err != nil {
		return err
	}
	o.cfg.Candidate, o.cfg.Legacy = legacy, legacy
	if o.runs < 1 {
		return usagef("--runs %d: want at least 1", o.runs)
	}
	if o.cfg.Concurrency <= 0 {
		return usagef("--concurrency %d: want at least 1", o.cfg.Concurrency)
	}
	return o.configure(&o.cfg)
}

func (c *baselineCmd) execute(ctx context.Context, o *baselineOptions) error {
	open, release, err := o.open(ctx, &o.cfg, c.stderr)
	if err != nil {
		return err
	}
	defer release()
	if _, err := o.scan(open, &o.cfg); err != nil {
		return err
	}
	db, err := store.Open(ctx, o.dbPath, store.Options{})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()

	learner := &store.BaselineLearner{Runs: o.runs, Source: o.from}
	o.cfg.Recorder = learner
	var failed, compared int64
	for i := range o.runs {
		runner, err := replay.New(o.cfg)
		if err != nil {
			return usageError{err}
		}
		src, err := open()
		if err != nil {
			return err
		}
		res, err := runner.Run(ctx, src)
		src.Close()
		if err != nil {
			return fmt.Errorf("baseline run %d of %d stopped after %d records: %w", i+1, o.runs, res.Get(tandem.Requests), err)
		}
		failed += res.Get(tandem.LegacyError) + res.Get(tandem.CandidateError) + res.Get(tandem.DiffError)
		compared += res.Get(tandem.Match) + res.Get(tandem.Mismatch) + res.Get(tandem.Noise)
	}
	if compared == 0 {
		return fmt.Errorf("legacy at %s answered no request twice: nothing was learned (is it up?)", o.cfg.Legacy)
	}
	b := learner.Baseline(time.Now())
	if err := db.SaveBaseline(ctx, b); err != nil {
		return err
	}
	if err := writeBaseline(c.stdout, b); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "\nbaseline of %d endpoints learned from %d comparisons (%d runs of %s), saved in %s\n",
		len(b.Endpoints), compared, o.runs, o.from, o.dbPath)
	if failed > 0 {
		fmt.Fprintf(c.stdout, "%d requests were not compared: legacy did not answer, or the answers could not be compared\n", failed)
	}
	return nil
}

// show prints the stored baseline.
func (c *baselineCmd) show(ctx context.Context, args []string) error {
	fs := newFlags("baseline show", c.env, "tandem baseline show --db tandem.db [--format text|json]\n\nShows the baseline tandem baseline learned.")
	dbPath := fs.String("db", "tandem.db", "SQLite `file` to read")
	format := fs.String("format", "text", "text or json")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("--format %q: want text or json", *format)
	}
	db, err := store.Open(ctx, *dbPath, store.Options{MustExist: true})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	b, err := db.Baseline(ctx)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	if len(b.Endpoints) == 0 {
		_, err := fmt.Fprintf(c.stdout, "%s holds no baseline (learn one with tandem baseline --from SOURCE --legacy URL --db %s)\n", *dbPath, *dbPath)
		return err
	}
	return writeBaseline(c.stdout, b)
}

// writeBaseline writes a baseline as text: per endpoint, where legacy
// differs from itself and how often.
func writeBaseline(w io.Writer, b *store.Baseline) error {
	var s strings.Builder
	for i, e := range b.Endpoints {
		if i > 0 {
			s.WriteByte('\n')
		}
		runs := fmt.Sprintf("%d runs", e.Runs)
		if e.Runs == 1 {
			runs = "1 run"
		}
		fmt.Fprintf(&s, "%s: %d comparisons of legacy with itself (%s of %s, %s)\n", e.Endpoint, e.Compared, runs, e.Source,
			e.Learned.Format(time.RFC3339))
		if len(e.Patterns) == 0 {
			s.WriteString("    legacy always agreed with itself\n")
		}
		for _, p := range e.Patterns {
			fmt.Fprintf(&s, "    %6.2f%%  %-40s %d of %d", 100*p.Rate, p.Pattern, p.Differs, e.Compared)
			if p.Presence > 0 {
				fmt.Fprintf(&s, " · present in one answer only %d", p.Presence)
			}
			if p.Type > 0 {
				fmt.Fprintf(&s, " · type changed %d", p.Type)
			}
			s.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, s.String())
	return err
}

// copyBaseline copies the baseline stored in the database at from (none
// when from is "") into a run's results, so that their report is judged
// against it.
func copyBaseline(ctx context.Context, from string, to *store.DB) error {
	if from == "" {
		return nil
	}
	src, err := store.Open(ctx, from, store.Options{MustExist: true})
	if err != nil {
		return usagef("--baseline: %v", err)
	}
	defer src.Close()
	b, err := src.Baseline(ctx)
	if err != nil {
		return fmt.Errorf("--baseline %s: %w", from, err)
	}
	if len(b.Endpoints) == 0 {
		return usagef("--baseline %s holds no baseline: learn one with tandem baseline --from SOURCE --legacy URL --db %s", from, from)
	}
	return to.SaveBaseline(ctx, b)
}

// baselineSuggestions are the patterns where the stored baseline saw legacy
// differ from itself often enough, for rules suggest; those already
// suggested (from a secondary) are left out.
func baselineSuggestions(ctx context.Context, db *store.DB, minRate float64, minCount int64, have []rules.Suggestion) ([]rules.Suggestion, error) {
	b, err := db.Baseline(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[[2]string]bool{}
	for _, s := range have {
		seen[[2]string{s.Endpoint, s.Pattern}] = true
	}
	var out []rules.Suggestion
	for _, e := range b.Endpoints {
		for _, p := range e.Patterns {
			if p.Differs >= minCount && p.Rate >= minRate && !seen[[2]string{e.Endpoint, p.Pattern}] {
				out = append(out, rules.Suggestion{Endpoint: e.Endpoint, Pattern: p.Pattern, Count: p.Differs, Of: e.Compared})
			}
		}
	}
	return out, nil
}
