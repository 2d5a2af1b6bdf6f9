package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/demo"
)

// demoServer serves one of the demo's services (real recorded GitHub
// answers) on loopback.
func demoServer(t *testing.T, role demo.Role) string {
	t.Helper()
	svc, err := demo.NewService(role)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(svc)
	t.Cleanup(s.Close)
	return s.URL
}

// writeGoldenRules writes the demo's rules with legacy's own timestamp
// ignored: the demo stamps repositories with the time it served them, and
// golden mode compares a recording with an answer made later.
func writeGoldenRules(t *testing.T, dir string) string {
	t.Helper()
	rs := strings.Replace(string(demo.Rules), "compare_headers: [Content-Type, Location]",
		"compare_headers: [Content-Type, Location]\n  ignore: [\"$.updated_at\"]", 1)
	p := filepath.Join(dir, "golden.yaml")
	if err := os.WriteFile(p, []byte(rs), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// record runs `tandem proxy --record all` in front of the demo's legacy
// service and sends n requests of the demo's traffic through it.
func record(t *testing.T, dir string, n int) string {
	t.Helper()
	legacy := demoServer(t, demo.Legacy)
	db := filepath.Join(dir, "recorded.db")
	rulesFile := filepath.Join(dir, "demo.yaml")
	if err := os.WriteFile(rulesFile, demo.Rules, 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop := startProxy(t, "--legacy", legacy, "--candidate", legacy, "--db", db, "--record", "all", "--rules", rulesFile)
	traffic, err := demo.Traffic(n, 7)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if failures, err := send(ctx, base, traffic, 4); err != nil || failures > 0 {
		t.Fatalf("recording: %d client failures, %v", failures, err)
	}
	if code := stop(); code != 0 {
		t.Fatalf("proxy exit status %d", code)
	}
	return db
}

type junitDoc struct {
	Suites []struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) (failing map[string]string, passing []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	failing = map[string]string{}
	for _, c := range doc.Suites[0].Cases {
		switch {
		case c.Failure != nil:
			failing[c.Name] = c.Failure.Message + "\n" + c.Failure.Text
		case c.Skipped == nil:
			passing = append(passing, c.Name)
		}
	}
	return failing, passing
}

// TestReplayEndToEnd records real traffic with the proxy, then replays it
// in golden mode as CI would: against a changed candidate the gate fails
// with the right JUnit failures; against an equal one it passes.
func TestReplayEndToEnd(t *testing.T) {
	dir := t.TempDir()
	recorded := record(t, dir, 80)
	rulesFile := writeGoldenRules(t, dir)
	ctx := context.Background()

	t.Run("Changed", func(t *testing.T) {
		junit, summary := filepath.Join(dir, "changed.xml"), filepath.Join(dir, "changed.md")
		code, out, stderr := runTandem(t, ctx, "replay", "--from", recorded, "--candidate", demoServer(t, demo.Candidate),
			"--rules", rulesFile, "--db", filepath.Join(dir, "changed.db"), "--junit", junit, "--summary", summary)
		if code != exitFail {
			t.Fatalf("exit %d, want %d\n%s\n%s", code, exitFail, out, stderr)
		}
		failing, passing := readJUnit(t, junit)
		for ep, pattern := range map[string]string{
			"GET /repos/{owner}/{repo}": "$.open_issues_count",
			"GET /orgs/{org}":           "$.archived",
		} {
			if !strings.Contains(failing[ep], pattern) {
				t.Errorf("JUnit: %s fails with %q; want the pattern %s", ep, failing[ep], pattern)
			}
		}
		for _, ep := range []string{"GET /repos/{owner}/{repo}/labels", "GET /search/issues", "GET /"} {
			if _, ok := failing[ep]; ok || !contains(passing, ep) {
				t.Errorf("JUnit: %s should pass (failures: %q; passing: %q)", ep, failing[ep], passing)
			}
		}
		var names []string
		for ep := range failing {
			names = append(names, ep)
		}
		slices.Sort(names)
		// The demo candidate's deliberate changes, and nothing else.
		want := []string{"GET /orgs/{org}", "GET /repos/{owner}/{repo}", "GET /repos/{owner}/{repo}/contents/{path...}", "GET /repositories/{id}/issues"}
		if d := cmp.Diff(want, names); d != "" {
			t.Errorf("JUnit: failing endpoints (-want +got):\n%s", d)
		}
		if f := failing["GET /repos/{owner}/{repo}/contents/{path...}"]; !strings.Contains(f, "got no answer from the candidate") ||
			!strings.Contains(f, "first error: connection closed before an answer") {
			t.Errorf("JUnit: the dropped connections fail as %q", f)
		}
		if f := failing["GET /repositories/{id}/issues"]; !strings.Contains(f, "$[*]: ") {
			t.Errorf("JUnit: the lost issue fails as %q", f)
		}
		md, err := os.ReadFile(summary)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(md), "### ❌ tandem replay failed") || !strings.Contains(string(md), "`$.open_issues_count`") {
			t.Errorf("summary:\n%s", md)
		}
		if !strings.Contains(out, "FAIL: ") || !strings.Contains(out, "golden mode") || !strings.Contains(stderr, "replay: 72/72 (100%)") {
			t.Errorf("stdout:\n%s\nstderr:\n%s", out, stderr)
		}
	})

	t.Run("Equal", func(t *testing.T) {
		junit := filepath.Join(dir, "equal.xml")
		code, out, stderr := runTandem(t, ctx, "replay", "--from", recorded, "--candidate", demoServer(t, demo.Legacy),
			"--rules", rulesFile, "--db", filepath.Join(dir, "equal.db"), "--junit", junit, "--concurrency", "3", "--ordered")
		if code != exitOK {
			t.Fatalf("exit %d, want 0\n%s\n%s", code, out, stderr)
		}
		failing, passing := readJUnit(t, junit)
		if len(failing) > 0 || len(passing) < 8 {
			t.Errorf("JUnit: failing %q, passing %q; want every endpoint passing", failing, passing)
		}
		if !strings.Contains(out, "PASS: 0 failing exchanges") {
			t.Errorf("stdout:\n%s", out)
		}
	})

	t.Run("Filtered", func(t *testing.T) {
		code, out, stderr := runTandem(t, ctx, "replay", "--from", recorded, "--candidate", demoServer(t, demo.Candidate),
			"--rules", rulesFile, "--db", filepath.Join(dir, "orgs.db"), "--endpoint", "GET /orgs/{org}", "--outcome", "match")
		if code != exitFail || !strings.Contains(out, "GET /orgs/{org}") || strings.Contains(out, "GET /repos/{owner}/{repo}") {
			t.Errorf("exit %d\n%s\n%s", code, out, stderr)
		}
	})

	t.Run("Since", func(t *testing.T) {
		// The recording was made moments ago: an hour back holds all of it,
		// a time to come none.
		cand := demoServer(t, demo.Legacy)
		code, out, stderr := runTandem(t, ctx, "replay", "--from", recorded, "--candidate", cand, "--rules", rulesFile,
			"--db", filepath.Join(dir, "since.db"), "--since", "1h")
		if code != exitOK || !strings.Contains(out, "72 records") {
			t.Errorf("--since 1h: exit %d\n%s\n%s", code, out, stderr)
		}
		code, _, stderr = runTandem(t, ctx, "replay", "--from", recorded, "--candidate", cand,
			"--db", filepath.Join(dir, "since.db"), "--since", "2999-01-01T00:00:00Z")
		if code != exitUsage || !strings.Contains(stderr, `--since "2999-01-01T00:00:00Z" is in the future`) {
			t.Errorf("--since 2999: exit %d, stderr %q", code, stderr)
		}
		code, _, stderr = runTandem(t, ctx, "replay", "--from", recorded, "--candidate", cand,
			"--db", filepath.Join(dir, "since.db"), "--since", "1200-01-01T00:00:00Z")
		if code != exitFail || !strings.Contains(stderr, "replay: 72/72") {
			t.Errorf("--since 1200 (before anything): exit %d, stderr %q", code, stderr)
		}
		code, out, stderr = runTandem(t, ctx, "export", "--db", recorded, "--since", "1h", "--endpoint", "GET /orgs/{org}")
		if n := strings.Count(out, "\n"); code != exitOK || n == 0 || n != strings.Count(out, `"endpoint":"GET /orgs/{org}"`) {
			t.Errorf("export --since 1h --endpoint: exit %d, %d lines\n%s", code, n, stderr)
		}
	})

	t.Run("Gate", func(t *testing.T) {
		// The changed candidate fails on two endpoints only: allow what they
		// count, and the gate passes.
		cand := demoServer(t, demo.Candidate)
		args := []string{"replay", "--from", recorded, "--candidate", cand, "--rules", rulesFile,
			"--db", filepath.Join(dir, "gate.db"), "--endpoint", "GET /orgs/{org}"}
		code, out, _ := runTandem(t, ctx, args...)
		if code != exitFail {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		var n string
		if _, after, ok := strings.Cut(out, "FAIL: "); ok {
			n, _, _ = strings.Cut(after, " ")
		}
		code, out, _ = runTandem(t, ctx, append(args, "--max-mismatches", n)...)
		if code != exitOK {
			t.Errorf("with --max-mismatches %s: exit %d\n%s", n, code, out)
		}
	})

	t.Run("ExportAndReplay", func(t *testing.T) {
		cand := demoServer(t, demo.Legacy)
		for _, format := range []string{"ndjson", "har"} {
			file := filepath.Join(dir, "export."+format)
			code, _, stderr := runTandem(t, ctx, "export", "--db", recorded, "--format", format, "--out", file)
			if code != 0 || !strings.Contains(stderr, "72 exchanges") {
				t.Fatalf("export %s: exit %d\n%s", format, code, stderr)
			}
			if st, err := os.Stat(file); err != nil {
				t.Error(err)
			} else if st.Mode().Perm() != 0o600 {
				t.Errorf("export %s: mode %v, want 0600 like the database", format, st.Mode().Perm())
			}
			code, out, stderr := runTandem(t, ctx, "replay", "--from", file, "--candidate", cand, "--rules", rulesFile,
				"--db", filepath.Join(dir, "export-"+format+".db"))
			if code != exitOK || !strings.Contains(out, "72 records") {
				t.Errorf("replay of the %s export: exit %d\n%s\n%s", format, code, out, stderr)
			}
		}
	})

	t.Run("GzippedExport", func(t *testing.T) {
		// README, "Use in CI": tandem export … | gzip > traffic.ndjson.gz
		code, out, _ := runTandem(t, ctx, "export", "--db", recorded)
		if code != 0 {
			t.Fatalf("export: exit %d", code)
		}
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write([]byte(out))
		zw.Close()
		file := filepath.Join(dir, "traffic.ndjson.gz")
		if err := os.WriteFile(file, z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runTandem(t, ctx, "replay", "--from", file, "--candidate", demoServer(t, demo.Legacy),
			"--rules", rulesFile, "--db", filepath.Join(dir, "gz.db"))
		if code != exitOK || !strings.Contains(out, "72 records") {
			t.Errorf("replay of the gzipped export: exit %d\n%s\n%s", code, out, stderr)
		}
	})

	t.Run("PartialRecording", func(t *testing.T) {
		// Recorded with the proxy's default, --record mismatches: only what
		// differed is stored, and replay says so.
		legacy := demoServer(t, demo.Legacy)
		db := filepath.Join(dir, "mismatches.db")
		base, stop := startProxy(t, "--legacy", legacy, "--candidate", demoServer(t, demo.Candidate), "--db", db)
		traffic, _ := demo.Traffic(20, 3)
		if failures, err := send(ctx, base, traffic, 2); err != nil || failures > 0 {
			t.Fatalf("recording: %d failures, %v", failures, err)
		}
		stop()
		_, _, stderr := runTandem(t, ctx, "replay", "--from", db, "--candidate", legacy, "--db", filepath.Join(dir, "partial.db"))
		if !strings.Contains(stderr, "record with --record all to replay them all") {
			t.Errorf("stderr %q: want the warning about a partial recording", stderr)
		}
	})

	t.Run("ErrResultsOverRecording", func(t *testing.T) {
		code, _, stderr := runTandem(t, ctx, "replay", "--from", "../../replay/testdata/github.ndjson",
			"--candidate", demoServer(t, demo.Legacy), "--db", recorded)
		if code != exitUsage || !strings.Contains(stderr, "holds what tandem proxy recorded") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestReplay_Usage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cand := demoServer(t, demo.Legacy)
	empty := filepath.Join(dir, "empty.ndjson")
	os.WriteFile(empty, []byte("\n\n"), 0o644)
	db := filepath.Join(dir, "out.db")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"NoFrom", []string{"--candidate", cand}, exitUsage, "--from SOURCE is required"},
		{"NoCandidate", []string{"--from", "x.har"}, exitUsage, "--candidate URL is required"},
		{"BadFormat", []string{"--from", "x", "--candidate", cand, "--format", "pcap"}, exitUsage, `--format "pcap": want db, har, ndjson or gor`},
		{"Missing", []string{"--from", filepath.Join(dir, "nope.har"), "--candidate", cand}, exitUsage, "no such file"},
		{"FilterOnFile", []string{"--from", "../../replay/testdata/github.har", "--candidate", cand, "--endpoint", "GET /"}, exitUsage,
			"select from a tandem database"},
		{"BadOutcome", []string{"--from", "x.db", "--candidate", cand, "--outcome", "dropped"}, exitUsage, `--outcome "dropped"`},
		{"BadSince", []string{"--from", "x.db", "--candidate", cand, "--since", "yesterday"}, exitUsage, `--since "yesterday"`},
		{"Empty", []string{"--from", empty, "--candidate", cand, "--db", db}, exitUsage, "no request to replay"},
		{"Invalid", []string{"--from", "../../replay/testdata/bad.ndjson", "--candidate", cand, "--db", db}, exitUsage,
			"tandem replay: ../../replay/testdata/bad.ndjson: line 1: invalid JSON: unexpected end (--skip-invalid goes on past invalid records)\n"},
		{"Truncated", []string{"--from", "../../replay/testdata/bad-truncated.har", "--candidate", cand, "--db", db, "--skip-invalid"}, exitUsage,
			"bad-truncated.har: entry 3: invalid JSON: unexpected end"},
		{"SkipInvalid", []string{"--from", "../../replay/testdata/bad.gor", "--candidate", cand, "--db", db, "--skip-invalid"}, exitFail,
			"6 invalid records in ../../replay/testdata/bad.gor will be skipped"},
		{"JUnitDir", []string{"--from", "x.har", "--candidate", cand, "--junit", filepath.Join(dir, "no", "junit.xml")}, exitUsage,
			"--junit " + filepath.Join(dir, "no", "junit.xml") + ": no such directory " + filepath.Join(dir, "no")},
		{"SummaryDir", []string{"--from", "x.har", "--candidate", cand, "--summary", filepath.Join(empty, "summary.md")}, exitUsage,
			"--summary " + filepath.Join(empty, "summary.md") + ": no such directory " + empty},
		{"JUnitOverSource", []string{"--from", "../../replay/testdata/github.har", "--candidate", cand, "--junit", "../../replay/testdata/github.har"}, exitUsage,
			"--junit ../../replay/testdata/github.har would overwrite the traffic or the results"},
		{"BadHeader", []string{"--from", "x.har", "--candidate", cand, "--header", "NoColon"}, exitUsage, `"NoColon": want Name: value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runTandem(t, ctx, append([]string{"replay"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
}

// TestReplay_SkipInvalid checks that the invalid records skipped are
// counted where the report is, as well as announced before the run.
func TestReplay_SkipInvalid(t *testing.T) {
	dir := t.TempDir()
	junit := filepath.Join(dir, "skip.xml")
	code, out, stderr := runTandem(t, context.Background(), "replay", "--from", "../../replay/testdata/bad.ndjson", "--skip-invalid",
		"--candidate", demoServer(t, demo.Legacy), "--db", filepath.Join(dir, "skip.db"), "--junit", junit)
	if code != exitFail || !strings.Contains(stderr, "9 invalid records in ../../replay/testdata/bad.ndjson will be skipped (--skip-invalid)\n") ||
		!strings.Contains(out, "9 invalid records of ../../replay/testdata/bad.ndjson were skipped (--skip-invalid)\n") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `<property name="invalid_records" value="9">`) {
		t.Errorf("JUnit: %v\n%s", err, b)
	}
}

// TestReplay_Live compares a browser's HAR export live: legacy and the
// candidate both answer, and a secondary legacy tells legacy's own noise.
func TestReplay_Live(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "demo.yaml")
	os.WriteFile(rulesFile, demo.Rules, 0o644)
	junit := filepath.Join(dir, "live.xml")
	code, out, stderr := runTandem(t, context.Background(), "replay", "--from", "../../replay/testdata/github.har",
		"--legacy", demoServer(t, demo.Legacy), "--secondary", demoServer(t, demo.Secondary), "--candidate", demoServer(t, demo.Candidate),
		"--rules", rulesFile, "--db", filepath.Join(dir, "live.db"), "--junit", junit, "--rate", "0",
		// One at a time: the demo candidate drops every fifth connection it
		// gets, which must not be the directory listing's here.
		"--concurrency", "1")
	if code != exitFail || !strings.Contains(out, "live mode") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	failing, _ := readJUnit(t, junit)
	got := map[string]bool{}
	for ep := range failing {
		got[ep] = true
	}
	want := map[string]bool{"GET /repos/{owner}/{repo}": true, "GET /orgs/{org}": true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("failing endpoints (-want +got):\n%s", d)
	}
	if strings.Contains(failing["GET /repos/{owner}/{repo}"], "updated_at") {
		t.Errorf("legacy's own timestamp is noise, not a failure:\n%s", failing["GET /repos/{owner}/{repo}"])
	}
}

// TestReplay_CandidateDown replays against a port where nothing listens:
// every exchange is a candidate error, which fails the gate and says why;
// --allow-errors lets them pass, but a gate that verified nothing fails.
func TestReplay_CandidateDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	ctx := context.Background()
	junit, summary := filepath.Join(dir, "down.xml"), filepath.Join(dir, "down.md")
	args := []string{"replay", "--from", "../../replay/testdata/github.ndjson", "--candidate", down, "--db", filepath.Join(dir, "down.db")}

	code, out, stderr := runTandem(t, ctx, append(args, "--junit", junit, "--summary", summary)...)
	if code != exitFail || !strings.Contains(out, "FAIL: 4 failing exchanges") {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	failing, _ := readJUnit(t, junit)
	if f := failing["GET /search/issues"]; !strings.Contains(f, "got no answer from the candidate") || !strings.Contains(f, "first error: connection refused") {
		t.Errorf("JUnit failure of GET /search/issues: %q; want the candidate error and why", f)
	}
	if md, _ := os.ReadFile(summary); !strings.Contains(string(md), "First error: `connection refused`.") {
		t.Errorf("summary:\n%s", md)
	}

	code, out, stderr = runTandem(t, ctx, append(args, "--allow-errors")...)
	if code != exitFail || !strings.Contains(out, "FAIL: no request was compared with an answer: nothing was verified") {
		t.Errorf("--allow-errors: exit %d\n%s\n%s", code, out, stderr)
	}
}
