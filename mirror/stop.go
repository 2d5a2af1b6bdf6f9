package mirror

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemproxy/tandem"
)

// The stop, and what it does to the mirror copies in flight.
//
// A copy (job) is in one of three states, and exactly one transition takes
// it out of jobRunning; whoever makes that transition counts the job:
//
//	jobRunning ──claim (its worker, about to judge and record)──▶ jobFinishing
//	jobRunning ──abandon (a stop out of time, counted dropped)──▶ jobAbandoned
//
// Shutdown runs these steps, once:
//
//  1. The server stops accepting and lets in-flight client requests finish;
//     tunnels close; the queue closes, and the workers drain it.
//  2. If the workers finish before ctx is done, that is all.
//  3. Out of time, the stop sets drain.abandon (no worker starts another
//     job), counts what is still queued as dropped, and abandons the jobs
//     the workers hold (their answers would come after the Recorder is
//     closed). A worker that already claimed its job is recording it: the
//     stop waits for those (briefly: recording needs no network) so that
//     they reach the Recorder before its owner closes it.
//  4. The flusher stops and the last counts are flushed.
//
// A worker publishes the job it holds in its slot before it reads the
// abandon flag, and the stop sets the flag before it reads the slots: so a
// stop sees every held job, or its worker sees the flag.
type drain struct {
	slots   []atomic.Pointer[job] // the job each worker holds, or nil
	abandon atomic.Bool
	// recording is read-held by each worker from its claim to the end of
	// its Record; the stop takes it to wait for them.
	recording sync.RWMutex
}

// Job states (job.state).
const (
	jobRunning int32 = iota
	jobFinishing
	jobAbandoned
)

// recordWait bounds how long a stop out of time waits for workers that are
// recording: past it, a Record still running may find the Recorder closed
// (the store counts it as lost).
const recordWait = 2 * time.Second

// take makes j the job slot's worker holds and reports whether to process
// it: not when a stop is abandoning, in which case j is counted dropped.
func (p *Proxy) take(slot *atomic.Pointer[job], j *job) bool {
	slot.Store(j) // before the flag is read: see drain
	if !p.drain.abandon.Load() {
		return true
	}
	if j.state.CompareAndSwap(jobRunning, jobAbandoned) {
		p.tally.Add(tandem.Dropped)
	}
	return false
}

// claim moves j to jobFinishing before its verdict is counted and
// recorded. It fails when a stop abandoned j (and counted it dropped).
// After a successful claim the caller must call finished once it has
// recorded.
func (p *Proxy) claim(j *job) bool {
	p.drain.recording.RLock()
	if j.state.CompareAndSwap(jobRunning, jobFinishing) {
		return true
	}
	p.drain.recording.RUnlock()
	return false
}

// finished ends what claim began.
func (p *Proxy) finished() { p.drain.recording.RUnlock() }

// Shutdown stops cleanly: it stops accepting, lets in-flight client
// requests finish, then drains the mirror queue until ctx is done (copies
// still queued then are counted as dropped) and flushes the counts. The
// Recorder is not closed: its owner does that next. Calling it again
// returns what the first call did.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.shutdown.Do(func() { p.shutdownErr = p.stop(ctx) })
	return p.shutdownErr
}

func (p *Proxy) stop(ctx context.Context) error {
	var err error
	if p.server != nil {
		err = p.server.ShutdownWithContext(ctx)
	}
	p.tun.closeAll()
	p.closeQueue.Do(func() { close(p.queue) })
	done := make(chan struct{})
	go func() { p.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.abandonInFlight()
		if err == nil {
			err = fmt.Errorf("mirror queue not drained in time: %w", ctx.Err())
		}
	}
	close(p.stopFlusher)
	<-p.flusherDone
	p.flushCounts()
	return err
}

// abandonInFlight is step 3 of a stop (see drain).
func (p *Proxy) abandonInFlight() {
	p.drain.abandon.Store(true)
	for j := range p.queue { // closed: this ends once it is empty
		p.tally.Add(tandem.Dropped)
		p.inFlight.Add(-1)
		p.release(j)
	}
	for i := range p.drain.slots {
		if j := p.drain.slots[i].Load(); j != nil && j.state.CompareAndSwap(jobRunning, jobAbandoned) {
			p.tally.Add(tandem.Dropped)
		}
	}
	recorded := make(chan struct{})
	go func() {
		// Blocks until every claimed job is recorded; claims after it fail,
		// since every held job is abandoned by now.
		p.drain.recording.Lock()
		p.drain.recording.Unlock()
		close(recorded)
	}()
	select {
	case <-recorded:
	case <-time.After(recordWait):
		p.log.Warn("stop: a worker is still recording after the wait; its exchange may be counted as lost", "waited", recordWait)
	}
}
