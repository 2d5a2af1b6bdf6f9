package mirror

import (
	"errors"
	"syscall"
	"time"

	"github.com/tandemproxy/tandem"
)

// noDescriptors is the error of a mirror copy not sent because tandem
// itself ran out of file descriptors (or socket buffers) dialing the
// candidate or the secondary. It is not the candidate's fault, so it is
// not a candidate error: the copy is dropped and counted, as for a full
// queue, and the client path keeps the descriptors.
const noDescriptors = "tandem is out of file descriptors (copy dropped)"

// descriptorShortage reports whether an upstream error is the process or
// the system running out of descriptors or buffers: EMFILE, ENFILE,
// ENOBUFS (fasthttp keeps the dial error's chain).
func descriptorShortage(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS)
}

// droppedForDescriptors drops a copy that could not be sent for want of
// descriptors: counted as dropped, logged once per interval, never
// recorded. It is called once the job is the worker's to finish.
func (p *Proxy) droppedForDescriptors(ex *tandem.Exchange) bool {
	if ex.Candidate.Err != noDescriptors && (ex.Secondary == nil || ex.Secondary.Err != noDescriptors) {
		return false
	}
	p.tally.Add(tandem.Dropped)
	if n := p.edge.fdLog.allow(time.Now()); n >= 0 {
		p.log.Warn("mirror copy dropped: out of file descriptors dialing the candidate (lower --max-conns or --workers, or raise ulimit -n)",
			"suppressed_since_last", n)
	}
	return true
}
