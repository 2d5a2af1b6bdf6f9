package replay

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemproxy/tandem"
)

// The NDJSON format: one exchange per line, as `tandem export --format
// ndjson` writes it (README, "NDJSON"). Bodies are text, or base64 with
// body_encoding "base64" (as HAR does it), so that people and scripts can
// write the format by hand.

type ndjsonExchange struct {
	Time        time.Time           `json:"time,omitzero"`
	Endpoint    string              `json:"endpoint,omitempty"`
	Request     *ndjsonRequest      `json:"request"`
	Legacy      *ndjsonResponse     `json:"legacy,omitempty"`
	Candidate   *ndjsonResponse     `json:"candidate,omitempty"`
	Secondary   *ndjsonResponse     `json:"secondary,omitempty"`
	Outcome     tandem.Outcome      `json:"outcome,omitempty"`
	Differences []tandem.Difference `json:"differences,omitempty"`
	Error       string              `json:"error,omitempty"`
}

type ndjsonRequest struct {
	Method string         `json:"method"`
	URL    string         `json:"url"`
	Host   string         `json:"host,omitempty"`
	Header tandem.Headers `json:"headers,omitempty"`
	body
}

type ndjsonResponse struct {
	Status    int            `json:"status"`
	Header    tandem.Headers `json:"headers,omitempty"`
	LatencyMS float64        `json:"latency_ms,omitempty"`
	Error     string         `json:"error,omitempty"`
	body
	BodySize  int64  `json:"body_size,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	SHA256    string `json:"body_sha256,omitempty"`
}

// body is a body on the wire of a text format: text, or base64.
type body struct {
	Body     *string `json:"body,omitempty"`
	Encoding string  `json:"body_encoding,omitempty"`
}

func textBody(b []byte) body {
	if len(b) == 0 {
		return body{}
	}
	if utf8.Valid(b) {
		s := string(b)
		return body{Body: &s}
	}
	s := base64.StdEncoding.EncodeToString(b)
	return body{Body: &s, Encoding: "base64"}
}

func (b body) bytes() ([]byte, error) {
	if b.Body == nil {
		return nil, nil
	}
	switch b.Encoding {
	case "":
		return []byte(*b.Body), nil
	case "base64":
		d, err := base64.StdEncoding.DecodeString(*b.Body)
		if err != nil {
			return nil, fmt.Errorf("body is not base64: %w", err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("body_encoding %s: want base64 or none", quote(b.Encoding))
}

// WriteNDJSON writes an exchange as one line of NDJSON.
func WriteNDJSON(w io.Writer, ex *tandem.Exchange) error {
	line := ndjsonExchange{
		Time: ex.Time, Endpoint: ex.Endpoint, Outcome: ex.Outcome, Differences: ex.Differences, Error: ex.Error,
		Request: &ndjsonRequest{Method: ex.Request.Method, URL: ex.Request.URL, Host: ex.Request.Host,
			Header: ex.Request.Header, body: textBody(ex.Request.Body)},
		Legacy:    toNDJSON(&ex.Legacy),
		Candidate: toNDJSON(&ex.Candidate),
		Secondary: toNDJSON(ex.Secondary),
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("write ndjson: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func toNDJSON(r *tandem.Response) *ndjsonResponse {
	if r == nil {
		return nil
	}
	out := &ndjsonResponse{Status: r.Status, Header: r.Header, Error: r.Err,
		LatencyMS: float64(r.Latency.Microseconds()) / 1000, body: textBody(r.Body)}
	if r.Truncated {
		out.BodySize, out.Truncated, out.SHA256 = r.BodySize, true, r.BodyHash
	}
	return out
}

type ndjsonSource struct {
	name string
	r    *bufio.Reader
	c    io.Closer
	opts Options
	line int64
}

func newNDJSONSource(name string, r io.Reader, c io.Closer, opts Options) *ndjsonSource {
	return &ndjsonSource{name: name, r: bufio.NewReaderSize(r, 64<<10), c: c, opts: opts}
}

func (s *ndjsonSource) Close() error { return s.c.Close() }

func (s *ndjsonSource) Next() (*Record, error) {
	for {
		line, err := s.r.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: line %d: %w", s.name, s.line+1, err)
		}
		s.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // blank lines separate nothing
		}
		rec, perr := s.parse(line)
		if perr != nil {
			return nil, &InvalidError{File: s.name, Unit: "line", N: s.line, Err: perr}
		}
		return rec, nil
	}
}

func (s *ndjsonSource) parse(line []byte) (*Record, error) {
	var ex ndjsonExchange
	if err := json.Unmarshal(line, &ex); err != nil {
		return nil, jsonError(err)
	}
	if ex.Request == nil {
		return nil, errors.New(`no "request"`)
	}
	rec := &Record{N: s.line, Time: ex.Time}
	host, pq, err := target(ex.Request.URL)
	if err != nil {
		return nil, err
	}
	rec.Request = tandem.Request{Method: ex.Request.Method, URL: pq, Host: ex.Request.Host, Header: ex.Request.Header}
	if scheme, _, _ := strings.Cut(ex.Request.URL, ":"); scheme == "ws" || scheme == "wss" {
		rec.WebSocket = true // skipped by the runner, as HAR's are
	}
	if rec.Request.Host == "" {
		rec.Request.Host = host
	}
	if rec.Request.Body, err = ex.Request.bytes(); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if l := ex.Legacy; l != nil {
		resp := tandem.Response{Status: l.Status, Header: l.Header, Err: l.Error,
			Latency: time.Duration(l.LatencyMS * float64(time.Millisecond))}
		b, err := l.bytes()
		if err != nil {
			return nil, fmt.Errorf("legacy: %w", err)
		}
		keep(&resp, b, s.opts.maxBody(), false)
		if l.Truncated {
			if l.SHA256 == "" || l.BodySize <= 0 {
				return nil, errors.New("legacy: a truncated body needs body_size and body_sha256")
			}
			resp.Truncated, resp.BodySize, resp.BodyHash = true, l.BodySize, l.SHA256
		}
		// A recorded error is no answer: there is nothing to compare with.
		if resp.Err == "" {
			rec.Legacy = &resp
		}
	}
	if err := check(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// jsonError says what is wrong with a JSON document without Go's type names.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var ge *gzipError
	switch {
	case errors.As(err, &ge):
		return ge // the input, not its JSON
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.As(err, &se) && strings.HasPrefix(se.Error(), "unexpected end"):
		return errors.New("invalid JSON: unexpected end")
	case se != nil:
		// No offset: a streaming decoder's is not the file's.
		return fmt.Errorf("invalid JSON: %s", se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Errorf("%s: want %s, not a JSON %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	return fmt.Errorf("invalid JSON: %s", trimJSONPrefix(err.Error()))
}

func trimJSONPrefix(s string) string {
	if len(s) > 5 && s[:5] == "json:" {
		return s[6:]
	}
	return s
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "float64":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	case "bool":
		return "true or false"
	}
	return k
}
