package main

import (
	"context"
	"errors"
	iofs "io/fs"
	"os"

	"github.com/mattn/go-isatty"

	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
	"github.com/tandemproxy/tandem/tui"
)

type tuiCmd struct{ env }

func (c *tuiCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("tui", c.env, "tandem tui --db tandem.db [--rules rules.yaml]\n\n"+
		"Triage what a proxy or replay recorded: endpoints, the patterns at which they\n"+
		"differ, their exchanges side by side. i writes an ignore rule into the rules\n"+
		"file and re-judges; a, b and o record triage decisions. Press ? for every key.")
	dbPath := dbFlag(fs, "tandem.db", "to read (a running proxy may be writing to it)")
	instance := instanceFilterFlag(fs)
	rulesPath := fs.String("rules", "", "rules `file` that ignore rules are written to (created if missing; none: i is off)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *rulesPath != "" {
		if _, err := rules.Load(*rulesPath); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return usageError{err}
		}
	}
	db, err := store.Open(ctx, *dbPath, store.Options{MustExist: true, Instance: *instance})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	if !isTerminal(c.stdin) || !isTerminal(c.stdout) {
		return usagef("needs a terminal (run it without redirecting its input or output)")
	}
	return runTUI(ctx, c.env, db, *rulesPath)
}

// runTUI runs the triage UI on the terminal of e.
func runTUI(ctx context.Context, e env, db *store.DB, rulesPath string) error {
	return tui.Run(ctx, tui.Options{DB: db, RulesPath: rulesPath}, e.stdin, e.stdout)
}

// isTerminal reports whether a stream is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
