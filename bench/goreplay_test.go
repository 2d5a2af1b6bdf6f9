package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/bench"
)

// goreplayInstalled is where bench must find goreplay by default: on PATH,
// or where go install puts it; "" when it is not installed (CI does not
// install it).
func goreplayInstalled(t *testing.T) string {
	if p, err := exec.LookPath("goreplay"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	p := filepath.Join(filepath.SplitList(strings.TrimSpace(string(out)))[0], "bin", "goreplay")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// runGoReplay runs the goreplay and direct rows briefly with goreplay set
// to program, and returns the result and its Markdown.
func runGoReplay(t *testing.T, program string) (*bench.Result, string) {
	t.Helper()
	res, err := bench.Run(context.Background(), bench.Config{Tandem: []string{"tandem-is-not-run"}, GoReplay: program,
		Only: []string{"direct", "goreplay"}, Duration: 400 * time.Millisecond, Rate: 100, Connections: 4, BodySize: 2 << 10,
		Wrk: "-", Nginx: "-"})
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	var md strings.Builder
	bench.Markdown(&md, res, "tandem bench --only direct,goreplay")
	return res, md.String()
}

// omitted asserts that the run has no goreplay row, and says why.
func omitted(t *testing.T, res *bench.Result, md, note string) {
	t.Helper()
	if res.Row(bench.GoReplay, bench.Healthy) != nil || strings.Contains(md, "| "+bench.GoReplay+" |") {
		t.Errorf("a goreplay row without goreplay:\n%s", md)
	}
	if res.Row(bench.Direct, "") == nil {
		t.Errorf("no direct row:\n%s", md)
	}
	if !slices.ContainsFunc(res.Tools, func(s string) bool { return strings.HasPrefix(s, "goreplay: ") && strings.Contains(s, note) }) ||
		!strings.Contains(md, note) {
		t.Errorf("no note %q:\n%s", note, md)
	}
	if !strings.Contains(md, "| goreplay capturing legacy's port / direct (its cost on the serving path), requests/s | not measured | — |  |") {
		t.Errorf("the goreplay ratio is not 'not measured':\n%s", md)
	}
}

// GoReplay as a peer: legacy served directly while goreplay captures its
// port and replays to the healthy candidate, when goreplay is installed
// (and may capture: we run as root); the row left out with a note when it
// is not, or cannot capture.
func TestGoReplay(t *testing.T) {
	t.Run("not run", func(t *testing.T) {
		res, md := runGoReplay(t, "-")
		omitted(t, res, md, "goreplay: not installed")
	})

	t.Run("cannot capture", func(t *testing.T) {
		// What goreplay does without root or CAP_NET_RAW.
		fake := filepath.Join(t.TempDir(), "goreplay")
		script := "#!/bin/sh\necho 'pcap handles error:' >&2\necho 'PCAP Activate device error: \"Permission Denied\", interface: \"lo\"' >&2\nexit 1\n"
		if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		res, md := runGoReplay(t, fake)
		omitted(t, res, md, `no goreplay row: goreplay could not capture legacy's port (it needs root or CAP_NET_RAW): it exited: pcap handles error: PCAP Activate device error: "Permission Denied"`)
	})

	t.Run("default", func(t *testing.T) {
		installed := goreplayInstalled(t)
		res, md := runGoReplay(t, "")
		if installed == "" {
			omitted(t, res, md, "goreplay: not installed")
			return
		}
		if !slices.ContainsFunc(res.Tools, func(s string) bool { return strings.HasPrefix(s, "goreplay: "+installed+", version ") }) {
			t.Errorf("goreplay %s not in the tools: %q", installed, res.Tools)
		}
		row := res.Row(bench.GoReplay, bench.Healthy)
		if row == nil && os.Geteuid() != 0 {
			// goreplay may have CAP_NET_RAW (setcap); if not, it cannot
			// capture.
			omitted(t, res, md, "goreplay could not capture legacy's port")
			return
		}
		if row == nil {
			t.Fatalf("goreplay is installed at %s, but no goreplay row:\n%s", installed, md)
		}
		sent := row.Saturation.Requests + row.Latency.Requests
		if row.Saturation.RPS() <= 0 || row.Saturation.Errors+row.Latency.Errors != 0 || row.Latency.P50 <= 0 {
			t.Errorf("goreplay row: no requests/s or latency, or client errors: %+v", row)
		}
		// Every copy is one of the row's requests (the warm-up's have
		// landed before it); most reach the candidate at this load.
		if row.CandidateServed <= 0 || row.CandidateServed > sent {
			t.Errorf("the candidate received %d copies of %d requests", row.CandidateServed, sent)
		}
		if runtime.GOOS == "linux" && row.CPUPerRequest <= 0 {
			t.Errorf("no CPU per request for goreplay")
		}
		if !regexp.MustCompile(`\| ` + regexp.QuoteMeta(bench.GoReplay) + ` \| healthy \| \d+ \| [\d.]+ ms \| [\d.]+ ms \| [\d.]+ ms \| 0 \| \(\d+ received, \d+%\) \| — \| — \| — \| — \| [\d.]+ µs \|`).MatchString(md) {
			t.Errorf("no goreplay row in the table:\n%s", md)
		}
		if !regexp.MustCompile(`\| goreplay capturing legacy's port / direct \(its cost on the serving path\), requests/s \| \d+% \| — \|  \|`).MatchString(md) {
			t.Errorf("no goreplay / direct ratio:\n%s", md)
		}
	})
}
