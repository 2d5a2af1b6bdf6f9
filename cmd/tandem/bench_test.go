package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// tandem bench, briefly, with the real binary behind it: every row is
// measured and tandem's counters say what happened to the copies. Speed
// is not asserted (machines are shared); BENCHMARKS.md holds a full run.
func TestBench(t *testing.T) {
	bin := tandemBinary(t)
	out := filepath.Join(t.TempDir(), "bench.md")
	var stdout, stderr bytes.Buffer
	c := &benchCmd{env: env{stdout: &stdout, stderr: &stderr}, tandem: []string{bin}}
	err := c.Run(context.Background(), []string{"--duration", "400ms", "--stall", "2s", "--rate", "100",
		"--connections", "4", "--body", "2KiB", "--mismatch-every", "10", "--out", out, "--rounds", "2",
		"--wrk", "-", "--download", "8MiB", "--stream-samples", "3"}) // wrk has a 1s minimum; bench's own tests run it
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	md := stdout.String()
	if written, _ := os.ReadFile(out); string(written) != md {
		t.Errorf("--out holds something else than was printed")
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(md, "\n") {
		cells := strings.Split(line, " | ")
		if len(cells) == 13 {
			rows[strings.TrimPrefix(cells[0], "| ")+" / "+cells[1]] = cells
		}
	}
	num := func(row, col string, i int) int64 {
		t.Helper()
		cells, ok := rows[row]
		if !ok {
			t.Fatalf("no row %q in:\n%s", row, md)
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(cells[i], " MiB"), 10, 64)
		if err != nil {
			t.Fatalf("row %q, %s: %q is not a number", row, col, cells[i])
		}
		return n
	}
	const rps, errs, mirrored, compared, dropped, cerrs = 2, 6, 7, 8, 9, 10
	for _, row := range []string{"direct to legacy / —", "tandem (mirror + compare) / healthy", "tandem --sample 0 / healthy",
		"tandem (mirror + compare) / reorders keys", "tandem (mirror + compare) / slow", "tandem (mirror + compare) / down"} {
		if num(row, "requests/s", rps) <= 0 || num(row, "client errors", errs) != 0 {
			t.Errorf("%s: no requests/s, or client errors:\n%s", row, md)
		}
	}
	for _, row := range []string{"tandem (mirror + compare) / healthy", "tandem (mirror + compare) / reorders keys"} {
		if m := num(row, "mirrored", mirrored); m == 0 || num(row, "compared", compared) != m || num(row, "candidate errors", cerrs) != 0 {
			t.Errorf("%s: every copy mirrored must be compared, without candidate errors:\n%s", row, md)
		}
	}
	if num("tandem --sample 0 / healthy", "mirrored", mirrored) != 0 {
		t.Errorf("--sample 0 mirrored copies")
	}
	if m := num("tandem (mirror + compare) / down", "mirrored", mirrored); m == 0 || num("tandem (mirror + compare) / down", "candidate errors", cerrs) != m {
		t.Errorf("with the candidate down, every copy must be a candidate error:\n%s", md)
	}
	if num("tandem, 2s at saturation / hung", "dropped", dropped) == 0 {
		t.Errorf("a hung candidate at saturation dropped nothing: the queue is not bounded?\n%s", md)
	}
	if !regexp.MustCompile(`hung candidate: every request counted .* \| all \| met \|`).MatchString(md) {
		t.Errorf("requests not all accounted for with a hung candidate:\n%s", md)
	}
	if !regexp.MustCompile(`hung candidate: tandem's peak RSS \| \d+ MiB over 2s \| < 256 MiB \| (met|\*\*missed\*\*) \|`).MatchString(md) {
		t.Errorf("no peak RSS:\n%s", md)
	}
	for _, st := range []string{"slow", "down"} {
		if !regexp.MustCompile(`\| tandem p99, ` + st + ` / healthy candidate \(medians of 2 interleaved rounds: [\d.]+ ms / [\d.]+ ms\) \| [\d.]+× \| ≤ 1.1× \| (met|\*\*missed\*\*) \|`).MatchString(md) {
			t.Errorf("no interleaved p99 goal for the %s candidate:\n%s", st, md)
		}
		if !regexp.MustCompile(`- ` + st + `: [\d.]+ ms, [\d.]+ ms \(median [\d.]+ ms\)`).MatchString(md) {
			t.Errorf("no interleaved p99s for the %s candidate:\n%s", st, md)
		}
	}
	for _, target := range []string{"direct to legacy", "tandem (mirror + compare)"} {
		if !regexp.MustCompile(`\| ` + regexp.QuoteMeta(target) + ` \| [\d.]+ ms \([\d.]+ ms\) \| [\d.]+ ms \([\d.]+ ms\) \| [\d.]+ ms \([\d.]+ ms\) \| 0 \|`).MatchString(md) {
			t.Errorf("no streaming row without errors for %s:\n%s", target, md)
		}
	}
	if !regexp.MustCompile(`\| a 8 MiB download streamed through tandem, intact: peak RSS above idle \| -?\d+ MiB \| < 64 MiB \| met \|`).MatchString(md) {
		t.Errorf("the download through tandem was not intact, or held in memory:\n%s", md)
	}
	if _, err := exec.LookPath("nginx"); err == nil {
		for _, row := range []string{"nginx proxy_pass / —", "nginx mirror / healthy", "nginx mirror / slow", "nginx mirror / down"} {
			if num(row, "requests/s", rps) <= 0 {
				t.Errorf("%s: no requests/s:\n%s", row, md)
			}
		}
		if !strings.Contains(md, "| tandem / nginx mirror, requests/s | ") {
			t.Errorf("no tandem / nginx ratio:\n%s", md)
		}
	}
}

func TestBench_Usage(t *testing.T) {
	for _, args := range [][]string{{"--only", "tandem,bogus"}, {"--rate", "0"}, {"--body", "x"}} {
		code, _, stderr := runTandem(t, context.Background(), append([]string{"bench"}, args...)...)
		if code != exitUsage || stderr == "" {
			t.Errorf("bench %v: exit %d (%q), want 2 with a message", args, code, stderr)
		}
	}
}
