package replay_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/replay"
)

// harOf is a HAR file of one entry whose response content is content.
func harOf(started, content string) string {
	return `{"log": {"version": "1.2", "entries": [{"startedDateTime": "` + started + `", "time": 1,
		"request": {"method": "GET", "url": "https://api.example.com/users/1", "headers": []},
		"response": {"status": 200, "headers": [{"name": "Content-Type", "value": "text/plain"}], "content": ` + content + `}}]}}`
}

// first reads the first record of a HAR or NDJSON document.
func first(t *testing.T, name, doc string, f replay.Format) (*replay.Record, error) {
	t.Helper()
	src, err := replay.NewSource(name, strings.NewReader(doc), f, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	return src.Next()
}

// TestHAR_StartedDateTime reads the forms of startedDateTime that HAR 1.2
// allows (W3C's ISO 8601 profile, minutes and up) and that producers
// write (a basic offset, Fiddler's seven digits), and refuses the rest.
func TestHAR_StartedDateTime(t *testing.T) {
	want := time.Date(2024, 5, 1, 10, 20, 30, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "2024-05-01T10:20:30Z", want: want},
		{in: "2024-05-01T10:20:30.000Z", want: want},
		{in: "2024-05-01T12:20:30.000+02:00", want: want},
		{in: "2024-05-01T12:20:30.000+0200", want: want},
		{in: "2024-05-01T12:20:30+0200", want: want},
		{in: "2024-05-01T12:20:30.0000000+02", want: want},
		{in: "2024-05-01T03:20:30.1234567-07:00", want: want.Add(123456700)},
		{in: "2024-05-01T12:20+02:00", want: want.Add(-30 * time.Second)},
		{in: "2024-05-01 10:20:30", err: `entry 1: startedDateTime "2024-05-01 10:20:30": want an ISO 8601 time with its offset`},
		{in: "yesterday", err: `startedDateTime "yesterday": want an ISO 8601 time`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			rec, err := first(t, "t.har", harOf(tt.in, `{"size": 2, "text": "ok"}`), replay.HAR)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Time.Equal(tt.want) {
				t.Errorf("time %v, want %v", rec.Time, tt.want)
			}
		})
	}
}

// TestHAR_Content reads content.text in the encodings producers write, and
// marks a body that was not recorded as unknown rather than empty.
func TestHAR_Content(t *testing.T) {
	tests := []struct {
		name    string
		content string
		body    string
		unknown bool
		err     string
	}{
		{name: "Text", content: `{"size": 5, "text": "hello"}`, body: "hello"},
		{name: "Base64", content: `{"size": 5, "text": "aGVsbG8=", "encoding": "base64"}`, body: "hello"},
		{name: "Base64Unpadded", content: `{"size": 5, "text": "aGVsbG8", "encoding": "base64"}`, body: "hello"},
		{name: "Base64Lines", content: `{"size": 5, "text": "aGVs\r\nbG8=", "encoding": "base64"}`, body: "hello"},
		{name: "Base64URL", content: `{"size": 3, "text": "-_-_", "encoding": "BASE64"}`, body: "\xfb\xff\xbf"},
		{name: "CharsetName", content: `{"size": 5, "text": "hello", "encoding": "utf-8"}`, body: "hello"},
		{name: "CharsetNameNoDash", content: `{"size": 5, "text": "hello", "encoding": "UTF8"}`, body: "hello"},
		// A coding this reader cannot undo: the body is not known, not wrong.
		{name: "Gzip", content: `{"size": 5, "text": "H4sI", "encoding": "gzip"}`, unknown: true},
		{name: "Empty", content: `{"size": 0, "mimeType": "text/plain"}`, body: ""},
		{name: "FirefoxWithoutBodies", content: `{"mimeType": "text/plain", "comment": "Response bodies are not included."}`, unknown: true},
		{name: "SizeWithoutText", content: `{"size": 10, "mimeType": "text/plain"}`, unknown: true},
		{name: "UnknownSize", content: `{"size": -1, "mimeType": "text/plain"}`, unknown: true},
		// Not a file beside a HAR that is not a file.
		{name: "PlaywrightFileNoDir", content: `{"size": 5, "_file": "abc.txt"}`, unknown: true},
		{name: "BadBase64", content: `{"size": 5, "text": "!!!", "encoding": "base64"}`, err: "response.content.text is not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := first(t, "t.har", harOf("2024-05-01T10:20:30Z", tt.content), replay.HAR)
			if tt.err != "" {
				var inv *replay.InvalidError
				if !errors.As(err, &inv) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want an invalid entry: %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Legacy == nil {
				t.Fatal("no recorded answer")
			}
			if rec.BodyUnknown != tt.unknown || !tt.unknown && string(rec.Legacy.Body) != tt.body {
				t.Errorf("body %q unknown %v, want %q unknown %v", rec.Legacy.Body, rec.BodyUnknown, tt.body, tt.unknown)
			}
		})
	}
}

// TestHAR_PlaywrightFile reads a body kept beside the HAR, and refuses a
// _file that names a path instead of a file beside it.
func TestHAR_PlaywrightFile(t *testing.T) {
	dir := t.TempDir()
	// The HAR and its body files in x/, and a file next to x/ that a
	// "../" name would reach.
	os.MkdirAll(filepath.Join(dir, "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "x", "0a1b.txt"), []byte("kept apart"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("not a body"), 0o644)
	tests := []struct {
		file, body, err string
		unknown         bool
	}{
		{file: "0a1b.txt", body: "kept apart"},
		{file: "missing.txt", unknown: true},
		{file: "../secret", err: `_file "../secret": want a file name beside the HAR`},
		{file: "/etc/passwd", err: `want a file name beside the HAR`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, "x", "rec.har")
			os.WriteFile(path, []byte(harOf("2024-05-01T10:20:30Z", `{"size": 10, "_file": "`+tt.file+`"}`)), 0o644)
			src, err := replay.OpenFile(path, replay.HAR, replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			rec, err := src.Next()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.BodyUnknown != tt.unknown || string(rec.Legacy.Body) != tt.body {
				t.Errorf("body %q unknown %v, want %q unknown %v", rec.Legacy.Body, rec.BodyUnknown, tt.body, tt.unknown)
			}
		})
	}
}

// TestSource_BOM reads HAR and NDJSON files that start with a UTF-8
// byte-order mark, as Windows tools write them.
func TestSource_BOM(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	tests := []struct {
		name string
		f    replay.Format
		doc  string
	}{
		{"HAR", replay.HAR, bom + harOf("2024-05-01T10:20:30Z", `{"size": 2, "text": "ok"}`)},
		{"NDJSON", replay.NDJSON, bom + `{"request": {"method": "GET", "url": "/users/1"}, "legacy": {"status": 200, "body": "ok"}}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := first(t, "bom", tt.doc, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Request.URL != "/users/1" || string(rec.Legacy.Body) != "ok" {
				t.Errorf("record %+v", rec)
			}
			// A mark anywhere else is the document's: still refused.
			_, err = first(t, "bom", strings.Replace(tt.doc, bom, " "+bom, 1), tt.f)
			if err == nil || errors.Is(err, io.EOF) {
				t.Errorf("a byte-order mark after a space was accepted")
			}
		})
	}
}

// TestHAR_WebSocket marks the shapes WebSocket handshakes take in HARs:
// a wss:// or ws:// URL, Chrome's _webSocketMessages.
func TestHAR_WebSocket(t *testing.T) {
	for _, tt := range []struct{ name, entry string }{
		{"WSS", `"request": {"method": "GET", "url": "wss://example.com/socket", "headers": []}, "response": {"status": 101, "headers": [], "content": {}}`},
		{"WS", `"request": {"method": "GET", "url": "ws://example.com/socket", "headers": []}, "response": {"status": 0, "headers": [], "content": {}}`},
		{"Messages", `"request": {"method": "GET", "url": "https://example.com/socket", "headers": []}, "response": {"status": 101, "headers": [], "content": {"size": 0}},
			"_webSocketMessages": [{"type": "send", "time": 1680134454.25, "opcode": 1, "data": "hello"}]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := first(t, "ws.har", `{"log": {"entries": [{`+tt.entry+`}]}}`, replay.HAR)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.WebSocket || rec.Request.URL != "/socket" {
				t.Errorf("record %+v: want a WebSocket to /socket", rec)
			}
		})
	}
}

// TestNDJSON_WebSocket marks a ws:// or wss:// URL in NDJSON as a
// WebSocket, which the runner skips instead of refusing the line.
func TestNDJSON_WebSocket(t *testing.T) {
	rec, err := first(t, "ws.ndjson", `{"request": {"method": "GET", "url": "wss://example.com/socket"}, "legacy": {"status": 101}}`+"\n", replay.NDJSON)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.WebSocket || rec.Request.URL != "/socket" || rec.Request.Host != "example.com" {
		t.Errorf("record %+v: want a WebSocket to example.com/socket", rec)
	}
}

// TestNDJSON_Host: a recorded Host is a host and port (a name, an IPv4 or
// a bracketed IPv6 literal); anything else is an invalid record, named,
// never a request sent to another path.
func TestNDJSON_Host(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"api.example.com", true},
		{"localhost:8080", true},
		{"127.0.0.1:80", true},
		{"[::1]:8080", true},
		{"[2001:db8::1]", true},
		{"under_score.example", true},
		{"::04:2.it", false},
		{"x]]]]", false},
		{"a b", false},
		{"h/x", false},
		{"host:port", false},
		{"[::1", false},
		{":80", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			doc := `{"request": {"method": "GET", "url": "/x", "host": "` + tt.host + `"}, "legacy": {"status": 200}}` + "\n"
			rec, err := first(t, "h.ndjson", doc, replay.NDJSON)
			var inv *replay.InvalidError
			switch {
			case tt.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.ok && rec.Request.Host != tt.host:
				t.Errorf("host %q, want %q", rec.Request.Host, tt.host)
			case !tt.ok && (!errors.As(err, &inv) || !strings.Contains(err.Error(), "is not a host")):
				t.Errorf("got %v, want an invalid record: host is not a host", err)
			}
		})
	}
}
