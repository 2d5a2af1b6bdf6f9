package replay

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// GoReplay's file format (what `gor --output-file` writes): records
// separated by the line 🐵🙈🙉. Each record is a header line
// "TYPE ID TIMESTAMP_NS [LATENCY_NS]" and the raw HTTP/1.x message as
// captured. Type 1 is a request, 2 the original response, 3 the response to
// a replay; a response has its request's ID. Older versions write three
// fields; latency may be -1 (unknown).

// gorSeparator is "\n🐵🙈🙉\n".
var gorSeparator = []byte("\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n")

// Limits of the GoReplay reader.
const (
	// gorMaxRecord bounds one record (GoReplay's own limit on a captured
	// payload is far lower).
	gorMaxRecord = 64 << 20
	// gorWindow is how many records a request waits for its response
	// before it is given up as unanswered: responses follow their request
	// closely, but not always immediately (GoReplay writes concurrently).
	gorWindow = 1024
)

type gorHeader struct {
	Type    byte // '1', '2' or '3'
	ID      string
	Time    time.Time
	Latency time.Duration // < 0: unknown
}

func parseGorHeader(line string) (gorHeader, error) {
	var h gorHeader
	f := strings.Split(line, " ")
	if len(f) != 3 && len(f) != 4 {
		return h, fmt.Errorf("header %s: want TYPE ID TIMESTAMP [LATENCY]", quote(line))
	}
	if len(f[0]) != 1 || f[0][0] < '1' || f[0][0] > '3' {
		return h, fmt.Errorf("header %s: type %s: want 1 (request), 2 (response) or 3 (replayed response)", quote(line), quote(f[0]))
	}
	h.Type = f[0][0]
	if f[1] == "" {
		return h, fmt.Errorf("header %s: no ID", quote(line))
	}
	h.ID = f[1]
	ts, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || ts < 0 {
		return h, fmt.Errorf("header %s: timestamp %s: want nanoseconds since 1970", quote(line), quote(f[2]))
	}
	h.Time = time.Unix(0, ts)
	h.Latency = -1
	if len(f) == 4 {
		l, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil || l < -1 {
			return h, fmt.Errorf("header %s: latency %s: want nanoseconds or -1", quote(line), quote(f[3]))
		}
		h.Latency = time.Duration(l)
	}
	return h, nil
}

// gorPending is a request read and not yet given out, or a bad record
// whose error waits for its turn.
type gorPending struct {
	rec      *Record
	id       string
	answered bool
	err      error
}

type gorSource struct {
	name    string
	sc      *bufio.Scanner
	c       io.Closer
	opts    Options
	n       int64
	eof     bool
	tail    bool // the record read last ended without a separator
	pending []*gorPending
	byID    map[string][]*gorPending // unanswered requests by ID
	early   map[string]gorRaw        // responses read before their request
}

// gorRaw is a response kept until its request (and so its method) is known.
type gorRaw struct {
	n       int64
	hdr     gorHeader
	payload []byte
}

func newGorSource(name string, r io.Reader, c io.Closer, opts Options) *gorSource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), gorMaxRecord+len(gorSeparator))
	s := &gorSource{name: name, sc: sc, c: c, opts: opts, byID: map[string][]*gorPending{}, early: map[string]gorRaw{}}
	sc.Split(s.split)
	return s
}

func (s *gorSource) split(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.Index(data, gorSeparator); i >= 0 {
		return i + len(gorSeparator), data[:i], nil
	}
	if atEOF && len(data) > 0 {
		// GoReplay ends every record with the separator; a file cut short
		// ends without it (or without its last newline).
		s.tail = true
		return len(data), bytes.TrimSuffix(data, gorSeparator[:len(gorSeparator)-1]), nil
	}
	return 0, nil, nil
}

func (s *gorSource) Close() error { return s.c.Close() }

func (s *gorSource) Next() (*Record, error) {
	for {
		if len(s.pending) > 0 {
			p := s.pending[0]
			if p.answered || p.err != nil || s.eof || len(s.pending) > gorWindow {
				s.pending = s.pending[1:]
				s.forget(p)
				if p.err != nil {
					return nil, p.err
				}
				return p.rec, nil
			}
		}
		if s.eof {
			return nil, io.EOF
		}
		if err := s.read(); err != nil {
			return nil, err
		}
	}
}

// read reads one record and files it.
func (s *gorSource) read() error {
	if !s.sc.Scan() {
		s.eof = true
		if err := s.sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				return fmt.Errorf("%s: record %d is longer than %d MiB", s.name, s.n+1, gorMaxRecord>>20)
			}
			return fmt.Errorf("read %s: record %d: %w", s.name, s.n+1, err)
		}
		return nil
	}
	data := s.sc.Bytes()
	if s.tail {
		// The last record, without its separator: a file cut short, or one
		// whose reading failed (gzip data cut short), which is then the
		// error rather than a record cut short.
		data = bytes.Clone(data)
		if !s.sc.Scan() && s.sc.Err() != nil {
			s.eof = true
			return fmt.Errorf("read %s: record %d: %w", s.name, s.n+1, s.sc.Err())
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil // the end of the file after the last separator
	}
	s.n++
	line, payload, _ := bytes.Cut(data, []byte("\n"))
	h, err := parseGorHeader(strings.TrimSuffix(string(line), "\r"))
	if err != nil {
		s.pending = append(s.pending, &gorPending{err: s.invalid(s.n, err)})
		return nil
	}
	switch h.Type {
	case '1':
		p := &gorPending{id: h.ID}
		p.rec, err = s.request(h, payload)
		if err != nil {
			p.err = s.invalid(s.n, err)
		}
		s.pending = append(s.pending, p)
		if p.err != nil {
			return nil
		}
		if raw, ok := s.early[h.ID]; ok {
			delete(s.early, h.ID)
			s.attach(p, raw)
			return nil
		}
		s.byID[h.ID] = append(s.byID[h.ID], p)
	case '2':
		raw := gorRaw{n: s.n, hdr: h, payload: bytes.Clone(payload)}
		if ps := s.byID[h.ID]; len(ps) > 0 {
			s.byID[h.ID] = ps[1:]
			s.attach(ps[0], raw)
			return nil
		}
		if len(s.early) < gorWindow {
			s.early[h.ID] = raw
		}
	}
	// Type 3 is the answer of a replay GoReplay made, not legacy's: not used.
	return nil
}

func (s *gorSource) invalid(n int64, err error) error {
	return &InvalidError{File: s.name, Unit: "record", N: n, Err: err}
}

// forget drops a request given out from the unanswered index.
func (s *gorSource) forget(p *gorPending) {
	if p.answered || p.id == "" {
		return
	}
	ps := s.byID[p.id]
	for i, q := range ps {
		if q == p {
			s.byID[p.id] = append(ps[:i:i], ps[i+1:]...)
			break
		}
	}
	if len(s.byID[p.id]) == 0 {
		delete(s.byID, p.id)
	}
}

// attach parses a response now that its request's method is known (the
// answer to HEAD has no body, whatever its Content-Length says).
func (s *gorSource) attach(p *gorPending, raw gorRaw) {
	p.answered = true
	var resp fasthttp.Response
	resp.Header.DisableNormalizing()
	resp.Header.SetNoDefaultContentType(true)
	resp.SkipBody = p.rec.Request.Method == fasthttp.MethodHead
	payload, err := crlf(raw.payload, resp.SkipBody)
	if err != nil {
		p.err = s.invalid(raw.n, fmt.Errorf("response to record %d: %w", p.rec.N, err))
		return
	}
	if err := resp.ReadLimitBody(bufio.NewReader(bytes.NewReader(payload)), bodyLimit(payload)); err != nil {
		p.err = s.invalid(raw.n, fmt.Errorf("response to record %d: %w", p.rec.N, httpError(err)))
		return
	}
	a := answer(&resp, s.opts.maxBody())
	if raw.hdr.Latency >= 0 {
		a.Latency = raw.hdr.Latency
	}
	p.rec.Legacy = &a
	if err := check(p.rec); err != nil {
		p.err = s.invalid(raw.n, fmt.Errorf("response to record %d: %w", p.rec.N, err))
	}
}

func (s *gorSource) request(h gorHeader, payload []byte) (*Record, error) {
	payload, err := crlf(payload, false)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	br := bufio.NewReader(bytes.NewReader(payload))
	err = req.ReadLimitBody(br, bodyLimit(payload))
	if err == nil && req.MayContinue() {
		// The capture holds what the client sent after the server's 100.
		err = req.ContinueReadBody(br, bodyLimit(payload))
	}
	if err != nil {
		return nil, fmt.Errorf("request: %w", httpError(err))
	}
	host, pq, err := target(string(req.Header.RequestURI()))
	if err != nil {
		return nil, err
	}
	rec := &Record{N: s.n, Time: h.Time}
	rec.Request.Method = string(req.Header.Method())
	rec.Request.URL = pq
	rec.Request.Host = string(req.Header.Host())
	if rec.Request.Host == "" {
		rec.Request.Host = host
	}
	for k, v := range req.Header.All() {
		rec.Request.Header = append(rec.Request.Header, tandemHeader(k, v))
	}
	rec.Request.Body = bytes.Clone(req.Body())
	if err := check(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// bodyLimit bounds the body of a captured message by the capture's size:
// fasthttp allocates what Content-Length announces before reading, and a
// record announcing gigabytes would cost gigabytes (and seconds).
func bodyLimit(payload []byte) int { return len(payload) + 1 }

// httpError shortens fasthttp's parse errors, which end with a dump of the
// buffer they were reading.
func httpError(err error) error {
	s := err.Error()
	if i := strings.Index(s, ": buffer size="); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "error when reading request headers: "), "error when reading response headers: ")
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fasthttp.ErrBodyTooLarge) || s == "unexpected EOF" {
		return errors.New("the message is cut short (fewer body bytes than it announces)")
	}
	if errors.Is(err, io.EOF) {
		return errors.New("no HTTP message")
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return errors.New(s)
}
