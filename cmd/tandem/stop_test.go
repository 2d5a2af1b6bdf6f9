package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

func countExchanges(t *testing.T, s *store.DB) int {
	t.Helper()
	n := 0
	if err := s.Exchanges(context.Background(), store.Filter{}, func(*tandem.Exchange) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// SIGTERM under load: the requests in flight finish, the mirror queue
// drains, the writer flushes; every request that got legacy's answer is
// counted and stored, and nothing else is.
func TestStop_SIGTERMUnderLoad(t *testing.T) {
	legacy := legacyServer(t)
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // a little slower than legacy: the queue is never empty
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, legacyBody)
	})
	db := filepath.Join(t.TempDir(), "term.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--record", "all", "--drain-timeout", "20s")
	stop := make(chan struct{})
	result := make(chan [2]int, 1)
	var answered atomic.Int64
	go func() {
		ok, failed := load(t, "http://"+p.addr, 8, legacyBody, stop, &answered)
		result <- [2]int{ok, failed}
	}()
	waitAnswered(t, &answered, 200) // under load, with copies queued
	code := p.stop(t, syscall.SIGTERM)
	close(stop)
	r := <-result
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
	s, err := store.Open(context.Background(), db, store.Options{MustExist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, _ := s.Report(context.Background())
	stored := countExchanges(t, s)
	if int(rep.Totals.Requests) != r[0] || stored != r[0] || int(rep.Totals.Compared) != r[0] {
		t.Errorf("clients got %d answers (%d failed at the stop); tandem counted %d requests, compared %d, stored %d: all must match",
			r[0], r[1], rep.Totals.Requests, rep.Totals.Compared, stored)
	}
}

// A request legacy is still answering when SIGTERM comes finishes: the
// client gets legacy's answer, then tandem exits 0 with it counted and
// compared.
func TestStop_SIGTERMFinishesInFlight(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, legacyBody)
	})
	candidate := legacyServer(t)
	db := filepath.Join(t.TempDir(), "inflight.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(p.url("/items/1"))
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	p.cmd.Process.Signal(syscall.SIGTERM)
	// Release legacy once tandem is stopping: its log says so.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.log(), "stopping"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tandem did not start stopping:\n%s", p.log())
		}
	}
	close(release)
	if b := <-got; b != legacyBody {
		t.Errorf("the request in flight at SIGTERM got %q, want legacy's answer", b)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("tandem did not exit:\n%s", p.log())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.log())
	}
	if r := readReport(t, db); r.Totals.Requests != 1 || r.Totals.Matched != 1 {
		t.Errorf("totals %+v: want the request counted and compared", r.Totals)
	}
}

// kill -9 under load: the database opens cleanly afterwards, everything
// committed before the crash is there, and what is lost is at most what was
// not yet committed (the queues and the batch being assembled; see README,
// "Safety and guarantees").
func TestStop_KillUnderLoad(t *testing.T) {
	legacy := legacyServer(t)
	candidate := legacyServer(t)
	db := filepath.Join(t.TempDir(), "kill.db")
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--record", "all", "--admin", "127.0.0.1:0")
	base := "http://" + p.addr
	// First load, then wait until the writer says it has committed all of
	// it: those exchanges must survive the crash.
	stop := make(chan struct{})
	result := make(chan int, 1)
	var answered atomic.Int64
	go func() {
		ok, _ := load(t, base, 8, legacyBody, stop, &answered)
		result <- ok
	}()
	waitAnswered(t, &answered, 200)
	close(stop)
	committed := <-result
	waitMetric(t, p, fmt.Sprintf("tandem_store_stored_total %d\n", committed))
	// Then load again, and kill mid-way.
	stop = make(chan struct{})
	answered.Store(0)
	go func() {
		ok, _ := load(t, base, 8, legacyBody, stop, &answered)
		result <- ok
	}()
	waitAnswered(t, &answered, 200) // mid-way: some committed, some not
	p.stop(t, syscall.SIGKILL)
	close(stop)
	total := committed + <-result
	s, err := store.Open(context.Background(), db, store.Options{MustExist: true})
	if err != nil {
		t.Fatalf("the database does not open after kill -9: %v", err)
	}
	defer s.Close()
	if ic, err := s.IntegrityCheck(context.Background()); err != nil || ic != "ok" {
		t.Fatalf("integrity_check: %q, %v", ic, err)
	}
	stored := countExchanges(t, s)
	if stored < committed || stored > total {
		t.Errorf("stored %d: want at least the %d committed before the crash, at most the %d answered", stored, committed, total)
	}
	t.Logf("answered %d (%d committed before the second load), stored %d, lost %d", total, committed, stored, total-stored)
}
