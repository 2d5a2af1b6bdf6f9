package main

import (
	"flag"

	"github.com/tandemproxy/tandem/store"
)

// dbUsage is how every --db flag describes what it takes.
const dbUsage = "SQLite `file` or postgres:// URL"

// dbFlag defines --db: a SQLite file (the default engine) or a
// postgres:// URL (many instances, one database). what completes the
// usage ("to read", "to record in").
func dbFlag(fs *flag.FlagSet, def, what string) *string {
	return fs.String("db", def, dbUsage+" "+what)
}

// instanceFlag defines --instance on the commands that write (proxy,
// replay): the name their rows carry.
func instanceFlag(fs *flag.FlagSet) *string {
	return fs.String("instance", "", "`name` this tandem's rows carry, to tell instances sharing a database apart (default: the host name)")
}

// instanceFilterFlag defines --instance on the commands that read
// (report, tui, export): only one instance's rows.
func instanceFilterFlag(fs *flag.FlagSet) *string {
	return fs.String("instance", "", "only what this `instance` recorded (default: every instance, summed)")
}

// shownDB is a --db value fit for messages: without a URL's password.
func shownDB(dsn string) string { return store.RedactDSN(dsn) }
