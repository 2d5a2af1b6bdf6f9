package mirror_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/mirror"
)

// A stop whose drain runs out of time: the copies still queued are counted
// as dropped (not lost without a trace), Shutdown says it ran out of time,
// and every client had its answer.
func TestProxy_ShutdownDrainTimeout(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer cand.Close()
	defer close(release)
	rec := newRecorder()
	p, err := mirror.New(mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1,
		Workers: 1, QueueSize: 10, CandidateTimeout: 30 * time.Second, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go p.Serve(ln)
	for range 5 {
		if _, body := get(t, "GET", "http://"+ln.Addr().String()+"/x", "", nil); body != "ok" {
			t.Fatalf("client got %q", body)
		}
	}
	// One copy is with the worker (held by the candidate), four wait.
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = p.Shutdown(ctx)
	if err == nil || !strings.Contains(err.Error(), "not drained in time") {
		t.Errorf("Shutdown: %v, want the drain to run out of time", err)
	}
	// The copy the worker holds would only be judged after the Recorder
	// is closed: it is dropped too, so that every request is accounted for
	// in what the Recorder was given.
	s := p.Stats()
	if s.Mirrored != 5 || s.Dropped != 5 || s.Compared != 0 {
		t.Errorf("mirrored %d, dropped %d, compared %d: want all 5 copies dropped", s.Mirrored, s.Dropped, s.Compared)
	}
	rec.mu.Lock()
	if rec.counts["dropped"] != 5 || rec.counts["requests"] != 5 {
		t.Errorf("counts given to the recorder %v: want 5 requests, 5 dropped", rec.counts)
	}
	rec.mu.Unlock()
	// When the candidate answers at last, the abandoned copy is neither
	// recorded nor counted again.
	release <- struct{}{}
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().QueueDepth != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := p.Stats(); s.QueueDepth != 0 || s.Dropped != 5 || s.Compared != 0 {
		t.Errorf("after the candidate answered: %+v", s)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ex) != 0 {
		t.Errorf("%d exchanges recorded after the stop", len(rec.ex))
	}
}

// blockingRecorder holds each Record until released, and says when one
// has returned.
type blockingRecorder struct {
	*recorder
	entered, release chan struct{}
	returned         atomic.Bool
}

func (r *blockingRecorder) Record(ex *tandem.Exchange, redact []string) {
	r.entered <- struct{}{}
	<-r.release
	r.recorder.Record(ex, redact)
	r.returned.Store(true)
}

// A stop out of time waits for a worker that is already recording its
// verdict (the Recorder is closed by the stop's caller right after), and
// counts that exchange compared, not dropped.
func TestProxy_ShutdownWaitsForARecording(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	rec := &blockingRecorder{recorder: newRecorder(), entered: make(chan struct{}, 1), release: make(chan struct{})}
	p, err := mirror.New(mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, legacy.URL), Sample: 1,
		Workers: 1, QueueSize: 10, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go p.Serve(ln)
	if _, body := get(t, "GET", "http://"+ln.Addr().String()+"/x", "", nil); body != "ok" {
		t.Fatalf("client got %q", body)
	}
	<-rec.entered // the worker claimed its job and is recording
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var returnedFirst atomic.Bool
	stopped := make(chan error, 1)
	go func() {
		err := p.Shutdown(ctx)
		returnedFirst.Store(rec.returned.Load())
		stopped <- err
	}()
	<-ctx.Done() // the stop is out of time now, and must wait for the Record
	select {
	case err = <-stopped: // too early: the Record is still held
	case <-time.After(300 * time.Millisecond): // still waiting, as it should
		close(rec.release)
		err = <-stopped
	}
	if err == nil {
		t.Error("Shutdown: nil error, want it to say it ran out of time")
	}
	if !returnedFirst.Load() {
		close(rec.release)
		t.Error("Shutdown returned before the worker's Record did: the exchange would reach a closed Recorder")
	}
	if s := p.Stats(); s.Compared != 1 || s.Dropped != 0 {
		t.Errorf("compared %d, dropped %d: want the recorded exchange compared, none dropped", s.Compared, s.Dropped)
	}
}
