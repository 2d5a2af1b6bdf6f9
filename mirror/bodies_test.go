package mirror_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/mirror"
)

// Bodies whose Content-Encoding does not hold: a body that does not decode
// is compared by the hash of its bytes as received (so a candidate that
// sends the same broken bytes matches, and one that sends something else
// does not); so is a body in an encoding tandem does not know. The client
// gets legacy's bytes in every case.
func TestProxy_BadEncodings(t *testing.T) {
	plain := []byte(`{"a":1}`)
	tests := []struct {
		name              string
		encoding          string
		legacy, candidate []byte
		candEncoding      string
		want              tandem.Outcome
		truncated         bool // compared by hash
	}{
		{"NotGzipBoth", "gzip", []byte("not gzip at all"), []byte("not gzip at all"), "gzip", tandem.Match, true},
		{"NotGzipVersusOther", "gzip", []byte("not gzip at all"), []byte("not gzip either!"), "gzip", tandem.Mismatch, true},
		{"CutGzip", "gzip", fasthttp.AppendGzipBytes(nil, plain)[:10], plain, "", tandem.Mismatch, true},
		{"NotBrotli", "br", []byte("\xff\xfe\xfd"), []byte("\xff\xfe\xfd"), "br", tandem.Match, true},
		{"UnknownEncoding", "x-unknown", []byte("opaque bytes"), []byte("opaque bytes"), "x-unknown", tandem.Match, true},
		{"UnknownEncodingDiffers", "x-unknown", []byte("opaque bytes"), []byte("other bytes"), "x-unknown", tandem.Mismatch, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", tt.encoding)
				w.Write(tt.legacy)
			}))
			defer legacy.Close()
			cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.candEncoding != "" {
					w.Header().Set("Content-Encoding", tt.candEncoding)
				}
				w.Write(tt.candidate)
			}))
			defer cand.Close()
			rec := newRecorder()
			_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec})
			if raw, enc := getEncoded(t, addr+"/e", tt.encoding); string(raw) != string(tt.legacy) || enc != tt.encoding {
				t.Errorf("client got %q (%s), want legacy's bytes", raw, enc)
			}
			ex := rec.wait(t, 1)[0]
			if ex.Outcome != tt.want || ex.Legacy.Truncated != tt.truncated {
				t.Errorf("outcome %s, legacy compared by hash %v; want %s, %v (%+v)", ex.Outcome, ex.Legacy.Truncated, tt.want, tt.truncated, ex.Differences)
			}
		})
	}
}

// getEncoded GETs u accepting an encoding, without the transport's
// transparent decompression, and returns the raw body and its
// Content-Encoding.
func getEncoded(t *testing.T, u, encoding string) ([]byte, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Accept-Encoding", encoding)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return raw, resp.Header.Get("Content-Encoding")
}

// The mirror copies waiting or in flight are bounded in bytes as well as in
// entries: with a candidate that holds every copy, copies beyond
// QueueBytes are dropped and counted, and the client is served all along.
func TestProxy_QueueBytesDrops(t *testing.T) {
	block := make(chan struct{})
	big := strings.Repeat("x", 30<<10)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer cand.Close()
	defer close(block)
	const budget = 100 << 10 // three copies of 30 KiB and their overhead
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1,
		Workers: 64, QueueSize: 1000, QueueBytes: budget, CandidateTimeout: 10 * time.Second, Recorder: newRecorder()})
	for range 20 {
		if _, body := get(t, "GET", addr+"/x", "", nil); body != big {
			t.Fatalf("client got %d bytes", len(body))
		}
	}
	s := p.Stats()
	if s.Mirrored != 3 || s.Dropped != 17 || s.QueueBytes > budget {
		t.Errorf("mirrored %d, dropped %d, %d bytes held: want 3 mirrored within %d bytes, the rest dropped", s.Mirrored, s.Dropped, s.QueueBytes, budget)
	}
}
