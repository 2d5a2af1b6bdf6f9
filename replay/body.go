package replay

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/upstream"
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
	r := tandem.Response{Status: resp.StatusCode(), Header: upstream.Headers(&resp.Header)}
	if len(resp.Header.ContentEncoding()) > 0 {
		r.Body, r.BodySize, r.Truncated, r.BodyHash = upstream.Decode(resp, max)
		return r
	}
	keep(&r, resp.Body(), max, false)
	return r
}

// tandemHeader copies a header field out of fasthttp, which reuses its
// buffers.
func tandemHeader(k, v []byte) tandem.Header {
	return tandem.Header{Name: string(k), Value: string(v)}
}
