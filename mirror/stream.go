package mirror

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/upstream"
)

// Legacy's answer reaches the client as legacy sends it. The legacy client
// reads answers as streams (upstream.Options.Stream), and the handler gives
// the client's response a legacyStream over legacy's body: fasthttp's
// server reads it after the handler returns and writes each piece as it
// comes, a chunk flushed per piece when the answer has no length. On its
// way, the stream keeps what the comparison needs (the first MaxBody bytes,
// the SHA-256 of the whole when it is longer: upstream.Capture) and, when
// legacy's body has ended, queues the mirror copy.
//
// A small answer with a Content-Length is read whole in the handler
// instead, as before: its legacy connection goes back to the pool at once,
// whatever the client's speed (a slow client on a streamed answer holds
// its legacy connection, as it does behind nginx with proxy_buffering
// off), and the measured cost is the same.

// Defaults for streaming.
const (
	// DefaultStreamCompareAfter: an answer without a length that lasts
	// longer than this is a stream (progress output, long polling), which
	// is counted, not compared, unless its rule sets compare_streams.
	DefaultStreamCompareAfter = 2 * time.Second
	// smallBody bounds the answers with a Content-Length read whole before
	// the client gets them.
	smallBody = 64 << 10
	// streamBuf is the piece read from legacy and written to the client:
	// fasthttp's own copy uses 4 KiB, a chunk and a flush per 4 KiB of a
	// large download.
	streamBuf = 32 << 10
)

// eventStream is the media type of Server-Sent Events, which never end in
// the sense a comparison needs.
var eventStream = []byte("text/event-stream")

// isEventStream reports whether a Content-Type is text/event-stream (with
// parameters or not, in any case), without allocating.
func isEventStream(ct []byte) bool {
	return len(ct) >= len(eventStream) && bytes.EqualFold(ct[:len(eventStream)], eventStream)
}

var (
	streamPool = sync.Pool{New: func() any { return new(legacyStream) }}
	streamBufs = sync.Pool{New: func() any { return new([streamBuf]byte) }}
)

// serveLegacy writes legacy's answer, resp (read with its body as a
// stream), to the client's response, and finishes j (nil: not mirrored):
// queued when the body has ended, released when it failed. It owns resp.
func (p *Proxy) serveLegacy(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, j *job, start time.Time) {
	// The length is read before the hop-by-hop fields go: chunked framing
	// is in Transfer-Encoding, and the client's framing is fasthttp's to
	// write from the length given to SetBodyStream.
	length := resp.Header.ContentLength()
	upstream.RemoveResponseHop(&resp.Header)
	resp.Header.CopyTo(&ctx.Response.Header)
	if j != nil && !j.ep.CompareStreams() && isEventStream(resp.Header.ContentType()) {
		// An event stream, however short this one: counted, not compared.
		p.tally.Add(tandem.Streamed)
		p.release(j)
		j = nil
	}
	body, streams := upstream.StreamBody(resp)
	if !streams || length >= 0 && length <= smallBody {
		var err error
		if streams {
			err = readWhole(&body, &ctx.Response)
		} else {
			ctx.Response.SetBody(resp.Body())
		}
		fasthttp.ReleaseResponse(resp)
		latency := time.Since(start)
		p.metrics.legacyAll.observe(latency)
		if err != nil {
			p.legacyBodyFailed(ctx, err, false)
			answerLegacyFailed(ctx, errors.Is(err, fasthttp.ErrTimeout))
			if j != nil {
				p.release(j)
			}
			return
		}
		if j != nil {
			j.start, j.latency = start, latency
			p.copyLegacy(j, &ctx.Response)
			p.enqueue(j)
		}
		return
	}
	body.SetIdle(p.cfg.LegacyTimeout)
	s := streamPool.Get().(*legacyStream)
	*s = legacyStream{p: p, ctx: ctx, resp: resp, body: body, j: j, start: start, header: time.Now(), noLength: length < 0}
	if j != nil {
		resp.Header.CopyTo(&j.legacy.Header)
		s.compareAll = j.ep.CompareStreams()
		s.capture = upstream.Capture{Head: j.legacyBody[:0], Max: p.cfg.MaxBody}
	}
	// The client sees the header when legacy sends it, not with the first
	// bytes of a body that may come much later (an event stream's first
	// event).
	ctx.Response.ImmediateHeaderFlush = true
	ctx.Response.SetBodyStream(s, int(body.Length()))
}

// readWhole reads a small body into dst.
func readWhole(body *upstream.Body, dst *fasthttp.Response) error {
	pb := streamBufs.Get().(*[streamBuf]byte)
	defer streamBufs.Put(pb)
	for {
		n, err := body.Read(pb[:])
		dst.AppendBody(pb[:n])
		if err == io.EOF {
			return body.Close(nil)
		}
		if err != nil {
			body.Close(err) //nolint:errcheck // err is what counts
			return err
		}
	}
}

// legacyStream is legacy's body on its way to the client: the client's
// response reads it (fasthttp's server, after the handler has returned),
// and closes it with the result of the write.
type legacyStream struct {
	p      *Proxy
	ctx    *fasthttp.RequestCtx
	resp   *fasthttp.Response // legacy's, released at close
	body   upstream.Body
	j      *job // nil: not mirrored, or no longer
	start  time.Time
	header time.Time // when legacy's header came
	// noLength: a stream that goes on past StreamCompareAfter is not
	// compared, unless compareAll (the rule's compare_streams).
	noLength, compareAll bool
	capture              upstream.Capture
	// reserved is what the capture holds, counted against QueueBytes while
	// the body streams: a thousand large downloads mirrored at once must
	// not hold a thousand --max-body heads beyond the queue's bound.
	reserved int64
	readErr  error // legacy failed mid-body
	eof      bool
}

// Read reads legacy's body for the client, keeping what is compared.
func (s *legacyStream) Read(b []byte) (int, error) {
	n, err := s.body.Read(b)
	if s.j != nil && n > 0 {
		s.capture.Write(b[:n])
		if s.noLength && !s.compareAll && time.Since(s.header) > s.p.cfg.StreamCompareAfter {
			s.notCompared()
		} else {
			s.reserve()
		}
	}
	switch {
	case err == io.EOF:
		s.eof = true
	case err != nil:
		s.readErr = err
	}
	return n, err
}

// SupportsBodyWriteTo lets fasthttp's server use WriteTo, which reads
// legacy in larger pieces than its own copy; WriteTo does what Read does.
func (s *legacyStream) SupportsBodyWriteTo() bool { return true }

// WriteTo copies legacy's body to the client, each piece as it comes:
// fasthttp's chunked writer flushes every write. Its writer for a body with
// a Content-Length does not (it flushes a full 4 KiB buffer), but it reads
// from a reader straight into the connection when its buffer is empty, as
// the header's flush leaves it: the connection (a *net.TCPConn) then writes
// each piece read, as it comes.
func (s *legacyStream) WriteTo(w io.Writer) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(readerOnly{s})
	}
	pb := streamBufs.Get().(*[streamBuf]byte)
	defer streamBufs.Put(pb)
	var total int64
	for {
		n, err := s.Read(pb[:])
		if n > 0 {
			m, werr := w.Write(pb[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// readerOnly hides legacyStream's WriteTo from io.Copy, which would call
// it back.
type readerOnly struct{ io.Reader }

// notCompared stops keeping the answer for a comparison: it is a stream,
// counted as such.
func (s *legacyStream) notCompared() {
	s.p.tally.Add(tandem.Streamed)
	s.giveUp()
}

// giveUp releases the mirror copy and what its capture holds.
func (s *legacyStream) giveUp() {
	s.unreserve()
	s.p.release(s.j)
	s.j = nil
	s.capture = upstream.Capture{}
}

// reserve counts the capture's growth against QueueBytes; beyond the
// bound the copy is dropped (and counted), as a full queue drops one.
func (s *legacyStream) reserve() {
	grown := int64(len(s.capture.Head)) - s.reserved
	if grown <= 0 {
		return
	}
	if s.p.inFlightBytes.Add(grown) > s.p.cfg.QueueBytes {
		s.p.inFlightBytes.Add(-grown)
		s.p.tally.Add(tandem.Dropped)
		s.giveUp()
		return
	}
	s.reserved += grown
}

func (s *legacyStream) unreserve() {
	s.p.inFlightBytes.Add(-s.reserved)
	s.reserved = 0
}

// CloseWithError is fasthttp's server done with the body: werr is its
// write's error (nil when the client got all of it). A body cut by legacy
// makes the server close the client's connection, so that the client sees
// a truncated answer (no last chunk, or fewer bytes than Content-Length),
// never a complete-looking one.
func (s *legacyStream) CloseWithError(werr error) error {
	p, j := s.p, s.j
	reason := s.readErr
	if reason == nil && !s.eof {
		reason = werr
		if reason == nil {
			reason = errClientGone
		}
	}
	s.body.Close(reason) //nolint:errcheck // the reason is handled below
	fasthttp.ReleaseResponse(s.resp)
	latency := time.Since(s.start)
	p.metrics.legacyAll.observe(latency)
	if s.readErr != nil {
		p.legacyBodyFailed(s.ctx, s.readErr, true)
	}
	if j != nil {
		s.unreserve() // enqueue counts the copy whole
		if reason != nil {
			if s.readErr == nil {
				p.tally.Add(tandem.ClientAbort)
			}
			p.release(j)
		} else {
			j.start, j.latency = s.start, latency
			head, size, sum := s.capture.Result()
			j.legacyBody, j.legacySize, j.legacyHash = head, size, sum
			p.enqueue(j)
		}
	}
	*s = legacyStream{}
	streamPool.Put(s)
	return nil
}

// errClientGone is why a body was not read to its end when the server
// stopped without an error of its own.
var errClientGone = errors.New("the client's response ended before legacy's body")

// legacyBodyFailed counts and logs, throttled, a legacy answer that failed
// after its header: the client's answer is cut, or, when nothing of it was
// sent yet, a 502/504.
func (p *Proxy) legacyBodyFailed(ctx *fasthttp.RequestCtx, err error, cut bool) {
	p.tally.Add(tandem.LegacyError)
	p.tally.Add(tandem.LegacyBodyError)
	if n := p.legacyErrLog.allow(time.Now()); n >= 0 {
		msg := "legacy failed mid-answer; the client's connection was closed, its answer cut"
		if !cut {
			msg = "legacy failed mid-answer; the client got 502 or 504"
		}
		p.log.Warn(msg, "path", string(ctx.Path()), "err", upstream.Describe(err), "cause", err.Error(), "suppressed_since_last", n)
	}
}
