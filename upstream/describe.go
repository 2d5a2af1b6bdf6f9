package upstream

import (
	"errors"
	"io"
	"strings"

	"github.com/valyala/fasthttp"
)

// Descriptions of failures, stored with an exchange as its error and shown
// by replay and the logs. Refused is the one the proxy's circuit breaker
// counts.
const (
	Timeout      = "timeout"
	Refused      = "connection refused"
	Closed       = "connection closed before an answer"
	Cut          = "connection closed in the middle of the answer's body"
	NoFreeConns  = "no free connection (all are busy)"
	BodyTooLarge = "answer body too large"
)

// Describe turns a client error into the short text stored with an
// exchange. fasthttp's own texts advise a server's author (its text for a
// closed connection suggests Connection: close), which misleads the reader
// of a CI log; these say what happened.
func Describe(err error) string {
	var te *TLSError
	s := err.Error()
	switch {
	case errors.As(err, &te):
		return te.reason()
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrTLSHandshakeTimeout), strings.Contains(s, "i/o timeout"):
		return Timeout
	case strings.Contains(s, "connection refused"):
		return Refused
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return NoFreeConns
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return BodyTooLarge
	case isEOF(err), errors.Is(err, errStale), strings.Contains(s, "connection reset by peer"), strings.Contains(s, "broken pipe"):
		return Closed
	}
	return s
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.ErrUnexpectedEOF)
}
