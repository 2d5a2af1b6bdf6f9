package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tandemproxy/tandem/upstream/upstreamtest"
)

// tandem compare with https:// upstreams (issue: "test proxy, replay and
// compare against a real TLS server"): legacy and the candidate behind
// certificates of a CA made here; with the CA given, every shadow copy is
// compared; without the candidate's, each copy is the candidate's error,
// logged naming the candidate and why. And compare listening with TLS
// itself (--tls-cert), as a mesh that mirrors over TLS would reach it.
func TestCompare_TLSUpstreams(t *testing.T) {
	dir := t.TempDir()
	ca := upstreamtest.NewCA(t, "tandem-test")
	caFile := ca.File(t, dir)
	answer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"over":"tls"}`) })
	legacy := upstreamtest.Server(t, ca, nil, answer)
	cand := upstreamtest.Server(t, ca, nil, answer)
	listenCert, listenKey := ca.Issue(t, "127.0.0.1", "127.0.0.1").Files(t, dir)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}

	run := func(t *testing.T, db string, args ...string) (*proc, string) {
		t.Helper()
		tc := startCompare(t, append([]string{"--legacy", legacy.URL, "--legacy-ca", caFile, "--candidate", cand.URL,
			"--db", db, "--record", "all", "--tls-cert", listenCert, "--tls-key", listenKey}, args...)...)
		for range 3 {
			resp, err := client.Get("https://" + tc.addr + "/items/1")
			if err != nil {
				t.Fatalf("shadow copy over TLS: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("shadow copy answered %d", resp.StatusCode)
			}
		}
		if code := tc.stop(t, syscall.SIGTERM); code != 0 {
			t.Fatalf("exit %d:\n%s", code, tc.log())
		}
		return tc, tc.log()
	}

	t.Run("OK", func(t *testing.T) {
		db := filepath.Join(dir, "ok.db")
		run(t, db, "--candidate-ca", caFile)
		s := mustOpen(t, db)
		defer s.Close()
		rep, err := s.Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Totals.Compared != 3 || rep.Totals.Matched != 3 || rep.Totals.CandidateErrors != 0 || rep.Totals.LegacyErrors != 0 {
			t.Errorf("totals %+v: want the 3 copies compared over TLS, all matching", rep.Totals)
		}
	})
	t.Run("ErrWrongCA", func(t *testing.T) {
		db := filepath.Join(dir, "wrong.db")
		_, log := run(t, db) // the candidate's CA is not given: the system's roots do not know it
		s := mustOpen(t, db)
		defer s.Close()
		rep, err := s.Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Totals.CandidateErrors != 3 || rep.Totals.Matched != 0 {
			t.Errorf("totals %+v: want 3 candidate errors", rep.Totals)
		}
		if !strings.Contains(log, "candidate") || !strings.Contains(log, "--candidate-ca") {
			t.Errorf("the log does not name the candidate and the flag that fixes it:\n%s", log)
		}
	})
}

// tandem compare behind the same guarded listener as the proxy: started
// with few descriptors and flooded past them, it stays up, refuses and
// counts the excess, and compares a shadow copy once the flood is gone.
func TestCompare_FloodLowFileLimit(t *testing.T) {
	legacy, candidate := legacyServer(t), legacyServer(t)
	db := filepath.Join(t.TempDir(), "flood.db")
	tc := startLimited(t, 256, "compare", compareListenRE, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db,
		"--workers", "4", "--admin", "127.0.0.1:0")
	m := listenLimitRE.FindStringSubmatch(tc.log())
	if m == nil || m[1] != "256" {
		t.Fatalf("no limits line with open_file_limit=256:\n%s", tc.log())
	}
	maxConns, _ := strconv.Atoi(m[2])
	const n = 400
	connected, reset, release := flood(t, tc.addr, n)
	if connected+reset != n {
		t.Fatalf("of %d flood connections %d connected and %d were reset: the rest failed otherwise", n, connected, reset)
	}
	waitMetricAtLeast(t, tc, "tandem_refused_conns_total", int64(n-maxConns))
	alive(t, tc)
	release()
	waitMetricBelow(t, tc, "tandem_client_conns", int64(maxConns))
	resp, err := http.Get(tc.url("/after"))
	if err != nil {
		t.Fatalf("a shadow copy after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a shadow copy after the flood: %d, want the mirror's empty 200", resp.StatusCode)
	}
	waitMetricAtLeast(t, tc, "tandem_compared_total", 1)
	alive(t, tc)
}
