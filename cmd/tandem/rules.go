package main

import (
	"context"
	"fmt"

	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

type rulesCmd struct{ env }

func (c *rulesCmd) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: check FILE, or suggest --db FILE")
	}
	switch args[0] {
	case "check":
		fs := newFlags("rules check", c.env, "tandem rules check FILE\n\nValidates a rules file; prints every problem with file:line:column.")
		if err := parse(fs, args[1:], true); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usagef("rules check takes one file")
		}
		s, err := rules.Load(fs.Arg(0))
		if err != nil {
			return usageError{err}
		}
		fmt.Fprintf(c.stdout, "%s: ok (%d endpoint rules)\n", fs.Arg(0), len(s.Endpoints()))
		return nil
	case "suggest":
		return c.suggest(ctx, args[1:])
	default:
		return usagef("unknown rules subcommand %q (want check or suggest)", args[0])
	}
}

// suggest prints ignore rules for the patterns where a secondary legacy
// instance disagreed with legacy often enough.
func (c *rulesCmd) suggest(ctx context.Context, args []string) error {
	fs := newFlags("rules suggest", c.env, "tandem rules suggest --db tandem.db\n\n"+
		"Prints YAML rules that ignore the patterns where legacy disagrees with itself\n"+
		"(learned with --secondary or tandem baseline), ready to paste into a rules file.")
	dbPath := dbFlag(fs, "tandem.db", "to read")
	minRate := fs.Float64("min-rate", 0.01, "suggest patterns noisy in at least this fraction of exchanges compared with the secondary")
	minCount := fs.Int64("min-count", 2, "and in at least this many exchanges")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbPath, store.Options{MustExist: true})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	r, err := db.Report(ctx)
	if err != nil {
		return err
	}
	var sugg []rules.Suggestion
	for _, e := range r.Endpoints {
		for _, f := range e.NoisyFields {
			if f.Count >= *minCount && f.Rate >= *minRate {
				sugg = append(sugg, rules.Suggestion{Endpoint: e.Endpoint, Pattern: f.Pattern, Count: f.Count, Of: e.SecondaryCompared})
			}
		}
	}
	more, err := baselineSuggestions(ctx, db, *minRate, *minCount, sugg) // legacy's noise learned by tandem baseline
	if err != nil {
		return err
	}
	sugg = append(sugg, more...)
	return rules.WriteSuggestions(c.stdout, shownDB(*dbPath), sugg)
}
