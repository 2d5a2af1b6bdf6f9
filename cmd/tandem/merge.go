package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tandemproxy/tandem/store"
)

type mergeCmd struct{ env }

func (c *mergeCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("merge", c.env, "tandem merge --into target.db a.db b.db …\n\n"+
		"Combines databases that instances recorded apart (exchanges, differences, counters,\n"+
		"triage) into one, each row keeping the instance that recorded it. Merging the same\n"+
		"database again adds nothing. Rows recorded before tandem knew instances are named\n"+
		"after their file (a.db: instance a).")
	into := fs.String("into", "", "target: "+dbUsage+" (created if missing)")
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if *into == "" {
		return usagef("--into: name the database to merge into")
	}
	sources := fs.Args()
	if len(sources) == 0 {
		return usagef("name the databases to merge: tandem merge --into %s a.db b.db", *into)
	}
	// Rows without an instance are named after their file: two files of
	// the same name would mix their counts.
	fallback := map[string]string{}
	for _, src := range sources {
		if src == *into || same(src, *into) {
			return usagef("%s is the target: merge it into another database", src)
		}
		name := unnamedInstance(src)
		if other, ok := fallback[name]; ok {
			return usagef("%s and %s would both name their rows without an instance %q: rename one of the files", other, src, name)
		}
		fallback[name] = src
	}
	target, err := store.Open(ctx, *into, store.Options{})
	if err != nil {
		return usageError{err}
	}
	defer target.Close()
	for _, src := range sources {
		db, err := store.Open(ctx, src, store.Options{MustExist: true})
		if err != nil {
			return usageError{err}
		}
		name := unnamedInstance(src)
		res, err := target.Merge(ctx, db, func(in string) string {
			if in == "" {
				return name
			}
			return in
		})
		db.Close()
		if err != nil {
			return err
		}
		slices.Sort(res.Instances)
		fmt.Fprintf(c.stdout, "%s: %d exchanges added, %d already merged; counts of %s\n",
			shownDB(src), res.Added, res.Present, instanceList(res.Instances))
	}
	return nil
}

// unnamedInstance is the instance given to a source's rows that have none:
// its file name without extension (a URL's database name).
func unnamedInstance(src string) string {
	if store.IsURL(src) {
		s := src[strings.LastIndex(src, "/")+1:]
		if i := strings.IndexByte(s, '?'); i >= 0 {
			s = s[:i]
		}
		return s
	}
	base := filepath.Base(src)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func instanceList(in []string) string {
	switch len(in) {
	case 0:
		return "no instance"
	case 1:
		return "instance " + in[0]
	}
	return "instances " + strings.Join(in, ", ")
}
