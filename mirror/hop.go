package mirror

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/upstream"
)

// peekFold returns the first value of the named request header, whatever
// the case it was sent in.
func peekFold(h *fasthttp.RequestHeader, name string) []byte {
	if v := h.Peek(name); len(v) > 0 {
		return v
	}
	for raw := h.RawHeaders(); len(raw) > 0; {
		var n, v []byte
		n, v, raw = upstream.NextField(raw)
		if bytes.EqualFold(n, []byte(name)) {
			return v
		}
	}
	return nil
}

// methodOverride returns the value of the first method-override header
// (rules.MethodOverrideHeaders), in one pass over the raw header block and
// whatever the case of its name: nil for nearly every request.
func methodOverride(h *fasthttp.RequestHeader) []byte {
	for raw := h.RawHeaders(); len(raw) > 0; {
		var n, v []byte
		n, v, raw = upstream.NextField(raw)
		if len(n) < 13 || n[0]|0x20 != 'x' {
			continue
		}
		for _, o := range rules.MethodOverrideHeaders {
			if bytes.EqualFold(n, []byte(o)) {
				return v
			}
		}
	}
	return nil
}

// pathAndQuery returns the origin-form target of a request line: the path
// and query of an absolute-form target ("GET http://host/x HTTP/1.1"), or
// the target itself. The authority of an absolute-form target is dropped:
// tandem only ever talks to its configured upstreams, whatever the client
// names (it is not an open proxy).
func pathAndQuery(uri []byte) []byte {
	if len(uri) == 0 || uri[0] == '/' || uri[0] == '*' {
		return uri
	}
	if i := bytes.Index(uri, []byte("://")); i >= 0 {
		rest := uri[i+3:]
		if j := bytes.IndexAny(rest, "/?"); j >= 0 {
			if rest[j] == '?' {
				return append([]byte("/"), rest[j:]...)
			}
			return rest[j:]
		}
		return []byte("/")
	}
	return uri
}
