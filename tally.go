package tandem

import "sync/atomic"

// Outcomes of a request that was never compared, besides Skipped, Dropped
// and LegacyError: the tally counts them alongside the verdicts, and the
// store keeps them under these names.
const (
	SampledOut Outcome = "sampled_out" // not mirrored: not in the sample
	Streamed   Outcome = "streamed"    // not compared: legacy's answer is a stream
)

// Counts a Tally keeps that are not the outcome of one request but steps
// every request (or every mirrored one) passes.
const (
	Requests    Outcome = "requests" // client requests
	Mirrored    Outcome = "mirrored" // queued for the candidate
	Comparisons Outcome = "compared" // mirrored requests compared
)

// tallied lists what a Tally counts, in the order Each reports it. A new
// outcome is added here, and nowhere else, to be counted.
var tallied = [...]Outcome{
	Requests, LegacyError, Skipped, SampledOut, Mirrored, Dropped, Streamed,
	Comparisons, Match, Mismatch, Noise, CandidateError, DiffError,
}

// tallyIndex is read only after init, so concurrent lookups are safe.
var tallyIndex = func() map[Outcome]int {
	m := make(map[Outcome]int, len(tallied))
	for i, o := range tallied {
		m[o] = i
	}
	return m
}()

// Tally counts outcomes. Its zero value is ready; it is safe for concurrent
// use and takes no lock (one atomic add per Add), so the client path can
// count on it.
type Tally struct {
	n [len(tallied)]atomic.Int64
}

// Add counts one o. An outcome the tally does not know is ignored: Tallied
// lists those it does.
func (t *Tally) Add(o Outcome) {
	if i, ok := tallyIndex[o]; ok {
		t.n[i].Add(1)
	}
}

// Undo takes back one Add of o that turned out not to happen: the proxy
// counts a copy mirrored before it queues it (so that no verdict on it is
// seen before it is counted), and takes the count back when the queue is
// full.
func (t *Tally) Undo(o Outcome) {
	if i, ok := tallyIndex[o]; ok {
		t.n[i].Add(-1)
	}
}

// Get returns how many o were counted.
func (t *Tally) Get(o Outcome) int64 {
	if i, ok := tallyIndex[o]; ok {
		return t.n[i].Load()
	}
	return 0
}

// Each calls f with every outcome the tally knows and its count, in a fixed
// order.
func (t *Tally) Each(f func(Outcome, int64)) {
	for i, o := range tallied {
		f(o, t.n[i].Load())
	}
}

// Tallied reports whether a Tally counts o.
func Tallied(o Outcome) bool {
	_, ok := tallyIndex[o]
	return ok
}
