package mirror

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemproxy/tandem/upstream"
)

// logInterval is how often a repeated warning is let through.
const logInterval = 10 * time.Second

// throttle lets a repeated warning through at most once per interval and
// counts what it held back, so that a bad body shape repeated on every
// request does not become a log line per request.
type throttle struct {
	mu       sync.Mutex
	interval time.Duration
	last     time.Time
	held     int
}

// allow returns how many warnings were held back since the last one let
// through, or -1 when this one is held back.
func (t *throttle) allow(now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.last.IsZero() && now.Sub(t.last) < t.interval {
		t.held++
		return -1
	}
	n := t.held
	t.last, t.held = now, 0
	return n
}

// logUpstreamError logs a failed request to an upstream, once per
// interval for each throttle: the description stored with the exchange,
// and the error under it.
func (p *Proxy) logUpstreamError(t *throttle, name string, err error) {
	n := t.allow(time.Now())
	if n < 0 {
		return
	}
	msg := name + " request failed"
	if name == "legacy" {
		msg = "legacy request failed; the client got 502 or 504"
	}
	p.log.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("upstream", name), slog.String("err", upstream.Describe(err)),
		slog.String("cause", err.Error()), slog.Int("suppressed_since_last", n))
}
