package upstream

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"
)

// HopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 (with the older
// Keep-Alive, Proxy-Connection, Proxy-Authenticate and Proxy-Authorization
// of RFC 2616 §13.5.1, as net/http/httputil removes them too). They describe
// one connection, so a proxy must not forward them.
var HopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// maxHopFields bounds the hop-by-hop fields of a response header collected
// in one pass without allocating; a header with more takes further passes.
const maxHopFields = 8

// Header names are case-insensitive (RFC 9110 §5.1), but the proxy keeps
// them as sent (DisableHeaderNamesNormalizing, so that upstreams see the
// client's bytes), and fasthttp's Peek and Del then match them exactly:
// "keep-alive" or "proxy-authorization" in lower case, as curl, HTTP/2
// gateways and most non-Go clients write them, would get through. So the
// fields are found here without regard to case, and deleted by the name
// they were sent with.

// connectionTokens appends the header names listed in a Connection header,
// which are hop-by-hop too (RFC 9110 §7.6.1).
func connectionTokens(dst [][]byte, conn []byte) [][]byte {
	for len(conn) > 0 {
		var tok []byte
		tok, conn, _ = bytes.Cut(conn, []byte(","))
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
			dst = append(dst, tok)
		}
	}
	return dst
}

// isHop reports whether a field name is hop-by-hop: a standard one, or one
// named by a Connection header (tokens), in any case.
func isHop(name []byte, tokens [][]byte) bool {
	for _, h := range HopHeaders {
		if len(h) == len(name) && bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	for _, t := range tokens {
		if bytes.EqualFold(name, t) {
			return true
		}
	}
	return false
}

// NextField splits the first field off a raw header block ("Name: value\r\n…").
func NextField(raw []byte) (name, value, rest []byte) {
	line, rest, _ := bytes.Cut(raw, []byte("\n"))
	name, value, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\r")), []byte(":"))
	if !ok {
		return nil, nil, rest
	}
	return name, bytes.TrimSpace(value), rest
}

// RemoveRequestHop removes a request's hop-by-hop fields, whatever the
// case of their names.
func RemoveRequestHop(h *fasthttp.RequestHeader) {
	// The raw header block is read rather than h.All(), which would parse
	// (and later re-serialise) the client's cookies.
	var tbuf [4][]byte
	tokens := tbuf[:0]
	for raw := h.RawHeaders(); len(raw) > 0; {
		var n, v []byte
		n, v, raw = NextField(raw)
		if bytes.EqualFold(n, []byte("Connection")) {
			tokens = connectionTokens(tokens, v)
		}
	}
	// Deleting does not touch the raw block, so fields go as they are found.
	for raw := h.RawHeaders(); len(raw) > 0; {
		var n []byte
		n, _, raw = NextField(raw)
		if len(n) > 0 && isHop(n, tokens) {
			h.DelBytes(n)
		}
	}
	// Also by their standard names, which resets what fasthttp keeps of
	// them outside the field list (Connection: close) and covers headers
	// set after parsing.
	for _, name := range HopHeaders {
		h.Del(name)
	}
	for _, t := range tokens {
		h.DelBytes(t)
	}
}

// RemoveResponseHop removes an answer's hop-by-hop fields.
func RemoveResponseHop(h *fasthttp.ResponseHeader) {
	var tbuf [4][]byte
	tokens := tbuf[:0]
	for n, v := range h.All() {
		if bytes.EqualFold(n, []byte("Connection")) {
			tokens = connectionTokens(tokens, v)
		}
	}
	for {
		var fbuf [maxHopFields][]byte
		fields := fbuf[:0]
		for n := range h.All() {
			if isHop(n, tokens) && len(fields) < maxHopFields {
				fields = append(fields, n)
			}
		}
		for _, n := range fields {
			h.DelBytes(n)
		}
		if len(fields) < maxHopFields {
			break
		}
	}
	for _, name := range HopHeaders {
		h.Del(name)
	}
}

// IsHop reports whether a header field is hop-by-hop by name (not counting
// those a Connection header names).
func IsHop(name string) bool {
	for _, h := range HopHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}
