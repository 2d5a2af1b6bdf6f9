package main

import (
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
