package replay

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
)

// keep sets a response's body as the proxy keeps one: a copy of the whole
// when it fits in max bytes; otherwise (or when byHash) its first bytes,
// marked truncated, with the size and SHA-256 of the whole, which is then
// what is compared.
func keep(r *tandem.Response, body []byte, max int, byHash bool) {
	r.BodySize = int64(len(body))
	if len(body) <= max && !byHash {
		r.Body, r.Truncated, r.BodyHash = append([]byte(nil), body...), false, ""
		return
	}
	sum := sha256.Sum256(body)
	r.Body, r.Truncated, r.BodyHash = append([]byte(nil), body[:min(len(body), max)]...), true, hex.EncodeToString(sum[:])
}

// answer turns a fasthttp response whose body has been read whole into the
// answer that is compared and stored: headers in wire order, and the body
// decoded from its Content-Encoding (gzip, deflate, br, zstd) when it
// decodes within max bytes. A body that does not decode, or decodes to
// more, is kept as received and compared by its hash, as the proxy does.
func answer(resp *fasthttp.Response, max int) tandem.Response {
	r := tandem.Response{Status: resp.StatusCode()}
	for k, v := range resp.Header.All() {
		r.Header = append(r.Header, tandemHeader(k, v))
	}
	if len(resp.Header.ContentEncoding()) > 0 {
		if dec, err := resp.BodyUncompressedWithLimit(max); err == nil {
			keep(&r, dec, max, false)
			return r
		}
		keep(&r, resp.Body(), max, true)
		return r
	}
	keep(&r, resp.Body(), max, false)
	return r
}

// headWriter keeps the first max bytes written to it and hashes them all:
// a streamed body costs a bounded buffer however long it is.
type headWriter struct {
	max  int
	head []byte
	n    int64
	sum  hash.Hash
}

func newHeadWriter(max int) *headWriter { return &headWriter{max: max, sum: sha256.New()} }

func (w *headWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	w.sum.Write(p)
	if room := w.max + 1 - len(w.head); room > 0 {
		// One byte past max tells a body of exactly max bytes from a longer one.
		w.head = append(w.head, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// over reports whether more than max bytes were written.
func (w *headWriter) over() bool { return w.n > int64(w.max) }

// truncated returns the answer for a body over max: its first bytes, its
// size and its hash.
func (w *headWriter) truncated(r *tandem.Response) {
	r.Body, r.BodySize, r.Truncated, r.BodyHash = w.head[:w.max:w.max], w.n, true, hex.EncodeToString(w.sum.Sum(nil))
}

// tandemHeader copies a header field out of fasthttp, which reuses its
// buffers.
func tandemHeader(k, v []byte) tandem.Header {
	return tandem.Header{Name: string(k), Value: string(v)}
}
