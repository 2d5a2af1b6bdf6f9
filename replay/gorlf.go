package replay

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// lfHint says why a message with LF-only line endings cannot be read, and
// what to do about it.
const lfHint = "the file's line endings were converted (git's autocrlf, an editor): restore the CRLF line endings of its HTTP messages, or record again"

// crlf returns a captured HTTP message whose lines end in LF alone (HTTP
// wants CRLF, RFC 9112 §2.2) with CRLF line endings, when its framing is
// unambiguous: the header block ends at the first empty line, and the body
// that follows is exactly as long as the message says (or the message has
// none). A converted file has had the CRLFs inside bodies changed too, so
// a body whose length disagrees is not guessed at: it is an error that
// says so. Messages that already use CRLF are returned as they are.
// noBody is set for the answer to a HEAD.
func crlf(msg []byte, noBody bool) ([]byte, error) {
	if bytes.Contains(msg, []byte("\r\n\r\n")) {
		return msg, nil
	}
	end := bytes.Index(msg, []byte("\n\n"))
	if end < 0 {
		if bytes.IndexByte(msg, '\n') >= 0 && bytes.IndexByte(msg, '\r') < 0 {
			return nil, fmt.Errorf("lines end in LF, not CRLF, and no empty line ends the header block: %s", lfHint)
		}
		return msg, nil // the parser says what is wrong
	}
	head, body := msg[:end], msg[end+2:]
	if bytes.IndexByte(head, '\r') >= 0 {
		return msg, nil // mixed line endings: not a conversion to undo
	}
	lines := strings.Split(string(head), "\n")
	response := strings.HasPrefix(lines[0], "HTTP/")
	if response {
		// RFC 9112 §6.3: these answers have no body, whatever they announce.
		f := strings.Fields(lines[0])
		if len(f) >= 2 {
			if code, err := strconv.Atoi(f[1]); err == nil && (code < 200 || code == 204 || code == 304) {
				noBody = true
			}
		}
	}
	length, chunked := int64(-1), false
	for _, l := range lines[1:] {
		name, value, _ := strings.Cut(l, ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("lines end in LF, not CRLF, and Content-Length %s is not a length", quote(value))
			}
			length = n
		case "transfer-encoding":
			chunked = chunked || strings.Contains(strings.ToLower(value), "chunked")
		}
	}
	switch {
	case noBody:
		body = nil
	case chunked:
		return nil, fmt.Errorf("lines end in LF, not CRLF, and a chunked body cannot be told apart from its framing then: %s", lfHint)
	case length >= 0 && int64(len(body)) != length:
		return nil, fmt.Errorf("lines end in LF, not CRLF, and the body is %d bytes where Content-Length says %d: %s", len(body), length, lfHint)
	case length < 0 && !response && len(body) > 0:
		// A request without Content-Length has no body (RFC 9112 §6.3).
		return nil, fmt.Errorf("lines end in LF, not CRLF, and %d bytes follow a request that announces no body: %s", len(body), lfHint)
	}
	var b bytes.Buffer
	b.Grow(len(msg) + len(lines) + 2)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes(), nil
}
