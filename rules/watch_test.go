package rules_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/rules"
)

// TestWatch: a changed file is loaded; a broken one is reported (with its
// position) and not loaded; unchanged content is not reported again; and a
// change that keeps the size and the modification time is still seen.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	rulesWith := func(ignore string) string {
		return "version: 1\nendpoints:\n  - match: GET /x\n    ignore: [\"" + ignore + "\"]\n"
	}
	write := func(s string) {
		t.Helper()
		tmp := path + ".tmp" // as editors save: a new file, then a rename
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(rulesWith("$.a"))
	current, err := rules.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	changes, errs := make(chan *rules.Set, 10), make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		rules.Watch(ctx, current, 5*time.Millisecond, func(s *rules.Set) { changes <- s }, func(err error) { errs <- err })
	}()
	defer func() { cancel(); <-done }()
	next := func() (*rules.Set, error) {
		t.Helper()
		select {
		case s := <-changes:
			return s, nil
		case err := <-errs:
			return nil, err
		case <-time.After(10 * time.Second):
			t.Fatal("the watcher reported nothing")
		}
		return nil, nil
	}
	ignoreOf := func(s *rules.Set) []string { return s.Endpoints()[0].Config.Ignore }

	// The same size, and the modification time set back: only the content
	// tells.
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	write(rulesWith("$.b"))
	if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	s, err := next()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"$.b"}, ignoreOf(s)); d != "" {
		t.Errorf("reloaded ignore (-want +got):\n%s", d)
	}

	write(rulesWith("b")) // not a path
	if _, err := next(); err == nil || !strings.Contains(err.Error(), path+":4:14: ignore: bad path \"b\"") {
		t.Fatalf("a broken file must be reported with its position, got %v", err)
	}
	// The same broken content again is not news; the next report is the
	// next real change.
	write(rulesWith("b"))
	time.Sleep(50 * time.Millisecond) // a few polls, to give a repeat the chance to show
	write(rulesWith("$.c"))
	s, err = next()
	if err != nil {
		t.Fatalf("reported again: %v", err)
	}
	if d := cmp.Diff([]string{"$.c"}, ignoreOf(s)); d != "" {
		t.Errorf("reloaded ignore (-want +got):\n%s", d)
	}
}
