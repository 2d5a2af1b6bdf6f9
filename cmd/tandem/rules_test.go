package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// TestNoiseEndToEnd: a secondary legacy instance reveals that legacy's
// random request id differs from answer to answer, so the candidate's
// differing id is noise, while a real bug on the same endpoint stays a
// mismatch. Then the learned noise becomes a suggested rule, and re-judging
// history under it turns the noise into matches.
func TestNoiseEndToEnd(t *testing.T) {
	answer := func(bugOn string) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			price := 10
			if r.URL.Path == bugOn {
				price = 11
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"requestId":"%016x","item":%q,"price":%d}`, rand.Uint64(), r.URL.Path, price)
		}
	}
	legacy := newUpstream(t, answer(""))
	secondary := newUpstream(t, answer(""))
	candidate := newUpstream(t, answer("/items/7"))
	dir := t.TempDir()
	db := filepath.Join(dir, "noise.db")
	base, stop := startProxy(t, "--legacy", legacy.URL, "--secondary", secondary.URL, "--candidate", candidate.URL, "--db", db)
	for i := 1; i <= 10; i++ {
		resp, err := http.Get(fmt.Sprintf("%s/items/%d", base, i))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if code := stop(); code != 0 {
		t.Fatalf("proxy exit %d", code)
	}
	ctx := context.Background()
	_, js, _ := runTandem(t, ctx, "report", "--db", db, "--format", "json")
	var r struct {
		Endpoints []struct {
			Endpoint    string `json:"endpoint"`
			Mismatched  int64  `json:"mismatched"`
			Noise       int64  `json:"noise"`
			NoisyFields []struct {
				Pattern string  `json:"pattern"`
				Rate    float64 `json:"rate"`
			} `json:"noisy_fields"`
			Fields []struct {
				Pattern string `json:"pattern"`
				Count   int64  `json:"count"`
			} `json:"fields"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil || len(r.Endpoints) != 1 {
		t.Fatalf("report: %v\n%s", err, js)
	}
	e := r.Endpoints[0]
	if e.Endpoint != "GET /items/{id}" || e.Noise != 9 || e.Mismatched != 1 {
		t.Errorf("%s: noise %d, mismatched %d; want 9 noise and the one real bug", e.Endpoint, e.Noise, e.Mismatched)
	}
	if len(e.NoisyFields) != 1 || e.NoisyFields[0].Pattern != "$.requestId" || e.NoisyFields[0].Rate != 1 {
		t.Errorf("noisy fields %+v, want $.requestId at rate 1", e.NoisyFields)
	}
	if len(e.Fields) != 1 || e.Fields[0].Pattern != "$.price" || e.Fields[0].Count != 1 {
		t.Errorf("fields %+v, want $.price once", e.Fields)
	}

	code, yaml, stderr := runTandem(t, ctx, "rules", "suggest", "--db", db)
	if code != 0 || !strings.Contains(yaml, `- match: "GET /items/{id}"`) || !strings.Contains(yaml, `- "$.requestId"`) {
		t.Fatalf("suggest exit %d:\n%s\n%s", code, yaml, stderr)
	}
	rulesFile := filepath.Join(dir, "suggested.yaml")
	os.WriteFile(rulesFile, []byte(yaml), 0o644)
	code, out, stderr := runTandem(t, ctx, "rediff", "--db", db, "--rules", rulesFile)
	if code != 0 || !strings.Contains(out, "noise→match") || !strings.Contains(out, " 9\n") {
		t.Fatalf("rediff exit %d:\n%s\n%s", code, out, stderr)
	}
	_, text, _ := runTandem(t, ctx, "report", "--db", db)
	if !strings.Contains(text, "matched 9") || !strings.Contains(text, "mismatched 1") {
		t.Errorf("after rediff:\n%s", text)
	}
}

// TestRulesReload: the proxy takes a changed rules file within a poll
// interval, keeps the old rules when the new file is broken, and reloads on
// SIGHUP.
func TestRulesReload(t *testing.T) {
	answer := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"a":1,"ts":"%d"}`, rand.Uint64())
	}
	legacy := newUpstream(t, answer)
	candidate := newUpstream(t, answer)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	strict := "version: 1\nendpoints:\n  - match: GET /x\n"
	lenient := "version: 1\nendpoints:\n  - match: GET /x\n    ignore: [\"$.ts\"]\n"
	write := func(s string) {
		t.Helper()
		// A new name then a rename, as editors do.
		tmp := rulesFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rulesFile); err != nil {
			t.Fatal(err)
		}
	}
	write(strict)
	db := filepath.Join(dir, "reload.db")

	base, log, stop := startProxyLog(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--rules", rulesFile, "--rules-poll", "100ms", "--record", "all")
	defer stop()
	waitOutcome(t, base, db, "mismatch")
	write(lenient)
	waitLog(t, log.String, reloaded, 1)
	waitOutcome(t, base, db, "match")
	write("version: 1\nendpoints:\n  - match: GET /x\n    ignore: [\"ts\"]\n") // broken: not a path
	waitLog(t, log.String, "rules not reloaded: the file has errors", 1)
	waitOutcome(t, base, db, "match") // the old rules stay
	stop()

	// SIGHUP, with polling off.
	write(lenient)
	base, log, stop = startProxyLog(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--rules", rulesFile, "--rules-poll", "0", "--record", "all")
	defer stop()
	waitOutcome(t, base, db, "match")
	write(strict)
	// Not reloaded yet: no polling. That nothing happens has no event to
	// wait for; a request judged after the write under the old rules, and
	// the single reload below, are what a poller would have broken.
	waitOutcome(t, base, db, "match")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log.String, reloaded, 1)
	waitOutcome(t, base, db, "mismatch")
	if n := strings.Count(log.String(), reloaded); n != 1 {
		t.Errorf("%d reloads with polling off, want the one SIGHUP asked for:\n%s", n, log)
	}
}

// reloaded is what the proxy logs when it puts new rules in force.
const reloaded = `msg="rules reloaded"`

// waitOutcome sends a request, waits until the proxy's database holds its
// exchange (verdicts are judged and written asynchronously), and repeats
// until one is judged with the given outcome: a reload takes effect for
// the requests after it.
func waitOutcome(t *testing.T, base, db, want string) {
	t.Helper()
	var got []string
	for range 20 {
		before, _ := newest(t, db)
		resp, err := http.Get(base + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var outcome string
		poll(t, "the request's exchange in "+db, func() bool {
			var id int64
			id, outcome = newest(t, db)
			return id > before
		}, func() string { return strings.Join(got, ", ") })
		if outcome == want {
			return
		}
		got = append(got, outcome)
	}
	t.Fatalf("no %s outcome in 20 requests: %s", want, strings.Join(got, ", "))
}

// newest returns the id and outcome of the newest stored exchange (0 and
// "" when there is none).
func newest(t *testing.T, db string) (int64, string) {
	t.Helper()
	s := mustOpen(t, db)
	defer s.Close()
	var id int64
	var outcome string
	if err := s.Exchanges(context.Background(), store.Filter{Desc: true, Limit: 1}, func(ex *tandem.Exchange) error {
		id, outcome = ex.ID, string(ex.Outcome)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return id, outcome
}

// TestProxy_RulesSignals runs the real binary: SIGHUP without a rules file
// is logged and leaves the proxy serving (its default action would kill
// it), and a broken rules file, seen by polling or on SIGHUP, is logged
// with its position while the proxy goes on.
func TestProxy_RulesSignals(t *testing.T) {
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("legacy")) })
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("legacy")) })
	dir := t.TempDir()
	get := func(p *proc) {
		t.Helper()
		resp, err := http.Get(p.url("/x"))
		if err != nil {
			t.Fatalf("the proxy stopped serving: %v\n%s", err, p.log())
		}
		resp.Body.Close()
	}

	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(dir, "a.db"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p.log, "no rules file to reload", 1)
	get(p)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after SIGHUP and SIGTERM:\n%s", code, p.log())
	}

	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte("version: 1\nendpoints:\n  - match: GET /x\n"), 0o644)
	p = startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(dir, "b.db"),
		"--rules", rulesFile, "--rules-poll", "20ms")
	os.WriteFile(rulesFile, []byte("version: 1\nendpoints:\n  - match: GET /x\n    ignor: [\"$.a\"]\n"), 0o644)
	waitLog(t, p.log, rulesFile+`:4:5: unknown key \"ignor\"`, 1)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p.log, "rules not reloaded", 2) // SIGHUP reports the broken file too
	get(p)
	if strings.Contains(p.log(), "rules reloaded") {
		t.Errorf("a broken file was applied:\n%s", p.log())
	}
	os.WriteFile(rulesFile, []byte("version: 1\nendpoints:\n  - match: GET /x\n    ignore: [\"$.a\"]\n"), 0o644)
	waitLog(t, p.log, "rules reloaded", 1)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
}
