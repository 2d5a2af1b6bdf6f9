package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tandemproxy/tandem/demo"
	"github.com/tandemproxy/tandem/store"
	"github.com/tandemproxy/tandem/store/pgtest"
)

// TestMain starts a throw-away PostgreSQL server for the tests that share
// a database between tandem processes.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Two real tandem proxies, on two "hosts", record into one PostgreSQL
// database; report sums them and --instance picks one.
func TestProxy_TwoInstancesOnePostgres(t *testing.T) {
	dsn := pgtest.URL(t)
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"price":1,"id":7}`) })
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/same") {
			io.WriteString(w, `{"price":1,"id":7}`)
			return
		}
		io.WriteString(w, `{"price":2,"id":7}`)
	})
	sent := map[string][2]int{"a": {3, 2}, "b": {4, 1}} // mismatching, matching requests
	procs := map[string]*proc{}
	for _, name := range []string{"a", "b"} {
		p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", dsn, "--instance", name)
		for i := range sent[name][0] + sent[name][1] {
			path := fmt.Sprintf("/diff/%d", i)
			if i >= sent[name][0] {
				path = fmt.Sprintf("/same/%d", i)
			}
			resp, err := http.Get(p.url(path))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		procs[name] = p
	}
	// Both proxies ran at once; stopping them flushes what they hold.
	for name, p := range procs {
		if code := p.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("proxy %s exited %d:\n%s", name, code, p.log())
		}
	}

	report := func(args ...string) store.Totals {
		t.Helper()
		code, stdout, stderr := runTandem(t, ctxT(t), append([]string{"report", "--db", dsn, "--format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("report %v: exit %d: %s", args, code, stderr)
		}
		var r store.Report
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("report %v: %v\n%s", args, err, stdout)
		}
		return r.Totals
	}
	if got := report(); got.Requests != 10 || got.Compared != 10 || got.Mismatched != 7 || got.Matched != 3 {
		t.Errorf("report over both instances: %+v, want 10 requests: 7 mismatched, 3 matched", got)
	}
	if got := report("--instance", "a"); got.Requests != 5 || got.Mismatched != 3 || got.Matched != 2 {
		t.Errorf("report --instance a: %+v, want 5 requests: 3 mismatched, 2 matched", got)
	}
	code, stdout, stderr := runTandem(t, ctxT(t), "export", "--db", dsn, "--instance", "b")
	if code != 0 || strings.Count(stdout, "\n") != 4 {
		t.Errorf("export --instance b: exit %d, %d lines (want b's 4 mismatches): %s", code, strings.Count(stdout, "\n"), stderr)
	}
	// The other commands that take --db open the shared database too.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rediff", "--db", dsn}, exitOK, "re-judged 7 stored exchanges: 0 changed"},
		{[]string{"rules", "suggest", "--db", dsn}, exitOK, ""},
		{[]string{"tui", "--db", dsn, "--instance", "a"}, exitUsage, "needs a terminal"},
	} {
		code, stdout, stderr := runTandem(t, ctxT(t), tc.args...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%v: exit %d, %s%s; want exit %d and %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
}

// A team that ran SQLite per instance moves to one PostgreSQL database.
func TestMerge_IntoPostgres(t *testing.T) {
	dsn := pgtest.URL(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	recordInto(t, a, "host-a", 3, 1)
	recordInto(t, b, "", 2, 0)
	for range 2 {
		if code, _, stderr := runTandem(t, ctxT(t), "merge", "--into", dsn, a, b); code != 0 {
			t.Fatalf("merge: exit %d: %s", code, stderr)
		}
	}
	if all, stored := totalsOf(t, dsn, ""); all.Mismatched != 5 || all.Matched != 1 || stored != 5 {
		t.Errorf("merged into PostgreSQL twice: %+v, %d stored; want 5 mismatches and 1 match, once", all, stored)
	}
	if bt, _ := totalsOf(t, dsn, "b"); bt.Mismatched != 2 {
		t.Errorf("instance b: %+v, want 2 mismatches", bt)
	}
}

// Replay reads its source from PostgreSQL and writes its results there:
// a second run replaces its own instance's results, never a proxy's.
func TestReplay_Postgres(t *testing.T) {
	ctx := ctxT(t)
	recorded, results := pgtest.URL(t), pgtest.URL(t)
	legacy := demoServer(t, demo.Legacy)
	base, stop := startProxy(t, "--legacy", legacy, "--candidate", legacy, "--db", recorded, "--record", "all", "--instance", "web-1")
	traffic, err := demo.Traffic(40, 7)
	if err != nil {
		t.Fatal(err)
	}
	if failures, err := send(ctx, base, traffic, 4); err != nil || failures > 0 {
		t.Fatalf("recording: %d client failures, %v", failures, err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("proxy exit status %d", code)
	}
	rec, stored := totalsOf(t, recorded, "")
	if rec.Compared == 0 || stored != rec.Compared {
		t.Fatalf("recorded %+v, %d stored: want every compared exchange stored", rec, stored)
	}
	rulesFile := writeGoldenRules(t, t.TempDir())
	for run := range 2 {
		code, out, stderr := runTandem(t, ctx, "replay", "--from", recorded, "--candidate", legacy, "--rules", rulesFile,
			"--db", results, "--instance", "ci")
		if code != exitOK {
			t.Fatalf("run %d: exit %d\n%s\n%s", run, code, out, stderr)
		}
	}
	if got, n := totalsOf(t, results, "ci"); got.Compared != rec.Compared || n != stored {
		t.Errorf("after two runs: %+v, %d stored; want this run's %d only", got, n, rec.Compared)
	}
	code, _, stderr := runTandem(t, ctx, "replay", "--from", recorded, "--candidate", legacy, "--db", recorded)
	if code != exitUsage || !strings.Contains(stderr, "is the source") {
		t.Errorf("results into the source: exit %d, %s", code, stderr)
	}
	code, _, stderr = runTandem(t, ctx, "replay", "--from", results, "--candidate", legacy, "--db", recorded, "--instance", "web-1")
	if code != exitUsage || !strings.Contains(stderr, `holds what tandem proxy recorded as instance "web-1"`) {
		t.Errorf("results over a proxy's instance: exit %d, %s", code, stderr)
	}
	if got, _ := totalsOf(t, recorded, "web-1"); got != rec {
		t.Errorf("the proxy's recording after a refused replay: %+v, want %+v", got, rec)
	}
}
