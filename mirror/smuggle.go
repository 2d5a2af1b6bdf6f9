package mirror

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
)

// Request smuggling: a request whose framing two HTTP/1.1 parsers could
// read differently lets a client hide a second request in the body of the
// first, as one parser sees it, for another to run. fasthttp rejects most
// malformed framings itself (a malformed chunk size, a Content-Length that
// is not a number, two Content-Lengths, NUL, a bare CR, a space before the
// colon); it accepts, and would forward re-framed, these (RFC 9112 §6.1,
// §6.3, §5.2):
//
//   - both Content-Length and Transfer-Encoding (it takes the chunked body);
//   - a Transfer-Encoding other than "chunked" (it waits for the body to
//     end with the connection);
//   - obs-fold, a header line that starts with a space or a tab (it joins
//     the line to the one before).
//
// ambiguous checks the raw header for every case, so that the rule does
// not depend on which of them the parser catches: one pass over bytes the
// parser has already read, no allocation. It returns why, or "".
func ambiguous(raw []byte, http11 bool) string {
	var contentLengths, transferEncodings int
	for len(raw) > 0 {
		var line []byte
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			line, raw = raw, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break // the end of the header
		}
		if line[0] == ' ' || line[0] == '\t' {
			return "obs-fold (a header line starting with a space or tab)"
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return "a bare CR in a header field"
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return "a NUL in a header field"
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return "a header line without a colon"
		}
		if n := len(name); n == 0 || name[n-1] == ' ' || name[n-1] == '\t' {
			return "whitespace before a header field's colon"
		}
		value = bytes.Trim(value, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			contentLengths++
			if len(value) == 0 || !digits(value) {
				return "a Content-Length that is not a number"
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			transferEncodings++
			// Coding names are case-insensitive (RFC 9110 §8.4.1); a list
			// ("gzip, chunked") is refused too: no upstream of ours needs it,
			// and parsers disagree on it.
			if !bytes.EqualFold(value, []byte("chunked")) {
				return "a Transfer-Encoding other than chunked"
			}
		}
	}
	switch {
	case contentLengths > 0 && transferEncodings > 0:
		return "both Content-Length and Transfer-Encoding"
	case contentLengths > 1:
		return "more than one Content-Length"
	case transferEncodings > 1:
		return "more than one Transfer-Encoding"
	case transferEncodings > 0 && !http11:
		return "Transfer-Encoding in an HTTP/1.0 request"
	}
	return ""
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// holdAmbiguousBody is called from HeaderReceived: an ambiguous request's
// body is not read at all (whichever framing fasthttp would pick, it might
// not be the one an upstream picks), and the handler then refuses it.
func holdAmbiguousBody(h *fasthttp.RequestHeader) {
	if ambiguous(h.RawHeaders(), h.IsHTTP11()) != "" {
		h.SetContentLength(0)
	}
}

// rejectAmbiguous is the first thing Handler does: an ambiguous request
// gets 400, the connection is closed (what follows on it cannot be trusted
// to be a request), and no upstream sees it. It reports whether it
// rejected the request.
func (p *Proxy) rejectAmbiguous(ctx *fasthttp.RequestCtx) bool {
	why := ambiguous(ctx.Request.Header.RawHeaders(), ctx.Request.Header.IsHTTP11())
	if why == "" {
		return false
	}
	p.edge.rejected.Add(1)
	if n := p.edge.rejLog.allow(time.Now()); n >= 0 {
		p.log.Warn("request refused with 400: its framing is ambiguous (request smuggling)", "why", why,
			"client", ctx.RemoteAddr().String(), "suppressed_since_last", n)
	}
	ctx.Error("tandem: ambiguous request framing: "+why+"\n", fasthttp.StatusBadRequest)
	ctx.SetConnectionClose()
	return true
}
