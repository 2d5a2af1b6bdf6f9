package mirror

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 (with the older
// Keep-Alive, Proxy-Connection, Proxy-Authenticate and Proxy-Authorization
// of RFC 2616 §13.5.1, as net/http/httputil removes them too). They describe
// one connection, so a proxy must not forward them.
var hopHeaders = []string{
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

func removeRequestHop(h *fasthttp.RequestHeader) {
	if c := h.Peek("Connection"); len(c) > 0 {
		var buf [4][]byte
		for _, name := range connectionTokens(buf[:0], c) {
			h.DelBytes(name)
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

func removeResponseHop(h *fasthttp.ResponseHeader) {
	if c := h.Peek("Connection"); len(c) > 0 {
		var buf [4][]byte
		for _, name := range connectionTokens(buf[:0], c) {
			h.DelBytes(name)
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
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
