package upstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
)

// Fetch sends req and reads the answer as it is compared and stored: the
// status, the header fields in wire order, and the body decoded from its
// Content-Encoding. A body over maxBody is kept as its first maxBody bytes,
// marked truncated, with the size and SHA-256 of the whole (the rest is
// hashed and discarded, so an endless answer costs a bounded buffer and
// ends as a timeout). A failure is the Response's Err (Describe's words).
//
// The body is read into buf, which is returned (grown) for the next use:
// the Response's Body may alias it.
func (c *Client) Fetch(req *fasthttp.Request, maxBody int, buf []byte) (tandem.Response, []byte, error) {
	start := time.Now()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	resp.Header.SetNoDefaultContentType(true)
	if err := c.Do(req, resp); err != nil {
		return tandem.Response{Err: Describe(err), Latency: time.Since(start)}, buf, err
	}
	var head []byte
	var size int64
	var sum string
	streamed := false
	if stream := resp.BodyStream(); stream != nil {
		streamed = true
		var err error
		head, size, sum, err = ReadBody(stream, buf[:0], maxBody)
		resp.CloseBodyStream() //nolint:errcheck // the body was read or failed
		if head != nil {
			buf = head
		}
		if err != nil {
			return tandem.Response{Err: describeBody(err), Latency: time.Since(start)}, buf, err
		}
		resp.SetBodyRaw(head)
	}
	r := tandem.Response{Status: resp.StatusCode(), Header: Headers(&resp.Header), Latency: time.Since(start)}
	switch {
	case sum != "":
		r.Body, r.BodySize, r.Truncated, r.BodyHash = head, size, true, sum
	case streamed && len(resp.Header.ContentEncoding()) == 0:
		r.Body, r.BodySize = head, int64(len(head))
	default:
		r.Body, r.BodySize, r.Truncated, r.BodyHash = Decode(resp, maxBody)
	}
	return r, buf, nil
}

// describeBody describes a failure to read a body whose header came: a
// closed connection then cut the answer (short of its Content-Length, or
// inside a chunk), which Closed would misname.
func describeBody(err error) string {
	if d := Describe(err); d != Closed {
		return d
	}
	return Cut
}

// Headers copies a response's header fields out of fasthttp, which reuses
// its buffers, in wire order.
func Headers(h *fasthttp.ResponseHeader) tandem.Headers {
	var out tandem.Headers
	for k, v := range h.All() {
		out = append(out, tandem.Header{Name: string(k), Value: string(v)})
	}
	return out
}

// Decode returns a response's body decoded from its Content-Encoding (gzip,
// deflate, br, zstd), so that bodies compare by content, within maxBody.
// A body that cannot be decoded, or decodes to more than maxBody, is kept
// as received and compared by its hash. The body returned is a copy.
func Decode(resp *fasthttp.Response, maxBody int) (body []byte, size int64, truncated bool, sum string) {
	raw := resp.Body()
	if len(resp.Header.ContentEncoding()) > 0 {
		dec, err := resp.BodyUncompressedWithLimit(maxBody)
		if err == nil {
			return bytes.Clone(dec), int64(len(dec)), false, ""
		}
		h := sha256.Sum256(raw)
		return bytes.Clone(raw[:min(len(raw), maxBody)]), int64(len(raw)), true, hex.EncodeToString(h[:])
	}
	return bytes.Clone(raw), int64(len(raw)), false, ""
}

// Head returns what is kept of a body read whole: all of it when it fits
// in maxBody; otherwise its first maxBody bytes and the SHA-256 of the
// whole. head aliases body.
func Head(body []byte, maxBody int) (head []byte, sum string) {
	if len(body) <= maxBody {
		return body, ""
	}
	h := sha256.Sum256(body)
	return body[:maxBody], hex.EncodeToString(h[:])
}

// readBufs are ReadBody's buffers: one per answer would be most of what a
// mirror worker allocates.
var readBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// ReadBody reads a streamed body. It returns the first maxBody bytes,
// appended to head, and, when there was more, the size and SHA-256 of the
// whole body (the rest is hashed and discarded).
func ReadBody(stream io.Reader, head []byte, maxBody int) (_ []byte, size int64, sum string, err error) {
	pb := readBufs.Get().(*[32 << 10]byte)
	defer readBufs.Put(pb)
	buf := pb[:]
	c := Capture{Head: head, Max: maxBody}
	for {
		n, rerr := stream.Read(buf)
		c.Write(buf[:n])
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return c.Head, 0, "", rerr
		}
	}
	head, size, sum = c.Result()
	return head, size, sum, nil
}

// Capture keeps what is compared of a body that goes past it in pieces:
// its first Max bytes (appended to Head) and, once it is over Max, the
// SHA-256 of the whole, so that a body of any size costs Max bytes. The
// zero hash is not started until it is needed: most bodies fit.
type Capture struct {
	Head []byte
	Max  int
	size int64
	h    hash.Hash
}

// Write takes the next piece of the body.
func (c *Capture) Write(chunk []byte) {
	n := len(chunk)
	if n == 0 {
		return
	}
	c.size += int64(n)
	if c.h == nil && len(c.Head)+n > c.Max {
		c.h = sha256.New()
		c.h.Write(c.Head)
	}
	if c.h == nil {
		c.Head = append(c.Head, chunk...)
		return
	}
	c.h.Write(chunk)
	if room := c.Max - len(c.Head); room > 0 {
		c.Head = append(c.Head, chunk[:min(room, n)]...)
	}
}

// Result returns the body's first Max bytes, its size, and the SHA-256 of
// the whole when it was over Max ("" otherwise).
func (c *Capture) Result() (head []byte, size int64, sum string) {
	if c.h != nil {
		sum = hex.EncodeToString(c.h.Sum(nil))
	}
	return c.Head, c.size, sum
}
