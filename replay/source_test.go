package replay_test

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/replay"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s differs (-want +got); run go test -update if the change is right:\n%s", path, d)
	}
}

// describe reads a source to its end and writes down every record and
// every error as the user would see them.
func describe(src replay.Source) string {
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		rec, err := src.Next()
		var inv *replay.InvalidError
		switch {
		case errors.Is(err, io.EOF):
			b.WriteString("EOF\n")
			return b.String()
		case errors.As(err, &inv):
			fmt.Fprintf(&b, "invalid: %v\n", err)
			continue
		case err != nil:
			fmt.Fprintf(&b, "error: %v\n", err)
			return b.String()
		}
		r := &rec.Request
		var names []string
		for _, h := range r.Header {
			names = append(names, h.Name)
		}
		fmt.Fprintf(&b, "%d %s %s %s host=%q headers=[%s] body=%s\n", rec.N, rec.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
			r.Method, r.URL, r.Host, strings.Join(names, " "), digest(r.Body))
		if rec.WebSocket {
			b.WriteString("  websocket\n")
			continue
		}
		if l := rec.Legacy; l != nil {
			body := digest(l.Body)
			if rec.BodyUnknown {
				body = "unknown"
			}
			fmt.Fprintf(&b, "  legacy %d %q body=%s", l.Status, l.Header.Get("Content-Type"), body)
			if l.Truncated {
				fmt.Fprintf(&b, " truncated size=%d sha256=%.12s", l.BodySize, l.BodyHash)
			}
			fmt.Fprintf(&b, " latency=%s\n", l.Latency)
		} else {
			b.WriteString("  legacy: not recorded\n")
		}
	}
	b.WriteString("too many records\n")
	return b.String()
}

func digest(b []byte) string {
	if len(b) == 0 {
		return "0"
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d:%x", len(b), sum[:4])
}

// TestOpenFile reads every file of testdata, good and broken, and compares
// what it makes of each (records, or the exact error) with a golden file.
func TestOpenFile(t *testing.T) {
	tests := []struct {
		file   string
		format replay.Format // "" detects it
		opts   replay.Options
	}{
		{file: "github.har"},
		{file: "bad-entries.har"},
		{file: "bad-truncated.har"},
		{file: "bad-not-har.har"},
		{file: "github.ndjson"},
		{file: "bad.ndjson"},
		{file: "github.gor"},
		{file: "github.gor.gz"},
		{file: "bad.gor"},
		{file: "bad-not-gzip.gor.gz", format: replay.Gor},
		// Compressed files cut short or corrupt: what the gzip data lacks is
		// said, not taken for a record cut short.
		{file: "bad-cut.gor.gz"},
		{file: "bad-cut.ndjson.gz"},
		{file: "bad-corrupt.har.gz"},
		// A small cap keeps the first bytes of the bodies and their hash.
		{file: "github.gor", opts: replay.Options{MaxBody: 100}},
		// LF-only line endings: read where the framing is unambiguous, and
		// said where it is not.
		{file: "bad-lf.gor"},
		// Other tools' recordings (corpus/README.md).
		{file: "corpus/mitmproxy-chrome.har"},
		{file: "corpus/mitmproxy-charles.har"},
		{file: "corpus/mitmproxy-insomnia.har"},
		{file: "corpus/mitmproxy-invalid-content-encoding.har"},
		{file: "corpus/mitmproxy-with-bom.har"},
		{file: "corpus/firefox-no-bodies.har"},
		{file: "corpus/playwright-har-sha1.har"},
		{file: "corpus/pollyjs-204.har"},
		{file: "corpus/msw-response-status-304.har"},
		{file: "corpus/msw-response-status-101.har"},
		{file: "corpus/goreplay-lf.gor"},
	}
	for _, tt := range tests {
		name := tt.file
		if tt.opts.MaxBody > 0 {
			name += fmt.Sprintf(".max%d", tt.opts.MaxBody)
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			f := tt.format
			if f == "" {
				var err error
				if f, err = replay.Detect(path); err != nil {
					t.Fatal(err)
				}
			}
			var got string
			src, err := replay.OpenFile(path, f, tt.opts)
			if err != nil {
				got = fmt.Sprintf("open: %v\n", err)
			} else {
				got = describe(src)
				src.Close()
			}
			golden(t, name+".txt", got)
		})
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gor, _ := os.ReadFile("testdata/github.gor.gz")
	tests := []struct {
		path string
		want replay.Format
		err  string
	}{
		{path: "testdata/github.har", want: replay.HAR},
		{path: "testdata/github.ndjson", want: replay.NDJSON},
		{path: "testdata/github.gor", want: replay.Gor},
		{path: "testdata/github.gor.gz", want: replay.Gor},
		{path: "x/recorded.DB", want: replay.DB},
		// Unknown extensions: by content.
		{path: write("capture.txt", "{\n  \"log\": {\"entries\": []}}"), want: replay.HAR},
		{path: write("lines.log", `{"request":{"method":"GET","url":"/"}}`+"\n"), want: replay.NDJSON},
		{path: write("requests_0", "1 abc 1658205667000000000 -1\nGET / HTTP/1.1\r\n\r\n"), want: replay.Gor},
		{path: write("capture.bin", string(gor)), want: replay.Gor},
		{path: write("tandem.data", "SQLite format 3\x00rest"), want: replay.DB},
		{path: write("notes.txt", "hello"), err: "cannot tell its format"},
		{path: filepath.Join(dir, "missing.txt"), err: "no such file"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			got, err := replay.Detect(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Detect = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestScan(t *testing.T) {
	open := func(t *testing.T, name string) replay.Source {
		t.Helper()
		f, err := replay.Detect("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := replay.OpenFile("testdata/"+name, f, replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("OK", func(t *testing.T) {
		c, err := replay.Scan(open(t, "github.gor"), false)
		if err != nil || c != (replay.Counts{Records: 6}) {
			t.Errorf("Scan = %+v, %v; want 6 records", c, err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := replay.Scan(open(t, "bad.ndjson"), false)
		want := "testdata/bad.ndjson: line 1: invalid JSON: unexpected end"
		if err == nil || err.Error() != want {
			t.Errorf("Scan error %v, want %q", err, want)
		}
	})
	t.Run("SkipInvalid", func(t *testing.T) {
		c, err := replay.Scan(open(t, "bad.ndjson"), true)
		if err != nil || c != (replay.Counts{Records: 1, Invalid: 9}) {
			t.Errorf("Scan = %+v, %v; want 1 record and 9 invalid", c, err)
		}
	})
	t.Run("ErrFatalEvenWhenSkipping", func(t *testing.T) {
		_, err := replay.Scan(open(t, "bad-truncated.har"), true)
		if err == nil || !strings.Contains(err.Error(), "bad-truncated.har: entry 3") {
			t.Errorf("Scan error %v, want the truncation at entry 3", err)
		}
	})
}

// TestGor_AnnouncedSize checks that a record announcing a huge body costs
// the record's size, not the announced one: fasthttp allocates what
// Content-Length (or a chunk size) says before it reads.
func TestGor_AnnouncedSize(t *testing.T) {
	const sep = "\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
	req := "1 a 1658205667000000000 -1\nGET / HTTP/1.1\r\nHost: h\r\n\r\n" + sep
	tests := []struct {
		name, in, err string
	}{
		{"Request", "1 a 1658205667000000000 -1\nPOST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000000\r\n\r\nabc",
			"big.gor: record 1: request: the message is cut short (fewer body bytes than it announces)"},
		{"Response", req + "2 a 1658205667000000000 5\nHTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\nabc",
			"big.gor: record 2: response to record 1: the message is cut short (fewer body bytes than it announces)"},
		{"Chunk", req + "2 a 1658205667000000000 5\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\nx\r\n0\r\n\r\n",
			"big.gor: record 2: response to record 1: the message is cut short (fewer body bytes than it announces)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			src, err := replay.NewSource("big.gor", strings.NewReader(tt.in), replay.Gor, replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Next()
			runtime.ReadMemStats(&after)
			if err == nil || err.Error() != tt.err {
				t.Errorf("error %v, want %q", err, tt.err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
				t.Errorf("reading a %d-byte record allocated %d MiB", len(tt.in), n>>20)
			}
		})
	}
}

func TestHAR_NotHAR(t *testing.T) {
	tests := []struct{ in, err string }{
		{`[1, 2]`, "x.har: not a HAR file: the file is not an object"},
		{`{"log": []}`, `x.har: not a HAR file: "log" is not an object`},
		{`{"log": {"version": "1.2"}}`, `x.har: not a HAR file: no "log.entries" array`},
		{`{"log": {"entries": {}}}`, `x.har: not a HAR file: "log.entries" is not an array`},
		{`{"pages": [`, "x.har: not a HAR file: invalid JSON: unexpected end"},
		{``, "x.har: not a HAR file: the file: invalid JSON: unexpected end"},
		{`{"log": {"entries": []}} trailing`, "x.har: after the entries: invalid JSON: invalid character 'a' in literal true (expecting 'u')"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			src, err := replay.NewSource("x.har", strings.NewReader(tt.in), replay.HAR, replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = src.Next()
			if err == nil || err.Error() != tt.err {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
}
