package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// streamTestBytes is the download streamed through the real binary: large
// against the bound below, small enough for CI.
const streamTestBytes = 256 << 20

// streamRSSBound is generous (the goal is 64 MiB above an idle tandem of
// about 20 MiB); a proxy that holds the body would need more than the body.
const streamRSSBound = 128 << 20

// generated writes n reproducible random bytes to w and returns their
// SHA-256, without holding them.
func generated(w io.Writer, n int64) (string, error) {
	rng := rand.NewChaCha8([32]byte{7})
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for n > 0 {
		b := buf[:min(int64(len(buf)), n)]
		rng.Read(b)
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return "", err
		}
		n -= int64(len(b))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestProcess_StreamsInBoundedMemory streams large downloads, with and
// without Content-Length, through the real binary: they arrive intact, and
// the process's peak RSS stays far below their size. An event stream on the
// way is counted streamed, in tandem report's totals.
func TestProcess_StreamsInBoundedMemory(t *testing.T) {
	sums := make(chan string, 2)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: hello\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Query().Get("length") == "1" {
			w.Header().Set("Content-Length", strconv.Itoa(streamTestBytes))
		}
		sum, err := generated(w, streamTestBytes)
		if err == nil && r.Header.Get("X-Mirror") == "" {
			select {
			case sums <- sum:
			default:
			}
		}
	}))
	defer legacy.Close()
	db := filepath.Join(t.TempDir(), "t.db")
	// The candidate is legacy: the mirror reads the whole download again,
	// keeping --max-body of it and hashing the rest. A download without a
	// length is compared however long a loaded machine takes to stream it
	// (--stream-compare-after); the event stream is a stream by its type.
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", legacy.URL, "--db", db, "--timeout", "2m",
		"--stream-compare-after", "10m")
	idle := vmHWM(t, p.cmd.Process.Pid)
	for _, withLength := range []string{"1", "0"} {
		resp, err := http.Get(p.url("/download?length=" + withLength))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		if err != nil || n != streamTestBytes {
			t.Fatalf("length=%s: got %d bytes, %v", withLength, n, err)
		}
		if got, want := hex.EncodeToString(h.Sum(nil)), <-sums; got != want {
			t.Fatalf("length=%s: the body arrived changed: sha256 %s, legacy sent %s", withLength, got, want)
		}
	}
	resp, err := http.Get(p.url("/events"))
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != "data: hello\n" {
		t.Fatalf("event %q, %v", line, err)
	}
	resp.Body.Close()
	peak := vmHWM(t, p.cmd.Process.Pid)
	t.Logf("peak RSS %d MiB (idle %d MiB) for two %d MiB downloads", peak>>20, idle>>20, streamTestBytes>>20)
	if peak > streamRSSBound {
		t.Errorf("peak RSS %d MiB streaming %d MiB downloads, want under %d MiB", peak>>20, streamTestBytes>>20, streamRSSBound>>20)
	}
	// The mirror compares the downloads after the client has them; stop
	// lets it finish (the drain) and flushes the counts.
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
	code, out, stderr := runTandem(t, ctxT(t), "report", "--db", db, "--format", "json")
	if code != 0 {
		t.Fatalf("report: %d %s", code, stderr)
	}
	var rep struct {
		Totals struct{ Requests, Compared, Matched, Streamed int64 }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Requests != 3 || rep.Totals.Streamed != 1 || rep.Totals.Matched != 2 {
		t.Errorf("totals %+v: want 3 requests, the 2 downloads matched, the event stream streamed", rep.Totals)
	}
	_, text, _ := runTandem(t, ctxT(t), "report", "--db", db)
	if !strings.Contains(text, "streamed 1") {
		t.Errorf("the text report does not show the streamed count:\n%s", text)
	}
}
