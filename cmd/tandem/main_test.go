package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/tandemproxy/tandem/store"
)

// runTandem runs a command in-process as the binary would and returns its
// exit status and output.
func runTandem(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, env{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader("")})
	return code, stdout.String(), stderr.String()
}

func TestRun_Usage(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{args: []string{"nope"}, code: exitUsage, stderr: `unknown command "nope"`},
		{args: []string{"proxy", "--candidate", "http://127.0.0.1:1"}, code: exitUsage, stderr: "--legacy URL is required"},
		{args: []string{"proxy", "--legacy", "ftp://x", "--candidate", "http://127.0.0.1:1"}, code: exitUsage, stderr: "want http://host:port"},
		{args: []string{"proxy", "--legacy", "http://127.0.0.1:1", "--candidate", "http://127.0.0.1:1", "--sample", "2"}, code: exitUsage, stderr: "--sample 2"},
		{args: []string{"proxy", "--legacy", "http://127.0.0.1:1", "--candidate", "http://127.0.0.1:1", "--record", "some"}, code: exitUsage, stderr: "want mismatches, all or none"},
		{args: []string{"proxy", "--bogus"}, code: exitUsage, stderr: "flag provided but not defined"},
		{args: []string{"report", "--db", filepath.Join(t.TempDir(), "missing.db")}, code: exitUsage, stderr: "no such database"},
		{args: []string{"tui", "--db", filepath.Join(t.TempDir(), "missing.db")}, code: exitUsage, stderr: "no such database"},
		{args: []string{"tui", "--db", "x.db", "--rules", "../../rules/testdata/bad/bad-values.yaml"}, code: exitUsage, stderr: "bad-values.yaml:4:22"},
		{args: []string{"tui", "--db", notTandemDB(t)}, code: exitUsage, stderr: "not a tandem database"},
		{args: []string{"tui", "--db", tandemDB(t)}, code: exitUsage, stderr: "needs a terminal"},
		{args: []string{"rules", "check", "../../rules/testdata/bad/unknown-key.yaml"}, code: exitUsage, stderr: "unknown-key.yaml:3:3: unknown key \"ignor\""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := runTandem(t, ctx, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
}

// A proxy given a broken rules file exits 2 and starts nothing: no
// listener, no database file.
func TestProxy_BadRulesStartNothing(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "never.db")
	code, _, stderr := runTandem(t, context.Background(), "proxy", "--listen", "127.0.0.1:0", "--legacy", "http://127.0.0.1:1",
		"--candidate", "http://127.0.0.1:1", "--db", db, "--rules", "../../rules/testdata/bad/bad-values.yaml")
	if code != exitUsage || !strings.Contains(stderr, "bad-values.yaml:4:22: ignore: bad path") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("the database was created")
	}
}

func TestRulesCheck(t *testing.T) {
	code, out, stderr := runTandem(t, context.Background(), "rules", "check", "../../rules/testdata/example.yaml")
	if code != 0 || !strings.Contains(out, "ok (3 endpoint rules)") {
		t.Errorf("exit %d, out %q, err %q", code, out, stderr)
	}
}

// TestDemo runs the README's first command and checks that the report
// shows every deliberate difference of the sample candidate.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "demo.db")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, out, stderr := runTandem(t, ctx, "demo", "--db", db, "--rules", filepath.Join(dir, "demo.yaml"), "--requests", "200", "--no-tui")
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"(0 client errors)", "$.open_issues_count", "$.archived", "GET /repos/{owner}/{repo}/labels", "noise   $.updated_at"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "demo.yaml")); err != nil {
		t.Errorf("demo rules not written: %v", err)
	}
	code, js, stderr := runTandem(t, ctx, "report", "--db", db, "--format", "json")
	if code != 0 {
		t.Fatalf("report exit %d: %s", code, stderr)
	}
	var r struct {
		Totals    map[string]int64 `json:"totals"`
		Endpoints []struct {
			Endpoint   string `json:"endpoint"`
			Compared   int64  `json:"compared"`
			Matched    int64  `json:"matched"`
			Mismatched int64  `json:"mismatched"`
			Noise      int64  `json:"noise"`
			Fields     []struct {
				Pattern string `json:"pattern"`
				Count   int64  `json:"count"`
			} `json:"fields"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, js)
	}
	for _, k := range []string{"requests", "compared", "matched", "mismatched", "noise", "candidate_errors", "dropped", "skipped"} {
		if _, ok := r.Totals[k]; !ok {
			t.Errorf("totals lack %q", k)
		}
	}
	if r.Totals["requests"] != 200 || r.Totals["skipped"] != 20 || r.Totals["compared"] != 180 {
		t.Errorf("totals %v: want 200 requests, 20 skipped POSTs, 180 compared", r.Totals)
	}
	want := map[string]string{ // endpoint → a pattern that must differ there
		"GET /orgs/{org}":               "$.archived",
		"GET /repos/{owner}/{repo}":     "$.open_issues_count",
		"GET /repositories/{id}/issues": "$[*]",
	}
	for _, e := range r.Endpoints {
		if e.Endpoint == "GET /repos/{owner}/{repo}/labels" && e.Matched != e.Compared {
			t.Errorf("labels: %d of %d matched; the unordered rule must absorb the reordering", e.Matched, e.Compared)
		}
		if e.Endpoint == "GET /repositories/{id}" && e.Noise != e.Compared {
			t.Errorf("repositories by id: noise %d of %d; the only difference is legacy's own timestamp", e.Noise, e.Compared)
		}
		if p, ok := want[e.Endpoint]; ok {
			if len(e.Fields) == 0 || e.Fields[0].Pattern != p {
				t.Errorf("%s: fields %+v, want %s first", e.Endpoint, e.Fields, p)
			}
			delete(want, e.Endpoint)
		}
	}
	for ep := range want {
		t.Errorf("endpoint %s missing from the report", ep)
	}
}

// tandemDB returns the path of an empty tandem database.
func tandemDB(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "empty.db")
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return path
}

// notTandemDB returns the path of another application's SQLite file.
func notTandemDB(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE accounts (id INTEGER)"); err != nil {
		t.Fatal(err)
	}
	return path
}
