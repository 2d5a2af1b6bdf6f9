// Package netlimit owns the accept side of tandem's listeners: a listener
// whose Accept survives accept errors (EMFILE, ENFILE, ENOBUFS,
// ECONNABORTED…) instead of ending the server, and which closes at once
// the connections beyond a limit, so that a connection flood meets a
// refusal, never a process out of file descriptors.
package netlimit

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults.
const (
	// LogInterval is how often a repeated warning is logged.
	LogInterval = 10 * time.Second
	// Accept error backoff: doubled on each error in a row, as net/http
	// does, so that a descriptor shortage costs no CPU while it lasts.
	backoffMin = 5 * time.Millisecond
	backoffMax = time.Second
)

// Counters are a listener's counts. They may be shared by several
// listeners.
type Counters struct {
	AcceptErrors atomic.Int64 // accept errors, retried
	Refused      atomic.Int64 // connections closed at once: MaxConns were open
	Open         atomic.Int64 // connections open now
}

// Listener guards an accept loop. Only Close (or the inner listener being
// closed) makes Accept return an error.
type Listener struct {
	net.Listener
	max       int64
	name      string
	c         *Counters
	log       *slog.Logger
	closed    chan struct{}
	closeOnce sync.Once

	mu                     sync.Mutex
	lastErrLog, lastRefLog time.Time
	heldErr, heldRef       int
}

// New guards ln. maxConns bounds the connections open at once (0: no
// limit); name is the listener's name in the log ("proxy", "admin").
func New(ln net.Listener, maxConns int, name string, c *Counters, log *slog.Logger) *Listener {
	if c == nil {
		c = new(Counters)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Listener{Listener: ln, max: int64(maxConns), name: name, c: c, log: log, closed: make(chan struct{})}
}

// Counters returns the listener's counters.
func (l *Listener) Counters() *Counters { return l.c }

// Accept returns the next connection within the limit.
func (l *Listener) Accept() (net.Conn, error) {
	delay := time.Duration(0)
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return nil, net.ErrClosed
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			// Every other error is taken as passing: EMFILE and ENFILE end
			// when connections close, ENOBUFS when memory frees,
			// ECONNABORTED concerns one connection only. Ending the server
			// would turn a flood into an outage.
			l.c.AcceptErrors.Add(1)
			delay = min(max(2*delay, backoffMin), backoffMax)
			if n := l.allow(&l.lastErrLog, &l.heldErr); n >= 0 {
				l.log.Warn("accept failed; retrying (clients wait in the listen backlog)", "listener", l.name,
					"err", err.Error(), "retry_in", delay.String(), "suppressed_since_last", n)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if n := l.c.Open.Add(1); l.max > 0 && n > l.max {
			l.c.Open.Add(-1)
			l.c.Refused.Add(1)
			// A reset, not a FIN: the client learns at once, and the
			// socket leaves no TIME_WAIT behind.
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			if n := l.allow(&l.lastRefLog, &l.heldRef); n >= 0 {
				l.log.Warn("connection refused: the connection limit is reached", "listener", l.name,
					"max_conns", l.max, "suppressed_since_last", n)
			}
			continue
		}
		return &limitedConn{Conn: conn, open: &l.c.Open}, nil
	}
}

// Close closes the listener; a pending Accept returns net.ErrClosed.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// allow lets a warning through once per LogInterval, returning how many
// were held back since, or -1 when this one is held back.
func (l *Listener) allow(last *time.Time, held *int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !last.IsZero() && now.Sub(*last) < LogInterval {
		*held++
		return -1
	}
	n := *held
	*last, *held = now, 0
	return n
}

// limitedConn counts itself out of the open connections once, when closed.
type limitedConn struct {
	net.Conn
	open   *atomic.Int64
	closed atomic.Bool
}

func (c *limitedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}

// ReadFrom passes a body copied from a reader straight to the connection
// when it can take one (a *net.TCPConn does, with splice or one write per
// read): without it, the wrapper would hide that from bufio and a streamed
// body with a Content-Length would wait in a 4 KiB buffer.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
