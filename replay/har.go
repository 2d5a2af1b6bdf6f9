package replay

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tandemproxy/tandem"
)

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), the parts
// replay reads and export writes. Fields beginning with "_" are custom, as
// the spec allows: tandem writes the candidate's answer as _candidate.

type harCreator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

type harEntry struct {
	StartedDateTime string       `json:"startedDateTime"`
	Time            float64      `json:"time"`
	Request         harRequest   `json:"request"`
	Response        *harResponse `json:"response"`
	Cache           struct{}     `json:"cache"`
	Timings         harTimings   `json:"timings"`
	// tandem's own fields.
	Candidate   *harResponse        `json:"_candidate,omitempty"`
	Secondary   *harResponse        `json:"_secondary,omitempty"`
	Endpoint    string              `json:"_endpoint,omitempty"`
	Outcome     tandem.Outcome      `json:"_outcome,omitempty"`
	Differences []tandem.Difference `json:"_differences,omitempty"`
}

type harRequest struct {
	Method      string       `json:"method"`
	URL         string       `json:"url"`
	HTTPVersion string       `json:"httpVersion"`
	Cookies     []harNV      `json:"cookies"`
	Headers     []harNV      `json:"headers"`
	QueryString []harNV      `json:"queryString"`
	PostData    *harPostData `json:"postData,omitempty"`
	HeadersSize int64        `json:"headersSize"`
	BodySize    int64        `json:"bodySize"`
}

type harNV struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type harPostData struct {
	MimeType string  `json:"mimeType"`
	Text     string  `json:"text"`
	Params   []harNV `json:"params,omitempty"`
	Encoding string  `json:"_encoding,omitempty"` // "base64" for binary bodies (tandem's)
}

type harResponse struct {
	Status      int        `json:"status"`
	StatusText  string     `json:"statusText"`
	HTTPVersion string     `json:"httpVersion"`
	Cookies     []harNV    `json:"cookies"`
	Headers     []harNV    `json:"headers"`
	Content     harContent `json:"content"`
	RedirectURL string     `json:"redirectURL"`
	HeadersSize int64      `json:"headersSize"`
	BodySize    int64      `json:"bodySize"`
	Error       string     `json:"_error,omitempty"` // browsers: why a request failed (status 0)
	LatencyMS   float64    `json:"_latency_ms,omitempty"`
}

type harContent struct {
	Size     int64   `json:"size"`
	MimeType string  `json:"mimeType"`
	Text     *string `json:"text,omitempty"`
	Encoding string  `json:"encoding,omitempty"`
	// A body over the cap: its first bytes are in text, the whole one's
	// SHA-256 here (tandem's).
	Truncated bool   `json:"_truncated,omitempty"`
	SHA256    string `json:"_sha256,omitempty"`
}

type harTimings struct {
	Send    float64 `json:"send"`
	Wait    float64 `json:"wait"`
	Receive float64 `json:"receive"`
}

// harSource streams a HAR file: it walks to log.entries and decodes one
// entry at a time, so that a large export costs one entry of memory.
type harSource struct {
	name    string
	dec     *json.Decoder
	c       io.Closer
	opts    Options
	n       int64
	started bool
	done    bool
}

func newHARSource(name string, r io.Reader, c io.Closer, opts Options) *harSource {
	return &harSource{name: name, dec: json.NewDecoder(r), c: c, opts: opts}
}

func (s *harSource) Close() error { return s.c.Close() }

func (s *harSource) Next() (*Record, error) {
	if s.done {
		return nil, io.EOF
	}
	if !s.started {
		s.started = true
		if err := s.findEntries(); err != nil {
			s.done = true
			return nil, err
		}
	}
	if !s.dec.More() {
		s.done = true
		if err := s.finish(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	s.n++
	var e harEntry
	if err := s.dec.Decode(&e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// The decoder has read the whole entry: the next one can be read.
			return nil, s.invalid(jsonError(err))
		}
		// Bad JSON: where the next entry starts cannot be known.
		s.done = true
		return nil, fmt.Errorf("%s: entry %d: %w", s.name, s.n, jsonError(err))
	}
	rec, err := s.record(&e)
	if err != nil {
		return nil, s.invalid(err)
	}
	return rec, nil
}

func (s *harSource) invalid(err error) error {
	return &InvalidError{File: s.name, Unit: "entry", N: s.n, Err: err}
}

func (s *harSource) fatal(err error) error {
	return fmt.Errorf("%s: not a HAR file: %w", s.name, err)
}

// findEntries reads up to the first element of log.entries.
func (s *harSource) findEntries() error {
	if err := s.expectDelim('{', "the file"); err != nil {
		return err
	}
	if err := s.findKey("log"); err != nil {
		return err
	}
	if err := s.expectDelim('{', `"log"`); err != nil {
		return err
	}
	if err := s.findKey("entries"); err != nil {
		return err
	}
	return s.expectDelim('[', `"log.entries"`)
}

func (s *harSource) expectDelim(d json.Delim, what string) error {
	tok, err := s.dec.Token()
	if err != nil {
		return s.fatal(fmt.Errorf("%s: %w", what, jsonError(err)))
	}
	if tok != d {
		kind := map[json.Delim]string{'{': "an object", '[': "an array"}[d]
		return s.fatal(fmt.Errorf("%s is not %s", what, kind))
	}
	return nil
}

// findKey skips the members of the current object up to key.
func (s *harSource) findKey(key string) error {
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return s.fatal(jsonError(err))
		}
		if k, _ := tok.(string); k == key {
			return nil
		}
		var skip json.RawMessage
		if err := s.dec.Decode(&skip); err != nil {
			return s.fatal(jsonError(err))
		}
	}
	if key == "log" {
		return s.fatal(errors.New(`no "log" object`))
	}
	return s.fatal(fmt.Errorf(`no "log.%s" array`, key))
}

// finish reads what follows the entries, so that a file cut short after
// its last entry is an error, not a quiet success.
func (s *harSource) finish() error {
	for {
		_, err := s.dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: after the entries: %w", s.name, jsonError(err))
		}
	}
}

func (s *harSource) record(e *harEntry) (*Record, error) {
	rec := &Record{N: s.n}
	if e.StartedDateTime != "" {
		t, err := time.Parse(time.RFC3339Nano, e.StartedDateTime)
		if err != nil {
			return nil, fmt.Errorf("startedDateTime %s: want an ISO 8601 time", quote(e.StartedDateTime))
		}
		rec.Time = t
	}
	q := &e.Request
	host, pq, err := target(q.URL)
	if err != nil {
		return nil, err
	}
	rec.Request = tandem.Request{Method: q.Method, URL: pq, Host: host, Header: harHeaders(q.Headers)}
	if p := q.PostData; p != nil {
		if rec.Request.Body, err = p.bytes(); err != nil {
			return nil, err
		}
	}
	if r := e.Response; r != nil && r.Status != 0 && r.Error == "" {
		// Status 0 is how browsers record a request that got no answer
		// (blocked, aborted, failed): there is nothing to compare with.
		resp, ok, err := r.response(s.opts.maxBody())
		if err != nil {
			return nil, err
		}
		if ok {
			resp.Latency = time.Duration(e.Time * float64(time.Millisecond))
			rec.Legacy = resp
		}
	}
	if err := check(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// harHeaders converts HAR headers, leaving out HTTP/2 and HTTP/3
// pseudo-headers (":authority", ":path", …), which browsers export as
// headers but which are not headers of an HTTP/1.1 request.
func harHeaders(nvs []harNV) tandem.Headers {
	var h tandem.Headers
	for _, nv := range nvs {
		if !strings.HasPrefix(nv.Name, ":") {
			h = append(h, tandem.Header{Name: nv.Name, Value: nv.Value})
		}
	}
	return h
}

func (p *harPostData) bytes() ([]byte, error) {
	switch {
	case p.Encoding == "base64":
		b, err := base64.StdEncoding.DecodeString(p.Text)
		if err != nil {
			return nil, fmt.Errorf("request.postData is not base64: %w", err)
		}
		return b, nil
	case p.Text != "" || len(p.Params) == 0:
		return []byte(p.Text), nil
	}
	// HAR 1.2: text and params are alternatives; params are only usable
	// for URL-encoded forms (multipart parts lose their files).
	mt, _, _ := mime.ParseMediaType(p.MimeType)
	if mt != "application/x-www-form-urlencoded" {
		return nil, fmt.Errorf("request.postData has params but no text, and %s cannot be rebuilt from params", quote(p.MimeType))
	}
	v := url.Values{}
	for _, nv := range p.Params {
		v.Add(nv.Name, nv.Value)
	}
	return []byte(v.Encode()), nil
}

// response converts a recorded answer; ok is false when its body was not
// recorded (HAR exports may leave content.text out), as comparing with an
// empty body would report differences that are not there.
func (r *harResponse) response(max int) (*tandem.Response, bool, error) {
	resp := &tandem.Response{Status: r.Status, Header: harHeaders(r.Headers)}
	c := &r.Content
	if c.Text == nil {
		return resp, c.Size <= 0, nil
	}
	var body []byte
	switch c.Encoding {
	case "":
		body = []byte(*c.Text)
	case "base64":
		b, err := base64.StdEncoding.DecodeString(*c.Text)
		if err != nil {
			return nil, false, fmt.Errorf("response.content is not base64: %w", err)
		}
		body = b
	default:
		return nil, false, fmt.Errorf("response.content.encoding %s: want base64 or none", quote(c.Encoding))
	}
	keep(resp, body, max, false)
	if c.Truncated {
		if c.SHA256 == "" || c.Size <= 0 {
			return nil, false, errors.New("response.content: _truncated needs size and _sha256")
		}
		resp.Truncated, resp.BodySize, resp.BodyHash = true, c.Size, c.SHA256
	}
	return resp, true, nil
}

// HARWriter writes exchanges as a HAR 1.2 file, one entry at a time. The
// request and legacy's answer are the entry's request and response; the
// candidate's and secondary's answers are _candidate and _secondary.
type HARWriter struct {
	w   io.Writer
	n   int
	err error
}

// NewHARWriter starts a HAR file; version is tandem's, for log.creator.
func NewHARWriter(w io.Writer, version string) (*HARWriter, error) {
	head, err := json.Marshal(harCreator{Name: "tandem", Version: version})
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(w, "{\"log\": {\n\"version\": \"1.2\",\n\"creator\": %s,\n\"entries\": [\n", head)
	if err != nil {
		return nil, fmt.Errorf("write har: %w", err)
	}
	return &HARWriter{w: w}, nil
}

// Write adds an exchange.
func (h *HARWriter) Write(ex *tandem.Exchange) error {
	if h.err != nil {
		return h.err
	}
	e := harEntry{
		StartedDateTime: ex.Time.UTC().Format(time.RFC3339Nano),
		Time:            ms(ex.Legacy.Latency),
		Request:         harRequestOf(&ex.Request),
		Response:        harResponseOf(&ex.Legacy),
		Timings:         harTimings{Wait: ms(ex.Legacy.Latency)},
		Candidate:       harResponseOf(&ex.Candidate),
		Endpoint:        ex.Endpoint,
		Outcome:         ex.Outcome,
		Differences:     ex.Differences,
	}
	if ex.Secondary != nil {
		e.Secondary = harResponseOf(ex.Secondary)
	}
	b, err := json.Marshal(&e)
	if err != nil {
		h.err = fmt.Errorf("write har: %w", err)
		return h.err
	}
	sep := ""
	if h.n > 0 {
		sep = ",\n"
	}
	h.n++
	if _, err := fmt.Fprintf(h.w, "%s%s", sep, b); err != nil {
		h.err = fmt.Errorf("write har: %w", err)
	}
	return h.err
}

// Close ends the file (it does not close the underlying writer).
func (h *HARWriter) Close() error {
	if h.err != nil {
		return h.err
	}
	if _, err := io.WriteString(h.w, "\n]}}\n"); err != nil {
		return fmt.Errorf("write har: %w", err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func harNVs(h tandem.Headers) []harNV {
	out := make([]harNV, 0, len(h))
	for _, f := range h {
		out = append(out, harNV{Name: f.Name, Value: f.Value})
	}
	return out
}

func harRequestOf(r *tandem.Request) harRequest {
	host := r.Host
	if host == "" {
		host = "localhost" // HAR wants an absolute URL; the recording named no host
	}
	out := harRequest{Method: r.Method, URL: "http://" + host + r.URL, HTTPVersion: "HTTP/1.1",
		Cookies: []harNV{}, Headers: harNVs(r.Header), QueryString: []harNV{}, HeadersSize: -1, BodySize: int64(len(r.Body))}
	if _, q, ok := strings.Cut(r.URL, "?"); ok {
		// In order, which url.ParseQuery's map would lose.
		for _, kv := range strings.Split(q, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
			if k != "" {
				out.QueryString = append(out.QueryString, harNV{Name: k, Value: v})
			}
		}
	}
	if len(r.Body) > 0 {
		b := textBody(r.Body)
		out.PostData = &harPostData{MimeType: r.Header.Get("Content-Type"), Text: *b.Body, Encoding: b.Encoding}
	}
	return out
}

func harResponseOf(r *tandem.Response) *harResponse {
	// HAR viewers show statusText and follow redirectURL: the recording
	// has neither (HTTP/2 has no reason phrase), so they are derived.
	out := &harResponse{Status: r.Status, StatusText: http.StatusText(r.Status), HTTPVersion: "HTTP/1.1", Cookies: []harNV{},
		Headers: harNVs(r.Header), RedirectURL: r.Header.Get("Location"), HeadersSize: -1, BodySize: -1, Error: r.Err, LatencyMS: ms(r.Latency)}
	out.Content = harContent{Size: int64(len(r.Body)), MimeType: r.Header.Get("Content-Type")}
	if r.Err == "" {
		b := textBody(r.Body)
		if b.Body == nil {
			b.Body = new(string)
		}
		out.Content.Text, out.Content.Encoding = b.Body, b.Encoding
	}
	if r.Truncated {
		out.Content.Size, out.Content.Truncated, out.Content.SHA256 = r.BodySize, true, r.BodyHash
	}
	return out
}
