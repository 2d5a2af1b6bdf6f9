package main

import (
	"fmt"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Descriptors kept out of --max-conns' default, beside the upstream
// connections: SQLite's database, WAL and shared-memory files and the
// store's helpers; the admin listener's connections (a scrape, a pprof
// download, a health check: http.Server has no limit of its own, so the
// admin listener has one, admin.DefaultMaxConns); and a margin for the
// binary, the listeners, log files, DNS lookups and the rules file.
const (
	fdReserveDB     = 32
	fdReserveAdmin  = 64
	fdReserveMargin = 64
	// minMaxConns is the floor of the derived default: below it the
	// descriptor limit is too low to serve at all, and the user is told.
	minMaxConns = 16
)

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit (a flood of
// connections should meet --max-conns, not EMFILE) and returns the limit
// now in force.
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return lim.Cur, fmt.Errorf("raise the open file limit from %d to %d: %w", lim.Cur, lim.Max, err)
		}
		lim = want
	}
	return lim.Cur, nil
}

// defaultMaxConns derives the client connection limit from the descriptor
// limit. Every client connection may hold one legacy connection while it
// is served (legacy's pool opens up to fasthttp's DefaultMaxConnsPerHost);
// the mirror holds up to one connection per worker per mirror upstream
// (candidate, secondary); the rest is reserved above. ok is false when the
// limit leaves less than minMaxConns, which is then returned.
func defaultMaxConns(nofile uint64, workers, mirrorUpstreams int) (n int, ok bool) {
	avail := int64(nofile) - int64(workers*mirrorUpstreams) - fdReserveDB - fdReserveAdmin - fdReserveMargin
	legacyPool := int64(fasthttp.DefaultMaxConnsPerHost)
	var conns int64
	if avail >= 2*legacyPool {
		conns = avail - legacyPool
	} else {
		conns = avail / 2 // one client, one legacy connection
	}
	if conns < minMaxConns {
		return minMaxConns, false
	}
	return int(min(conns, int64(1<<31-1))), true
}
