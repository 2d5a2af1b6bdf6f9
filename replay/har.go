package replay

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
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
	// Chrome's: a WebSocket's frames.
	WebSocketMessages json.RawMessage `json:"_webSocketMessages,omitempty"`
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
	// Size is required by HAR 1.2, but Firefox leaves it out when it
	// exports without bodies: nil is not recorded.
	Size     *int64  `json:"size"`
	MimeType string  `json:"mimeType"`
	Text     *string `json:"text,omitempty"`
	Encoding string  `json:"encoding,omitempty"`
	// Playwright (recordHar with content: "attach", or a .zip unpacked) keeps
	// a body in a file beside the HAR, named here.
	File string `json:"_file,omitempty"`
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
	dir     string // where the file is, for Playwright's _file bodies; "" if not a file
	n       int64
	started bool
	done    bool
}

func newHARSource(name string, r io.Reader, c io.Closer, opts Options) *harSource {
	s := &harSource{name: name, dec: json.NewDecoder(r), c: c, opts: opts}
	// Bodies kept in files are found beside the HAR; a source that is not
	// a file has no such directory, and its _file bodies are unknown.
	if st, err := os.Stat(name); err == nil && st.Mode().IsRegular() {
		s.dir = filepath.Dir(name)
	}
	return s
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

// harTimeLayouts are the forms of startedDateTime that are read. HAR 1.2
// asks for ISO 8601 as W3C's profile of it writes it (YYYY-MM-DDThh:mm:ss.sTZD,
// and its examples go down to hh:mm); producers also write ISO 8601's basic
// offset (+0200) and an hour alone (+02). Go's ".999999999" makes the
// fraction optional and takes any number of digits up to nine (Fiddler
// writes seven).
var harTimeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
}

func parseHARTime(v string) (time.Time, error) {
	for _, l := range harTimeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("startedDateTime %s: want an ISO 8601 time with its offset (2024-05-01T12:00:00.000+02:00)", quote(v))
}

func (s *harSource) record(e *harEntry) (*Record, error) {
	rec := &Record{N: s.n}
	if e.StartedDateTime != "" {
		t, err := parseHARTime(e.StartedDateTime)
		if err != nil {
			return nil, err
		}
		rec.Time = t
	}
	q := &e.Request
	host, pq, err := target(q.URL)
	if err != nil {
		return nil, err
	}
	rec.Request = tandem.Request{Method: q.Method, URL: pq, Host: host, Header: harHeaders(q.Headers)}
	scheme, _, _ := strings.Cut(q.URL, ":")
	// Not _resourceType: recordings say "websocket" of plain answers too
	// (msw's 304 fixture); the runner also skips status 101 and Upgrade.
	if scheme == "ws" || scheme == "wss" || len(e.WebSocketMessages) > 0 {
		// Nothing of it can be replayed as an HTTP exchange: the runner
		// counts it as skipped. Its frames are not checked.
		rec.WebSocket = true
		return rec, nil
	}
	if p := q.PostData; p != nil {
		if rec.Request.Body, err = p.bytes(); err != nil {
			return nil, err
		}
	}
	if r := e.Response; r != nil && r.Status != 0 && r.Error == "" {
		// Status 0 is how browsers record a request that got no answer
		// (blocked, aborted, failed): there is nothing to compare with.
		resp, known, err := r.response(s.opts.maxBody(), s.dir)
		if err != nil {
			return nil, err
		}
		resp.Latency = time.Duration(e.Time * float64(time.Millisecond))
		rec.Legacy, rec.BodyUnknown = resp, !known
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
		b, err := decodeBase64(p.Text)
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

// response converts a recorded answer; known is false when its body was
// not recorded, as comparing it with an empty body would report
// differences that are not there: content.text left out (Firefox's
// "Response bodies are not included.", Polly.JS for bodies it did not
// keep) with a size that is not 0, a Playwright _file that is not beside
// the HAR, or a content.encoding that says nothing this reader can decode.
func (r *harResponse) response(max int, dir string) (resp *tandem.Response, known bool, err error) {
	resp = &tandem.Response{Status: r.Status, Header: harHeaders(r.Headers)}
	c := &r.Content
	var body []byte
	switch {
	case c.Text != nil:
		var ok bool
		if body, ok, err = harText(*c.Text, c.Encoding); err != nil || !ok {
			return resp, false, err
		}
	case c.File != "":
		if body, err = harFile(dir, c.File); err != nil || body == nil {
			return resp, false, err
		}
	case c.Size == nil || *c.Size != 0:
		return resp, false, nil
	}
	keep(resp, body, max, undecodable(resp.Header.Get("Content-Encoding")))
	if c.Truncated {
		if c.SHA256 == "" || c.Size == nil || *c.Size <= 0 {
			return nil, false, errors.New("response.content: _truncated needs size and _sha256")
		}
		resp.Truncated, resp.BodySize, resp.BodyHash = true, *c.Size, c.SHA256
	}
	return resp, true, nil
}

// undecodable reports whether a Content-Encoding names something other
// than the codings the replay client decodes (gzip, deflate, br, zstd; see
// answer): the candidate's body then stays as received and is compared by
// hash, and the recorded one (which a browser could not decode either) is
// kept the same way, or a faithful candidate would differ from it.
// mitmproxy's corpus has a server that sends "content-encoding: UTF-8".
func undecodable(ce string) bool {
	switch strings.ToLower(strings.TrimSpace(ce)) {
	case "", "gzip", "deflate", "br", "zstd":
		return false
	}
	return true
}

// harText decodes content.text. HAR 1.2 names one encoding, "base64", and
// says to leave the field out when the text is the decoded body; producers
// also name the text's character set there ("utf-8", "utf8"), which the
// JSON string already is. ok is false for an encoding that cannot be
// decoded here (say "gzip"): the body is then unknown, not wrong.
func harText(text, encoding string) (body []byte, ok bool, err error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "utf-8", "utf8", "identity", "none", "text", "us-ascii", "ascii":
		return []byte(text), true, nil
	case "base64":
		b, err := decodeBase64(text)
		if err != nil {
			return nil, false, fmt.Errorf("response.content.text is not base64: %w", err)
		}
		return b, true, nil
	}
	return nil, false, nil
}

// decodeBase64 reads standard base64, with or without padding, with line
// breaks (MIME's 76-column lines), or in its URL-safe alphabet.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	compact := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err2 := enc.DecodeString(compact); err2 == nil {
			return b, nil
		}
	}
	return nil, err
}

// maxHARFile bounds a body file read from beside a HAR: larger ones are
// compared by hash anyway, and the cap keeps a bad name from reading a
// disk image.
const maxHARFile = 256 << 20

// harFile reads a Playwright body file (content._file) from dir: nil, nil
// when it is not there (the HAR was copied without its files), so that
// the body is unknown. The name must be a plain file name, as Playwright
// writes it (the SHA-1 of the body and an extension): a path could read
// anything on the disk.
func harFile(dir, name string) ([]byte, error) {
	if dir == "" {
		return nil, nil
	}
	if name != filepath.Base(name) || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return nil, fmt.Errorf("response.content._file %s: want a file name beside the HAR, not a path", quote(name))
	}
	f, err := os.Open(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("response.content._file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHARFile+1))
	if err != nil {
		return nil, fmt.Errorf("response.content._file: read %s: %w", name, err)
	}
	if len(b) > maxHARFile {
		return nil, fmt.Errorf("response.content._file %s is larger than %d MiB", quote(name), maxHARFile>>20)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
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
	size := int64(len(r.Body))
	out.Content = harContent{Size: &size, MimeType: r.Header.Get("Content-Type")}
	if r.Err == "" {
		b := textBody(r.Body)
		if b.Body == nil {
			b.Body = new(string)
		}
		out.Content.Text, out.Content.Encoding = b.Body, b.Encoding
	}
	if r.Truncated {
		size = r.BodySize
		out.Content.Truncated, out.Content.SHA256 = true, r.BodyHash
	}
	return out
}
