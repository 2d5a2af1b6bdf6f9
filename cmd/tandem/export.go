package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/store"
)

type exportCmd struct{ env }

func (c *exportCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("export", c.env, "tandem export --db tandem.db --format ndjson|har [--out FILE]\n\n"+
		"Writes stored exchanges as NDJSON (one exchange per line) or HAR 1.2 (the candidate's\n"+
		"answer in each entry's _candidate field), for tandem replay --from and other tools.")
	dbPath := dbFlag(fs, "tandem.db", "to read")
	instance := instanceFilterFlag(fs)
	format := fs.String("format", "ndjson", "ndjson or har")
	out := fs.String("out", "", "`file` to write (default: standard output)")
	filters := addFilterFlags(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *format != string(replay.NDJSON) && *format != string(replay.HAR) {
		return usagef("--format %q: want ndjson or har", *format)
	}
	filter, err := filters.filter()
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbPath, store.Options{MustExist: true, Instance: *instance})
	if err != nil {
		return usageError{err}
	}
	defer db.Close()
	src, err := replay.NewDBSource(ctx, db, filter)
	if err != nil {
		return err
	}

	var w io.Writer = c.stdout
	var f *os.File
	if *out != "" {
		for _, p := range []string{*dbPath, *dbPath + "-wal", *dbPath + "-shm"} {
			if same(p, *out) {
				// Creating it would empty the recording being read.
				return usagef("--out %s is the database: write the export to another file", *out)
			}
		}
		// Like the database, an export holds copies of production traffic.
		if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err // "open FILE: …"
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	n, err := export(src, bw, replay.Format(*format))
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && f != nil {
		err = f.Close()
	}
	if err != nil {
		if f != nil {
			os.Remove(*out) // no half-written file
		}
		return err
	}
	fmt.Fprintf(c.stderr, "tandem export: %d exchanges from %s\n", n, shownDB(*dbPath))
	return nil
}

func export(src *replay.DBSource, w io.Writer, f replay.Format) (int, error) {
	var har *replay.HARWriter
	if f == replay.HAR {
		var err error
		if har, err = replay.NewHARWriter(w, version); err != nil {
			return 0, err
		}
	}
	n := 0
	for {
		ex, err := src.NextExchange()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, err
		}
		if har != nil {
			err = har.Write(ex)
		} else {
			err = replay.WriteNDJSON(w, ex)
		}
		if err != nil {
			return n, err
		}
		n++
	}
	if har != nil {
		return n, har.Close()
	}
	return n, nil
}
