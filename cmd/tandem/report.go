package main

import (
	"context"

	"github.com/tandemproxy/tandem/report"
	"github.com/tandemproxy/tandem/store"
)

type reportCmd struct{ env }

func (c *reportCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("report", c.env, "tandem report --db tandem.db [--format text|json]\n\nSummarises what a proxy or replay recorded.")
	dbPath := dbFlag(fs, "tandem.db", "to read")
	instance := instanceFilterFlag(fs)
	format := fs.String("format", "text", "text or json")
	top := fs.Int("top", report.DefaultTopFields, "differing patterns listed per endpoint (text)")
	fdr := fdrFlag(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("--format %q: want text or json", *format)
	}
	if err := checkFDR(*fdr); err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbPath, store.Options{MustExist: true, Instance: *instance})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	r, err := db.Report(ctx)
	if err != nil {
		return err
	}
	judgeAt(r, *fdr)
	if *format == "json" {
		return report.JSON(c.stdout, r)
	}
	return report.Text(c.stdout, r, *top)
}
