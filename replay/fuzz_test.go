package replay

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem/upstream"
)

// The fuzz targets feed anything to an importer. It must not panic, must
// end, must name the file in every error, and every record it accepts must
// be sendable as it is: the request a record makes parses back to the same
// method and target.

// seed adds the test files that match patterns, the small ones only: the
// fuzzer spends its time minimising large inputs instead of mutating.
func seed(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, err := filepath.Glob(filepath.Join("testdata", p))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			if len(b) <= 8<<10 {
				f.Add(b)
			}
		}
	}
}

func fuzzSource(t *testing.T, format Format, data []byte) {
	const name = "fuzz.input"
	src, err := NewSource(name, bytes.NewReader(data), format, Options{MaxBody: 64})
	if err != nil {
		if !strings.HasPrefix(err.Error(), name+": ") {
			t.Fatalf("error does not name the file: %v", err)
		}
		return
	}
	defer src.Close()
	up, err := newService("candidate", &url.URL{Scheme: "http", Host: "candidate.test:80"}, 1, time.Second, 64, false, upstream.TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Every call either consumes input or gives out what was read: far more
	// calls than input bytes (gzip aside) means a loop.
	limit := len(data)*64 + 1000
	for i := 0; i < limit; i++ {
		rec, err := src.Next()
		var inv *InvalidError
		switch {
		case errors.Is(err, io.EOF):
			return
		case errors.As(err, &inv):
			if inv.File != name || inv.N < 1 || inv.Err == nil {
				t.Fatalf("invalid record error without its place: %#v", inv)
			}
			continue
		case err != nil:
			if !strings.HasPrefix(err.Error(), name+": ") && !strings.HasPrefix(err.Error(), "read "+name+": ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if l := rec.Legacy; l != nil && len(l.Body) > 64 {
			t.Fatalf("record %d keeps %d bytes of a body capped at 64", rec.N, len(l.Body))
		}
		if !isWebSocket(rec) { // the runner skips these unsent (and unchecked)
			mustSend(t, up, rec)
		}
	}
	t.Fatalf("Next did not end after %d calls on %d bytes", limit, len(data))
}

// mustSend writes the request a record makes and parses it back.
func mustSend(t *testing.T, up *service, rec *Record) {
	t.Helper()
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	up.request(req, &rec.Request)
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := req.Write(w); err != nil {
		t.Fatalf("record %d (%s %q) cannot be written: %v", rec.N, rec.Request.Method, rec.Request.URL, err)
	}
	w.Flush()
	var back fasthttp.Request
	// A reader as large as the request: a recorded header may be larger
	// than fasthttp's default 4 KiB (the proxy reads with its own limit).
	if err := back.Read(bufio.NewReaderSize(&b, max(4096, b.Len()))); err != nil {
		t.Fatalf("record %d (%s %q) does not parse back: %v\n%q", rec.N, rec.Request.Method, rec.Request.URL, err, b.String())
	}
	// A fragment ("/a#b") is not part of a request target (RFC 9112
	// §3.2: clients never send it; a HAR may record it) and is not sent,
	// and fasthttp writes an empty query ("/a?") as none ("/a"): the two
	// changes a recorded target may see on its way (the upstream client
	// parses the URI to set its scheme).
	want := rec.Request.URL
	if i := strings.IndexByte(want, '#'); i >= 0 {
		want = want[:i]
	}
	if i := strings.IndexByte(want, '?'); i == len(want)-1 {
		want = want[:i]
	}
	if string(back.Header.Method()) != rec.Request.Method || string(back.Header.RequestURI()) != want {
		t.Fatalf("record %d: sent %s %q, parsed back %s %q", rec.N, rec.Request.Method, rec.Request.URL,
			back.Header.Method(), back.Header.RequestURI())
	}
}

func FuzzHAR(f *testing.F) {
	seed(f, "*.har", "corpus/*.har")
	f.Add([]byte(`{"log":{"entries":[{"request":{"method":"GET","url":"http://h/x"},"response":{"status":200,"content":{"text":"a"}}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzSource(t, HAR, data) })
}

func FuzzNDJSON(f *testing.F) {
	seed(f, "*.ndjson")
	f.Add([]byte(`{"request":{"method":"GET","url":"/"},"legacy":{"status":200,"body":"AA==","body_encoding":"base64"}}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzSource(t, NDJSON, data) })
}

func FuzzGor(f *testing.F) {
	seed(f, "*.gor", "*.gor.gz", "corpus/*.gor")
	f.Add([]byte("1 a 1 -1\nGET / HTTP/1.1\r\nHost: h\r\n\r\n\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n" +
		"2 a 2 5\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzSource(t, Gor, data) })
}
