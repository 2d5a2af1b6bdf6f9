package tandem

import "sync/atomic"

// Outcomes of a request that was never compared, besides Skipped, Dropped
// and LegacyError: the tally counts them alongside the verdicts, and the
// store keeps them under these names.
const (
	SampledOut Outcome = "sampled_out" // not mirrored: not in the sample
	Streamed   Outcome = "streamed"    // not compared: legacy's answer is a stream
	Upgraded   Outcome = "upgraded"    // an upgraded connection (WebSocket) tunnelled to legacy
	Unrecorded Outcome = "unrecorded"  // replay, golden mode: not sent, no recorded answer
	WebSocket  Outcome = "websocket"   // replay: not sent, a WebSocket
)

// Counts a Tally keeps that are not the outcome of one request but steps
// every request (or every mirrored one) passes, or what happened besides
// its outcome.
const (
	Requests          Outcome = "requests"           // client requests (replay: records)
	Mirrored          Outcome = "mirrored"           // queued for the candidate
	Comparisons       Outcome = "compared"           // mirrored requests compared
	SecondaryCompared Outcome = "secondary_compared" // compared with a secondary too
	SecondaryError    Outcome = "secondary_error"    // compared; the secondary did not answer
	LegacyBodyError   Outcome = "legacy_body_error"  // client's answer cut: legacy failed after its header
	ClientAbort       Outcome = "client_abort"       // the client left in the middle of a stream
)

// How the client's requests of an endpoint in cutover were answered: the
// proxy counts them apart from the outcomes of their comparisons.
const (
	ServedLegacy    Outcome = "served_by_legacy"    // answered by legacy (fallbacks included)
	ServedCandidate Outcome = "served_by_candidate" // answered by the candidate (writes included)
	Fallback        Outcome = "fallback"            // given to the candidate, answered by legacy
	CandidateWrite  Outcome = "candidate_write"     // a write the candidate alone answered
)

// tallied lists what a Tally counts, in the order Each reports it. A new
// outcome is added here, and nowhere else, to be counted. kept marks the
// outcomes the store keeps as counters of their own: those of requests
// never compared (a compared one reaches the store as an exchange, and the
// store derives its counts from it).
var tallied = [...]struct {
	o    Outcome
	kept bool
}{
	{Requests, true}, {LegacyError, true}, {Skipped, true}, {SampledOut, true},
	{Mirrored, false}, {Dropped, true}, {Streamed, true}, {Upgraded, true},
	{Unrecorded, true}, {WebSocket, true},
	{Comparisons, false}, {Match, false}, {Mismatch, false}, {Noise, false},
	{CandidateError, false}, {DiffError, false},
	{SecondaryCompared, false}, {SecondaryError, false},
	{LegacyBodyError, false}, {ClientAbort, false},
	{ServedLegacy, false}, {ServedCandidate, false}, {Fallback, false}, {CandidateWrite, false},
}

// tallyIndex is read only after init, so concurrent lookups are safe.
var tallyIndex = func() map[Outcome]int {
	m := make(map[Outcome]int, len(tallied))
	for i, t := range tallied {
		m[t.o] = i
	}
	return m
}()

// Tallied reports whether a Tally counts o.
func Tallied(o Outcome) bool {
	_, ok := tallyIndex[o]
	return ok
}

// Kept reports whether the store keeps o as a counter of its own (tallied).
func Kept(o Outcome) bool {
	i, ok := tallyIndex[o]
	return ok && tallied[i].kept
}

// Tally counts outcomes. Its zero value is ready; it is safe for concurrent
// use and takes no lock (one atomic add per Add), so the client path can
// count on it. Counts reads it.
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

// Counts reads every count. Each is read atomically, not all of them at
// one instant: a request counted while Counts runs may be in one count and
// not yet in the next.
func (t *Tally) Counts() Counts {
	var c Counts
	for i := range t.n {
		c.n[i] = t.n[i].Load()
	}
	return c
}

// Counts are outcomes counted: what a Tally read, or counters summed from a
// store. Unlike a Tally it is a plain value, to copy and return; its zero
// value is empty.
type Counts struct {
	n [len(tallied)]int64
}

// Add adds n to o's count, and reports whether o is an outcome a Tally
// knows (one it does not is not counted).
func (c *Counts) Add(o Outcome, n int64) bool {
	i, ok := tallyIndex[o]
	if ok {
		c.n[i] += n
	}
	return ok
}

// Get returns o's count.
func (c Counts) Get(o Outcome) int64 {
	if i, ok := tallyIndex[o]; ok {
		return c.n[i]
	}
	return 0
}

// Compared is the number of verdicts counted (Outcome.Compared).
func (c Counts) Compared() int64 {
	var n int64
	c.Each(func(o Outcome, v int64) {
		if o.Compared() {
			n += v
		}
	})
	return n
}

// KeptSince returns, as counter deltas, what the store keeps as counters
// (Kept) that c counts beyond prev: the proxy hands the store what it
// counted since its last flush, replay what its run counted (prev empty).
func (c Counts) KeptSince(prev Counts) []Count {
	var out []Count
	for i, t := range tallied {
		if d := c.n[i] - prev.n[i]; t.kept && d != 0 {
			out = append(out, Count{Name: string(t.o), N: d})
		}
	}
	return out
}

// Each calls f with every outcome a Tally knows and its count, in a fixed
// order.
func (c Counts) Each(f func(Outcome, int64)) {
	for i, t := range tallied {
		f(t.o, c.n[i])
	}
}
