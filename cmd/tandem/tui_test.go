package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/demo"
	"github.com/tandemproxy/tandem/store"
)

// TestTUI_EndToEnd runs the real binary in tmux on the demo's database:
// it finds a difference, ignores it with i, marks a pattern as a bug with a
// note, and checks the rules file (comments kept), the re-judged database
// and the stored triage.
func TestTUI_EndToEnd(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for this test (apt-get install tmux)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	demoCmd := exec.Command(bin, "demo", "--db", "demo.db", "--rules", "demo.yaml", "--requests", "120", "--no-tui")
	demoCmd.Dir = dir
	if out, err := demoCmd.CombinedOutput(); err != nil {
		t.Fatalf("tandem demo: %v\n%s", err, out)
	}

	tm := &tmux{t: t, socket: fmt.Sprintf("tandem-e2e-%d", os.Getpid())}
	t.Cleanup(func() { exec.Command("tmux", "-L", tm.socket, "kill-server").Run() })
	tm.run("-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", "-c", dir,
		"./tandem tui --db demo.db --rules demo.yaml; echo tandem exited $?; sleep 600")

	tm.wait("GET /orgs/{org}")
	tm.keys("/", "orgs")
	tm.wait("/orgs█")
	tm.keys("Enter", "Enter")
	tm.wait("› GET /orgs/{org}", "$.archived")
	tm.keys("Enter")
	tm.wait("› $.archived", "of", "shown")
	tm.keys("Enter")
	tm.wait("Differences (1)")
	tm.keys("Tab")
	tm.wait("difference 1/1: $.archived (added)")
	tm.keys("i")
	tm.wait("ignored $.archived for GET /orgs/{org}")
	tm.wait("0 differences")
	// Triage a pattern of another endpoint as a bug, with a note.
	tm.keys("q", "q", "q")
	tm.wait("sorted worst first")
	tm.keys("Escape") // clears the filter
	tm.wait("GET /repos/{owner}/{repo}")
	tm.keys("/", "{id}/issues", "Enter", "Enter")
	tm.wait("› GET /repositories/{id}/issues", "$[*]")
	tm.keys("b")
	tm.wait("1 pattern: 0 open · 1 bug")
	tm.keys("n", "lost issue", "Enter")
	tm.wait("note: lost issue")
	tm.keys("q", "q")
	tm.wait("tandem exited 0")

	// On a terminal, tandem demo opens the UI on its results.
	tm.run("respawn-pane", "-k", "-t", "0", "-c", dir, "./tandem demo --db demo2.db --rules demo2.yaml --requests 40; echo demo exited $?; sleep 600")
	tm.wait("tandem › endpoints", "40 requests")
	tm.keys("q")
	tm.wait("Next:", "demo exited 0")

	got, err := os.ReadFile(filepath.Join(dir, "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(demo.Rules), "  - match: GET /orgs/{org}\n", "  - match: GET /orgs/{org}\n    ignore: [\"$.archived\"]\n", 1)
	if string(got) != want {
		t.Errorf("rules file:\n%s\nwant the demo's with one line added:\n%s", got, want)
	}
	db := mustOpen(t, filepath.Join(dir, "demo.db"))
	defer db.Close()
	r, err := db.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range r.Endpoints {
		if e.Endpoint == "GET /orgs/{org}" {
			found = true
			if e.Mismatched != 0 || e.Matched == 0 || e.Matched != e.Compared {
				t.Errorf("GET /orgs/{org} after the ignore: %+v", e)
			}
		}
	}
	if !found {
		t.Error("GET /orgs/{org} is not in the report")
	}
	n := 0
	db.Exchanges(context.Background(), store.Filter{Pattern: "$.archived"}, func(*tandem.Exchange) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d stored exchanges still differ at $.archived", n)
	}
	pt, err := db.PatternTriage(context.Background(), "GET /repositories/{id}/issues")
	if err != nil {
		t.Fatal(err)
	}
	if got := pt["$[*]"]; got.State != store.TriageBug || got.Note != "lost issue" {
		t.Errorf("triage of $[*] in GET /repositories/{id}/issues: %+v", got)
	}
}

type tmux struct {
	t      *testing.T
	socket string
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// keys types keys one send-keys at a time (tmux key names: Enter, Tab,
// Escape; anything else longer than a character is text).
func (tm *tmux) keys(keys ...string) {
	tm.t.Helper()
	for _, k := range keys {
		if len(k) > 1 && k != "Enter" && k != "Tab" && k != "Escape" {
			tm.run("send-keys", "-t", "0", "-l", k)
			continue
		}
		tm.run("send-keys", "-t", "0", k)
	}
}

// wait polls the screen until it shows every string. The bound is only
// there so that a broken UI fails the test instead of hanging it.
func (tm *tmux) wait(want ...string) {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		screen := tm.run("capture-pane", "-p", "-t", "0")
		missing := ""
		for _, w := range want {
			if !strings.Contains(screen, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the screen never showed %q:\n%s", missing, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
