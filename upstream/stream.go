package upstream

import (
	"errors"
	"io"
	"time"

	"github.com/valyala/fasthttp"
)

// Body is an answer's body read from the connection as it arrives (an
// answer read by a Client with Options.Stream). It adds to fasthttp's
// stream what a proxy needs:
//
//   - an answer with a Content-Length that ends early fails with
//     io.ErrUnexpectedEOF: fasthttp's stream reports a plain io.EOF, which
//     would make a cut download look complete;
//   - with Idle set, each read waits at most Idle for legacy's next bytes.
//     fasthttp sets one read deadline before the answer's header, so an
//     event stream or a long download would fail after the client's
//     timeout however lively it is; Idle makes the timeout the gap between
//     two reads, as nginx's proxy_read_timeout is.
//
// Close it once, with the reason reading stopped: the connection goes back
// to the pool only after a body read to its end.
type Body struct {
	stream   io.Reader
	conn     *conn // nil: the deadline cannot be moved
	idle     time.Duration
	deadline time.Time
	length   int64 // -1: no Content-Length
	read     int64
	eof      bool
}

// StreamBody returns resp's body stream, and false when the answer has
// none to stream (a HEAD, a 204, a body fasthttp read whole). It is a value,
// so that the proxy's path allocates none.
func StreamBody(resp *fasthttp.Response) (Body, bool) {
	s := resp.BodyStream()
	if s == nil {
		return Body{}, false
	}
	b := Body{stream: s, length: int64(resp.Header.ContentLength())}
	if b.length < 0 {
		b.length = -1
	}
	if a, ok := resp.LocalAddr().(*connAddr); ok {
		b.conn = a.c
	}
	return b, true
}

// SetIdle makes the read deadline bound each wait for the body's next
// bytes, d, rather than the whole answer. Without it the client's timeout
// bounds the whole, as for a body read at once (no deadline to move: the
// cost of a timer update is saved).
func (b *Body) SetIdle(d time.Duration) { b.idle = d }

// Length is the body's Content-Length, or -1 when it has none (chunked, or
// ended by the connection's close).
func (b *Body) Length() int64 { return b.length }

// Read reads the next bytes of the body.
func (b *Body) Read(p []byte) (int, error) {
	if b.idle > 0 && b.conn != nil {
		// Moved only when half of it is used up: a deadline per read of a
		// fast download would be a timer update per 32 KiB for nothing.
		if now := time.Now(); b.deadline.Sub(now) < b.idle/2 {
			b.deadline = now.Add(b.idle)
			if err := b.conn.SetReadDeadline(b.deadline); err != nil {
				return 0, err
			}
		}
	}
	n, err := b.stream.Read(p)
	b.read += int64(n)
	if errors.Is(err, io.EOF) {
		if b.length >= 0 && b.read < b.length {
			return n, io.ErrUnexpectedEOF
		}
		b.eof = true
		return n, io.EOF
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return n, fasthttp.ErrTimeout
	}
	return n, err
}

// Close releases the stream: reason is why reading stopped (nil after
// io.EOF). A body not read to its end closes the connection, which cannot
// carry another request.
func (b *Body) Close(reason error) error {
	if reason == nil && !b.eof {
		reason = errNotRead
	}
	if s, ok := b.stream.(fasthttp.ReadCloserWithError); ok {
		return s.CloseWithError(reason)
	}
	if c, ok := b.stream.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

var errNotRead = errors.New("body not read to its end")
