// Package replay reads recorded traffic (a tandem database, HAR 1.2, NDJSON
// or GoReplay files) and replays it against a candidate: against a live
// legacy as the proxy would, or against legacy's recorded answers (golden
// mode). It owns the import and export formats and the replay engine
// (concurrency, rate limit, per-endpoint order, progress); comparing,
// naming endpoints and storing are left to diff, rules and store.
package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// Record is one request read from a source, with legacy's answer when the
// source recorded one.
type Record struct {
	// N is where the record is in its source, counted as the source counts
	// (a record of a .gor file, a line of NDJSON, an entry of a HAR file, an
	// exchange id of a database), for messages.
	N       int64
	Time    time.Time // when it was recorded; zero when unknown
	Request tandem.Request
	// Legacy is the recorded answer; nil when the source has none (a HAR
	// entry that failed in the browser, a .gor request whose response was
	// not captured).
	Legacy *tandem.Response
	// BodyUnknown is set when the source recorded legacy's answer but not
	// its body (a HAR exported without bodies, a body kept in a file that
	// is not there): the answer is compared by status and headers only,
	// as an empty body would differ from every real one.
	BodyUnknown bool
	// WebSocket is set when the record opened a WebSocket (a ws:// or
	// wss:// URL, status 101, recorded messages): replay sends HTTP
	// exchanges only, so it is skipped and counted.
	WebSocket bool
}

// Source is recorded traffic, read one record at a time.
type Source interface {
	// Next returns the next record, or io.EOF at the end. An *InvalidError
	// is a bad record: Next may be called again to go on past it. Any other
	// error ends the source.
	Next() (*Record, error)
	Close() error
}

// InvalidError is a record that cannot be replayed. It names the file, the
// record and what is wrong.
type InvalidError struct {
	File string
	Unit string // "record", "line", "entry"
	N    int64
	Err  error
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: %s %d: %v", e.File, e.Unit, e.N, e.Err)
}

func (e *InvalidError) Unwrap() error { return e.Err }

// Format is a kind of source.
type Format string

// Formats.
const (
	DB     Format = "db"     // a tandem database (tandem proxy --record all)
	HAR    Format = "har"    // HTTP Archive 1.2
	NDJSON Format = "ndjson" // one exchange per line (README, "NDJSON")
	Gor    Format = "gor"    // GoReplay's file output
)

// Formats lists the formats, for messages.
const Formats = "db, har, ndjson or gor"

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case DB, HAR, NDJSON, Gor:
		return f, nil
	}
	return "", fmt.Errorf("--format %q: want %s", s, Formats)
}

// Options are the settings a file source reads with.
type Options struct {
	// MaxBody caps the bytes of a recorded body that are kept, as the proxy
	// caps live ones: larger bodies keep their first MaxBody bytes with the
	// size and SHA-256 of the whole. 0 means DefaultMaxBody.
	MaxBody int
}

// DefaultMaxBody is the body cap when none is given (the proxy's).
const DefaultMaxBody = 4 << 20

func (o Options) maxBody() int {
	if o.MaxBody <= 0 {
		return DefaultMaxBody
	}
	return o.MaxBody
}

var sqliteMagic = []byte("SQLite format 3\x00")

// Detect names the format of the file at path: by its extension when it has
// a known one (.har, .ndjson, .jsonl, .gor, .db, .sqlite, each optionally
// followed by .gz), otherwise by its first bytes.
func Detect(path string) (Format, error) {
	if store.IsURL(path) {
		return DB, nil
	}
	name := strings.TrimSuffix(strings.ToLower(filepath.Base(path)), ".gz")
	switch filepath.Ext(name) {
	case ".har":
		return HAR, nil
	case ".ndjson", ".jsonl":
		return NDJSON, nil
	case ".gor":
		return Gor, nil
	case ".db", ".sqlite", ".sqlite3":
		return DB, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err // "open PATH: …" already
	}
	defer f.Close()
	r, err := decompress(f, path)
	if err != nil {
		return "", err
	}
	head := make([]byte, 4096)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if f, ok := sniff(head[:n]); ok {
		return f, nil
	}
	return "", fmt.Errorf("%s: cannot tell its format from its name or content: pass --format %s", path, strings.ReplaceAll(Formats, ",", " |"))
}

// sniff recognises a format from a file's first bytes.
func sniff(head []byte) (Format, bool) {
	if bytes.HasPrefix(head, sqliteMagic) {
		return DB, true
	}
	if _, err := parseGorHeader(firstLine(head)); err == nil {
		return Gor, true
	}
	trimmed := bytes.TrimLeft(head, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		// A HAR file is one object whose first key is "log"; an NDJSON line
		// is an exchange, which has no such key.
		rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
		if bytes.HasPrefix(rest, []byte(`"log"`)) {
			return HAR, true
		}
		return NDJSON, true
	}
	return "", false
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// OpenFile opens a file source of the given format (HAR, NDJSON or Gor; a
// database is opened with NewDBSource). A name ending in .gz, or content
// starting with gzip's magic number, is decompressed.
func OpenFile(path string, f Format, opts Options) (Source, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err // "open PATH: …" already
	}
	s, err := NewSource(path, file, f, opts)
	if err != nil {
		file.Close()
		return nil, err
	}
	return s, nil
}

// NewSource reads a source of the given format (HAR, NDJSON or Gor) from
// r, decompressing it when it is gzip; name names it in messages. Closing
// the source closes r when r is an io.Closer.
func NewSource(name string, r io.Reader, f Format, opts Options) (Source, error) {
	c, ok := r.(io.Closer)
	if !ok {
		c = io.NopCloser(nil)
	}
	dr, err := decompress(r, name)
	if err != nil {
		return nil, err
	}
	switch f {
	case HAR:
		return newHARSource(name, skipBOM(dr), c, opts), nil
	case NDJSON:
		return newNDJSONSource(name, skipBOM(dr), c, opts), nil
	case Gor:
		return newGorSource(name, dr, c, opts), nil
	}
	return nil, fmt.Errorf("%s: format %q is not a file format (want har, ndjson or gor)", name, f)
}

// decompress returns a reader of f's content: gunzipped when the name ends
// in .gz or the content starts with gzip's magic number.
func decompress(f io.Reader, path string) (io.Reader, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(2)
	isGzip := len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if !isGzip {
		if strings.HasSuffix(strings.ToLower(path), ".gz") {
			return nil, fmt.Errorf("%s: the name ends in .gz but the content is not gzip", path)
		}
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%s: gzip: %w", path, err)
	}
	return bufio.NewReaderSize(gzipReader{zr}, 64<<10), nil
}

// utf8BOM is the UTF-8 encoding of U+FEFF. Windows tools (Fiddler,
// PowerShell's Out-File, Notepad) start text files with it; RFC 8259 §8.1
// lets a JSON parser ignore it, and encoding/json does not.
var utf8BOM = []byte("\xef\xbb\xbf")

// skipBOM drops a byte-order mark at the start of r.
func skipBOM(r io.Reader) io.Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		br.Discard(len(utf8BOM))
	}
	return br
}

// gzipReader says what is wrong when compressed input breaks off or is
// corrupt, instead of io.ErrUnexpectedEOF, which the parsers above it
// would take for a record of theirs cut short.
type gzipReader struct{ r io.Reader }

func (g gzipReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &gzipError{err}
	}
	return n, err
}

// gzipError is gzip-compressed input that cannot be read to its end.
type gzipError struct{ Err error }

func (e *gzipError) Error() string {
	if errors.Is(e.Err, io.ErrUnexpectedEOF) {
		return "the gzip data is cut short"
	}
	return "the gzip data is corrupt: " + strings.TrimPrefix(e.Err.Error(), "gzip: ")
}

func (e *gzipError) Unwrap() error { return e.Err }

// Counts are what Scan found in a source.
type Counts struct {
	Records int64 // valid records
	Invalid int64 // records skipped as invalid
}

// Scan reads a source to its end, checking every record, and counts them:
// what replay does before it sends anything, so that bad input stops it
// before any request is sent, and so that progress knows the total. An
// invalid record is an error unless skipInvalid; other errors always are.
// A database is read whole too (its length is known without reading it,
// but not whether every stored request can be sent again).
func Scan(src Source, skipInvalid bool) (Counts, error) {
	var c Counts
	for {
		_, err := src.Next()
		var inv *InvalidError
		switch {
		case err == nil:
			c.Records++
		case errors.Is(err, io.EOF):
			return c, nil
		case errors.As(err, &inv) && skipInvalid:
			c.Invalid++
		default:
			return c, err
		}
	}
}

// target splits a request target as recorded (origin form "/path?q", or an
// absolute URL as HAR files and some recordings have) into the host it
// names and the path and query sent on the request line.
func target(raw string) (host, pathQuery string, err error) {
	if raw == "*" || strings.HasPrefix(raw, "/") {
		return "", raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil || !webScheme[u.Scheme] || u.Host == "" {
		return "", "", fmt.Errorf("url %s: want /path?query or http://host/path?query", quote(raw))
	}
	return u.Host, u.RequestURI(), nil
}

// webScheme lists the URL schemes a recorded request may have: ws and wss
// are a WebSocket's handshake (RFC 6455 §3), an HTTP GET that replay skips.
var webScheme = map[string]bool{"http": true, "https": true, "ws": true, "wss": true}

// isWebSocket reports whether a record is a WebSocket handshake: its URL
// was ws:// or wss://, legacy switched protocols (101), or the request
// asked to upgrade to websocket (RFC 6455 §4.1).
func isWebSocket(rec *Record) bool {
	if rec.WebSocket || rec.Legacy != nil && rec.Legacy.Status == 101 {
		return true
	}
	for _, f := range rec.Request.Header {
		if strings.EqualFold(f.Name, "Upgrade") && strings.Contains(strings.ToLower(f.Value), "websocket") {
			return true
		}
	}
	return false
}

// check rejects what no HTTP/1.1 request line or header block can carry, so
// that a bad record is named at import instead of failing at send time.
func check(rec *Record) error {
	r := &rec.Request
	if r.Method == "" {
		return errors.New("no method")
	}
	if !isToken(r.Method) {
		return fmt.Errorf("method %s is not an HTTP token", quote(r.Method))
	}
	if r.URL == "" {
		return errors.New("no url")
	}
	if r.URL != "*" && !strings.HasPrefix(r.URL, "/") {
		return fmt.Errorf("url %s: want /path?query", quote(r.URL))
	}
	if r.URL == "*" && r.Method != "OPTIONS" {
		// RFC 9112 §3.2.4: the asterisk form is for OPTIONS only.
		return fmt.Errorf("url \"*\" with method %s: only OPTIONS * is a request", quote(r.Method))
	}
	if i := strings.IndexFunc(r.URL, func(c rune) bool { return c <= ' ' || c == 0x7f }); i >= 0 {
		return fmt.Errorf("url %s has a space or control character", quote(r.URL))
	}
	if r.Host != "" && !validHost(r.Host) {
		return fmt.Errorf("host %s is not a host", quote(r.Host))
	}
	if err := checkHeaders("request", r.Header); err != nil {
		return err
	}
	if l := rec.Legacy; l != nil {
		if l.Status < 100 || l.Status > 999 {
			return fmt.Errorf("response status %d: want 100 to 999", l.Status)
		}
		if err := checkHeaders("response", l.Header); err != nil {
			return err
		}
	}
	return nil
}

func checkHeaders(side string, h tandem.Headers) error {
	for _, f := range h {
		if !isToken(f.Name) {
			return fmt.Errorf("%s header name %s is not an HTTP token", side, quote(f.Name))
		}
		if strings.ContainsAny(f.Value, "\r\n\x00") {
			return fmt.Errorf("%s header %s has a line break in its value", side, f.Name)
		}
		// RFC 9110 §5.5: a field value has no control character but HTAB,
		// and servers (fasthttp among them) refuse a request with one. A
		// recorded response's headers are never sent, so they may.
		if side == "request" && strings.IndexFunc(f.Value, func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }) >= 0 {
			return fmt.Errorf("%s header %s has a control character in its value", side, f.Name)
		}
	}
	return nil
}

// validHost reports whether s is a Host field value (RFC 9110 §7.2): a
// registered name or IPv4 address (RFC 3986 reg-name: unreserved,
// sub-delims and %-escapes) or a bracketed IP literal, then an optional
// :port. What is not ("::04:2.it") is written and parsed back as another
// request, whose path fasthttp loses.
func validHost(s string) bool {
	name, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || strings.Trim(s[1:end], "0123456789abcdefABCDEF:.") != "" {
			return false
		}
		name, port = "", s[end+1:]
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name, port = s[:i], s[i:]
		if name == "" {
			return false
		}
	}
	if port != "" && (port[0] != ':' || strings.Trim(port[1:], "0123456789") != "") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=%", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 §5.6.2 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// quote quotes s for a message, shortened: input can be anything.
func quote(s string) string {
	const max = 60
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
