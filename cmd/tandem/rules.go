package main

import (
	"context"
	"fmt"

	"github.com/tandemproxy/tandem/rules"
)

type rulesCmd struct{ env }

func (c *rulesCmd) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("want a subcommand: check FILE")
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
	default:
		return usagef("unknown rules subcommand %q (want check)", args[0])
	}
}
