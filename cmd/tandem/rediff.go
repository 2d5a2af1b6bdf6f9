package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/tandemproxy/tandem/store"
)

type rediffCmd struct{ env }

func (c *rediffCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("rediff", c.env, "tandem rediff --db tandem.db --rules rules.yaml\n\n"+
		"Judges every stored exchange again under the given rules, updating outcomes,\n"+
		"differences and counters, and prints what changed.")
	dbPath := dbFlag(fs, "tandem.db", "to re-judge")
	rulesFile := fs.String("rules", "", "rules `file` (none: the built-in defaults)")
	endpoint := fs.String("endpoint", "", "only exchanges of this endpoint")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	rs, err := loadRules(*rulesFile)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbPath, store.Options{MustExist: true})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	res, err := db.Rediff(ctx, store.Filter{Endpoint: *endpoint}, rs.Apply, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", shownDB(*dbPath), err)
	}
	fmt.Fprintf(c.stdout, "re-judged %d stored exchanges: %d changed\n", res.Exchanges, res.Changed)
	if res.Scrubbed > 0 {
		fmt.Fprintf(c.stdout, "  %d rewritten without values the rules now redact\n", res.Scrubbed)
	}
	keys := make([]string, 0, len(res.Transitions))
	for k := range res.Transitions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(c.stdout, "  %-28s %d\n", k, res.Transitions[k])
	}
	return nil
}
