package mirror

import (
	"sync/atomic"
	"time"
)

// Breaker settings: after breakerTrips refused connections in a row, an
// upstream is not dialled for breakerOpen; its copies fail at once.
const (
	breakerTrips = 3
	breakerOpen  = time.Second
)

// refusedOpen is the error of a copy not sent because the breaker is open.
const refusedOpen = "connection refused (the candidate refuses connections; tried again every second)"

// breaker stops tandem from dialling, for every copy, an upstream that is
// down: each attempt costs a socket and a connect, and a dead candidate
// must cost production as little as a live one. Only refused connections
// trip it: a timeout already costs no more than waiting.
type breaker struct {
	refused   atomic.Int32
	openUntil atomic.Int64 // unix nanoseconds
}

func (b *breaker) open(now time.Time) bool { return now.UnixNano() < b.openUntil.Load() }

func (b *breaker) record(refused bool, now time.Time) {
	if !refused {
		if b.refused.Load() != 0 {
			b.refused.Store(0)
		}
		return
	}
	if b.refused.Add(1) >= breakerTrips {
		b.refused.Store(0)
		b.openUntil.Store(now.Add(breakerOpen).UnixNano())
	}
}
