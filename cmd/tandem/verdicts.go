package main

import (
	"flag"

	"github.com/tandemproxy/tandem/stats"
	"github.com/tandemproxy/tandem/store"
)

// fdrFlag adds --fdr, the false discovery rate verdicts are reached at.
func fdrFlag(fs *flag.FlagSet) *float64 {
	return fs.Float64("fdr", stats.DefaultQ, "false discovery rate q of the per-pattern verdicts (Benjamini–Hochberg), between 0 and 1")
}

// checkFDR checks an --fdr value before anything runs.
func checkFDR(q float64) error {
	if q <= 0 || q >= 1 {
		return usagef("--fdr %v: want a rate between 0 and 1, such as 0.05", q)
	}
	return nil
}

// judgeAt re-judges a report's patterns at false discovery rate q (the
// store judges at the default).
func judgeAt(r *store.Report, q float64) {
	if q != stats.DefaultQ {
		o := stats.DefaultOptions()
		o.Q = q
		r.Assess(o)
	}
}
