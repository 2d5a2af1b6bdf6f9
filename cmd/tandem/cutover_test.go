package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const cutoverEndpoint = "GET /items/{id}"

func cutoverRules(t *testing.T, plan string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	body := "version: 1\nendpoints:\n  - match: GET /items/{id}\n    sample: 1\n    cutover: " + plan + "\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func sideServer(t *testing.T, name string, bad *atomic.Bool) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Side", name)
		if bad != nil && bad.Load() {
			fmt.Fprint(w, `{"wrong":true}`)
			return
		}
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

// send sends n requests and returns how many the candidate answered.
func sendItems(t *testing.T, p *proc, n int) (candidate int) {
	t.Helper()
	for i := range n {
		resp, err := http.Get(p.url(fmt.Sprintf("/items/%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("client got %d", resp.StatusCode)
		}
		if resp.Header.Get("X-Side") == "candidate" {
			candidate++
		}
	}
	return candidate
}

type statusLine struct {
	Endpoint string          `json:"endpoint"`
	Share    float64         `json:"share"`
	Step     int             `json:"step"`
	State    string          `json:"state"`
	Evidence json.RawMessage `json:"evidence"`
}

func cutoverStatusOf(t *testing.T, db string) statusLine {
	t.Helper()
	out, err := exec.Command(tandemBinary(t), "cutover", "status", "--db", db, "--format", "json").Output()
	if err != nil {
		t.Fatalf("tandem cutover status: %v", err)
	}
	var lines []statusLine
	if err := json.Unmarshal(out, &lines); err != nil {
		t.Fatalf("status json %q: %v", out, err)
	}
	for _, l := range lines {
		if l.Endpoint == cutoverEndpoint {
			return l
		}
	}
	return statusLine{}
}

func operate(t *testing.T, db, action string) {
	t.Helper()
	if out, err := exec.Command(tandemBinary(t), "cutover", action, "--db", db, "--endpoint", cutoverEndpoint).CombinedOutput(); err != nil {
		t.Fatalf("tandem cutover %s: %v\n%s", action, err, out)
	}
}

// until sends traffic until the recorded state satisfies ok (the proxy
// decides once a second).
func until(t *testing.T, p *proc, db string, what string, ok func(statusLine) bool) statusLine {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := cutoverStatusOf(t, db)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached; status %+v\n%s", what, s, p.log())
		}
		sendItems(t, p, 10)
	}
}

func TestCutover_EndToEnd(t *testing.T) {
	legacy := sideServer(t, "legacy", nil)
	cand := sideServer(t, "candidate", nil)
	db := filepath.Join(t.TempDir(), "t.db")
	rulesPath := cutoverRules(t, "{steps: [0.01, 0.1, 0.5, 1.0], min_exchanges: 5, hold: 0s, max_mismatch_rate: 0.5, max_error_rate: 0.5, confidence: 0.9}")
	args := []string{"--legacy", legacy.URL, "--candidate", cand.URL, "--db", db, "--rules", rulesPath}
	p := startTandem(t, args...)

	// A correct candidate is promoted through every step to 1.0.
	seen := map[float64]bool{}
	until(t, p, db, "promoted to 1.0", func(s statusLine) bool { seen[s.Share] = true; return s.State == "done" })
	if s := cutoverStatusOf(t, db); s.Share != 1 || s.Step != 3 {
		t.Fatalf("done at %+v", s)
	}
	if n := sendItems(t, p, 20); n != 20 {
		t.Errorf("at 1.0 the candidate answered %d of 20", n)
	}

	// An operator's rollback reaches the running proxy within a second.
	operate(t, db, "rollback")
	deadline := time.Now().Add(10 * time.Second)
	for sendItems(t, p, 10) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the running proxy did not adopt the rollback\n%s", p.log())
		}
	}

	// From rolled back, the operator starts again at the first step, and
	// pauses it there: the proxy holds it whatever the evidence.
	operate(t, db, "promote")
	operate(t, db, "pause")
	waitLog(t, p.log, `state=paused`, 1) // the running proxy adopted the pause
	sendItems(t, p, 30)
	if s := cutoverStatusOf(t, db); s.State != "paused" || s.Share != 0.01 {
		t.Errorf("paused endpoint moved: %+v", s)
	}

	// A restart resumes at the recorded step (paused at 0.01), never higher.
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.log())
	}
	p = startTandem(t, args...)
	if s := cutoverStatusOf(t, db); s.State != "paused" || s.Share != 0.01 || s.Step != 0 {
		t.Errorf("after the restart: %+v", s)
	}
	operate(t, db, "resume")
	until(t, p, db, "promoted again after the restart", func(s statusLine) bool { return s.Step >= 1 })

	// The report counts the compared exchanges by the side that served.
	rep, err := exec.Command(tandemBinary(t), "report", "--db", db, "--format", "json").Output()
	if err != nil {
		t.Fatalf("tandem report: %v", err)
	}
	var r struct {
		Endpoints []struct {
			Endpoint string           `json:"endpoint"`
			ServedBy map[string]int64 `json:"served_by"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(rep, &r); err != nil || len(r.Endpoints) != 1 || r.Endpoints[0].ServedBy["candidate"] == 0 || r.Endpoints[0].ServedBy["legacy"] == 0 {
		t.Errorf("report served_by: %v %+v", err, r)
	}

	out, err := exec.Command(tandemBinary(t), "cutover", "status", "--db", db).Output()
	if err != nil || !strings.Contains(string(out), cutoverEndpoint) {
		t.Errorf("status text: %v\n%s", err, out)
	}
}

func TestCutover_RegressionRolledBack(t *testing.T) {
	bad := new(atomic.Bool)
	legacy := sideServer(t, "legacy", nil)
	cand := sideServer(t, "candidate", bad)
	db := filepath.Join(t.TempDir(), "t.db")
	// A minimum the traffic never reaches: only the operator promotes.
	rulesPath := cutoverRules(t, "{steps: [0.1, 1.0], min_exchanges: 100000, hold: 0s, max_mismatch_rate: 0.01, confidence: 0.95}")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", cand.URL, "--db", db, "--rules", rulesPath)
	until(t, p, db, "plan recorded", func(s statusLine) bool { return s.State == "shadow" })
	operate(t, db, "promote")
	until(t, p, db, "at 0.1", func(s statusLine) bool { return s.Share == 0.1 })
	bad.Store(true)
	s := until(t, p, db, "rolled back", func(s statusLine) bool { return s.State == "rolled_back" })
	if s.Share != 0 {
		t.Errorf("rolled back to %v", s.Share)
	}
	// At once: at the first decision after the regression (the proxy
	// decides every second), long before the plan's minimum for a
	// promotion, and on the mismatches' evidence.
	var ev struct{ Exchanges, Mismatches int64 }
	json.Unmarshal(s.Evidence, &ev)
	if ev.Mismatches == 0 || ev.Exchanges >= 100000 {
		t.Errorf("rolled back on %+v", ev)
	}
	if !strings.Contains(p.log(), "mismatch rate above 0.01") {
		t.Errorf("the rollback's reason is not the mismatch rate:\n%s", p.log())
	}
	if n := sendItems(t, p, 20); n != 0 {
		t.Errorf("rolled back, the candidate still answered %d of 20", n)
	}
}
