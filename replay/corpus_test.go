package replay_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/rules"
)

// recording is what a corpus file recorded: legacy's answer to each
// request, by "METHOD target" as the request line carries it.
type recording struct {
	answers map[string]*tandem.Response
	first   string // the first request with an answer, whose status the changed candidate changes
}

func readRecording(t *testing.T, path string) recording {
	t.Helper()
	f, err := replay.Detect(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := replay.OpenFile(path, f, replay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec := recording{answers: map[string]*tandem.Response{}}
	for {
		r, err := src.Next()
		if err != nil {
			break // io.EOF: the golden files of TestOpenFile hold any error
		}
		if r.Legacy == nil || r.WebSocket || r.Legacy.Status == http.StatusSwitchingProtocols {
			continue
		}
		key := r.Request.Method + " " + r.Request.URL
		if _, ok := rec.answers[key]; !ok {
			rec.answers[key] = r.Legacy
			if rec.first == "" {
				rec.first = key
			}
		}
	}
	return rec
}

// encodings are the content codings a recorded body is stored decoded
// from: a faithful server sends the decoded body, so not the header.
var encodings = map[string]bool{"gzip": true, "br": true, "deflate": true, "zstd": true, "compress": true}

// hopByHop are not the recorded service's to repeat (RFC 9110 §7.6.1),
// and Content-Length is the server's to set for the body it sends.
var hopByHop = map[string]bool{"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true}

// faithful serves a recording on loopback: every request gets the recorded
// status, headers and body; change names one request whose status is
// changed, or is "".
func faithful(t *testing.T, rec recording, change string) *service {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.RequestURI
		a, ok := rec.answers[key]
		if !ok {
			t.Errorf("the candidate got %s, which the recording does not hold", key)
			http.Error(w, "not recorded", http.StatusTeapot)
			return
		}
		for _, h := range a.Header {
			name := http.CanonicalHeaderKey(h.Name)
			if hopByHop[name] || name == "Content-Encoding" && encodings[strings.ToLower(h.Value)] {
				continue
			}
			w.Header()[name] = append(w.Header()[name], h.Value)
		}
		status := a.Status
		if key == change {
			status = http.StatusOK
			if a.Status == http.StatusOK {
				status = http.StatusInternalServerError
			}
		}
		w.WriteHeader(status)
		w.Write(a.Body) // net/http drops it where the status or method has none
	}))
}

// TestCorpus replays each recording of testdata/corpus (other tools'
// real recordings, see its README) in golden mode against a real loopback
// server that answers what the recording says: every exchange matches.
// Against one that changes one status, that exchange is a mismatch. The
// recorded hosts are real internet hosts: only the loopback candidate is
// ever sent anything (the server fails the test on a request it does
// not hold, and counts what it got).
// corpusCounts are the counts of a run TestCorpus checks.
type corpusCounts struct{ Compared, WithoutBody, WebSocket, Unrecorded int64 }

func TestCorpus(t *testing.T) {
	rs, err := rules.Parse("corpus.yaml", []byte("version: 1\ndefaults:\n  allow_side_effects: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want corpusCounts
	}{
		// A 304 whose content.text is the cached page, and a request that
		// got no answer (status 0).
		{file: "mitmproxy-chrome.har", want: corpusCounts{Compared: 1, WithoutBody: 1, Unrecorded: 1}},
		{file: "mitmproxy-charles.har", want: corpusCounts{Compared: 1}},
		{file: "mitmproxy-insomnia.har", want: corpusCounts{Compared: 1}},
		// A POST (allowed here) answered 401 with "content-encoding: UTF-8".
		{file: "mitmproxy-invalid-content-encoding.har", want: corpusCounts{Compared: 1}},
		// Fiddler's: a byte-order mark, HAR 1.1, seven fractional digits.
		{file: "mitmproxy-with-bom.har", want: corpusCounts{Compared: 1}},
		// Exported without bodies: a 200 and a 304 by status and headers, a
		// wss:// handshake skipped.
		{file: "firefox-no-bodies.har", want: corpusCounts{Compared: 2, WithoutBody: 2, WebSocket: 1}},
		// The body is in har-sha1-main-response.txt, beside the HAR.
		{file: "playwright-har-sha1.har", want: corpusCounts{Compared: 1}},
		// A 204 whose content has a size and no text.
		{file: "pollyjs-204.har", want: corpusCounts{Compared: 1, WithoutBody: 1}},
		{file: "msw-response-status-304.har", want: corpusCounts{Compared: 1, WithoutBody: 1}},
		// LF-only line endings: a GET, a HEAD, a 404.
		{file: "goreplay-lf.gor", want: corpusCounts{Compared: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "corpus", tt.file)
			rec := readRecording(t, path)
			if rec.first == "" {
				t.Fatalf("%s holds no answered request", path)
			}
			for _, c := range []struct {
				name   string
				change string
				want   map[string]string
			}{
				{"Faithful", "", nil},
				// A 304 changed to 200 gets a body and, from net/http, a
				// Content-Type the 304 did not have: only the status is sure.
				{"ChangedStatus", rec.first, map[string]string{rec.first: "mismatch status"}},
			} {
				t.Run(c.name, func(t *testing.T) {
					cand := faithful(t, rec, c.change)
					res, got, db := run(t, path, replay.Config{Candidate: cand.url(t), Rules: rs})
					counts := corpusCounts{Compared: res.Get(tandem.Comparisons), WithoutBody: res.WithoutBody,
						WebSocket: res.Get(tandem.WebSocket), Unrecorded: res.Get(tandem.Unrecorded)}
					if d := cmp.Diff(tt.want, counts); d != "" {
						t.Errorf("counts (-want +got):\n%s", d)
					}
					// The records not sent reach the stored report too.
					rep, err := db.Report(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					if rep.Totals.WebSocket != counts.WebSocket || rep.Totals.Unrecorded != counts.Unrecorded {
						t.Errorf("report totals: %d WebSocket, %d unrecorded; the run counted %d and %d",
							rep.Totals.WebSocket, rep.Totals.Unrecorded, counts.WebSocket, counts.Unrecorded)
					}
					if n := len(cand.requests()); int64(n) != res.Get(tandem.Comparisons) {
						t.Errorf("the candidate got %d requests, %d were compared", n, res.Get(tandem.Comparisons))
					}
					want := map[string]string{}
					for k := range got {
						want[k] = "match"
					}
					for k, v := range c.want {
						want[k] = v
					}
					out := outcomes(got)
					if v, ok := out[c.change]; ok && strings.HasPrefix(v, "mismatch status") {
						out[c.change] = "mismatch status"
					}
					if d := cmp.Diff(want, out); d != "" {
						t.Errorf("outcomes (-want +got):\n%s", d)
					}
				})
			}
		})
	}
}

// TestCorpus_WebSocketOnly replays msw's recording of a single WebSocket
// handshake (status 101): it is skipped and counted, nothing is sent, and
// the run does not fail.
func TestCorpus_WebSocketOnly(t *testing.T) {
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	res, _, db := run(t, "testdata/corpus/msw-response-status-101.har", replay.Config{Candidate: cand.url(t)})
	if res.Get(tandem.Requests) != 1 || res.Get(tandem.WebSocket) != 1 || res.Get(tandem.Comparisons) != 0 || len(cand.requests()) != 0 {
		t.Errorf("result %+v, %d sent: want 1 record skipped as a WebSocket, nothing sent", res, len(cand.requests()))
	}
	if d := cmp.Diff(map[string]replay.Skips{"GET /status": {WebSocket: 1}}, res.Skipped); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
	if ok, err := replay.IsResults(t.Context(), db); err != nil || !ok {
		t.Errorf("IsResults = %v, %v: a run that compared nothing still marks its results", ok, err)
	}
}

// TestCorpus_PlaywrightFileMissing replays Playwright's HAR copied without
// the body file beside it: the body is unknown, and the answer is compared
// by status and headers only instead of with an empty body.
func TestCorpus_PlaywrightFileMissing(t *testing.T) {
	b, err := os.ReadFile("testdata/corpus/playwright-har-sha1.har")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "alone.har")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("Hello, world"))
	}))
	res, got, _ := run(t, path, replay.Config{Candidate: cand.url(t)})
	if res.Get(tandem.Comparisons) != 1 || res.WithoutBody != 1 {
		t.Errorf("result %+v: want 1 compared without its body", res)
	}
	if d := cmp.Diff(map[string]string{"GET /": "match"}, outcomes(got)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
}
