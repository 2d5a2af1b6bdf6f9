package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// TestReplay_BrowserHAR replays Firefox's export without bodies (with a
// 304 and a wss:// handshake) against a real loopback candidate that
// answers as the site did: the run passes, the WebSocket is skipped and
// said (output, JUnit, summary), the two answers are said to be compared
// without their bodies.
func TestReplay_BrowserHAR(t *testing.T) {
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<!DOCTYPE html>"))
		case "/style.min.css":
			w.WriteHeader(http.StatusNotModified)
		default:
			t.Errorf("the candidate got %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer cand.Close()
	dir := t.TempDir()
	junit, summary := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "summary.md")
	code, out, stderr := runTandem(t, context.Background(), "replay", "--from", "../../replay/testdata/corpus/firefox-no-bodies.har",
		"--candidate", cand.URL, "--db", filepath.Join(dir, "r.db"), "--junit", junit, "--summary", summary)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{
		"1 record was not sent: WebSocket handshakes (replay sends HTTP exchanges only)\n",
		"2 exchanges were compared by status and headers only: a 304, or a body the source did not record\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(junit); !strings.Contains(string(b), `name="GET /ws"`) || !strings.Contains(string(b), `1 not sent: WebSocket (replay sends HTTP exchanges only)`) {
		t.Errorf("JUnit does not say the WebSocket was skipped:\n%s", b)
	}
	if b, _ := os.ReadFile(summary); !strings.Contains(string(b), "`GET /ws`") {
		t.Errorf("the summary does not list the WebSocket:\n%s", b)
	}
}

// TestReplay_ResultsNothingCompared runs a replay that compares nothing (a
// recording of one WebSocket handshake) twice into the same --db: the
// second run replaces the first's results instead of taking them for a
// proxy's recording. A proxy's recording that stored no exchange yet is
// still refused.
func TestReplay_ResultsNothingCompared(t *testing.T) {
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the candidate got %s %s", r.Method, r.URL)
	}))
	defer cand.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "results.db")
	for i := range 2 {
		code, out, stderr := runTandem(t, context.Background(), "replay", "--from", "../../replay/testdata/corpus/msw-response-status-101.har",
			"--candidate", cand.URL, "--db", db)
		// Nothing verified fails the gate (exit 1), but it is no usage error.
		if code != exitFail || !strings.Contains(out, "1 record was not sent: WebSocket") {
			t.Fatalf("run %d: exit %d\n%s\n%s", i+1, code, out, stderr)
		}
	}

	proxyDB := filepath.Join(dir, "proxy.db")
	p, err := store.Open(context.Background(), proxyDB, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := p.NewWriter(store.WriterConfig{Record: store.RecordMismatches, Source: "proxy"})
	w.Add(tandem.Count{Name: "requests", N: 3})
	w.Close()
	p.Close()
	code, _, stderr := runTandem(t, context.Background(), "replay", "--from", "../../replay/testdata/corpus/msw-response-status-101.har",
		"--candidate", cand.URL, "--db", proxyDB)
	if code != exitUsage || !strings.Contains(stderr, "holds what tandem proxy recorded") {
		t.Errorf("a proxy's recording as --db: exit %d, %s", code, stderr)
	}
}
