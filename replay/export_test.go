package replay_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
)

// exported are exchanges as the store gives them to export: text, binary
// and truncated bodies, a secondary, a candidate error, a redirect.
func exported() []*tandem.Exchange {
	big := bytes.Repeat([]byte("0123456789"), 20)
	sum := sha256.Sum256(big)
	exs := []*tandem.Exchange{
		{
			Time: time.Date(2024, 5, 1, 10, 0, 0, 123000000, time.UTC), Endpoint: "GET /api/users/{id}",
			Request: tandem.Request{Method: "GET", URL: "/api/users/42?fields=a%20b&x=1", Host: "api.example.com",
				Header: tandem.Headers{{Name: "Accept", Value: "application/json"}, {Name: "Authorization", Value: "[REDACTED]"}}},
			Legacy: tandem.Response{Status: 200, Latency: 12500 * time.Microsecond,
				Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(`{"id":42,"name":"Zoë"}`)},
			Candidate: tandem.Response{Status: 200, Latency: 3 * time.Millisecond,
				Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(`{"id":"42","name":"Zoë"}`)},
			Secondary:   &tandem.Response{Status: 200, Body: []byte(`{"id":42,"name":"Zoë"}`)},
			Outcome:     tandem.Mismatch,
			Differences: []tandem.Difference{{Path: "$.id", Pattern: "$.id", Kind: tandem.Type, Legacy: "42", Candidate: `"42"`}},
		},
		{
			Time: time.Date(2024, 5, 1, 10, 0, 1, 0, time.UTC), Endpoint: "POST /upload",
			Request: tandem.Request{Method: "POST", URL: "/upload", Host: "api.example.com",
				Header: tandem.Headers{{Name: "Content-Type", Value: "application/octet-stream"}}, Body: []byte{0x1f, 0x8b, 0, 0xff}},
			Legacy:    tandem.Response{Status: 201, Header: tandem.Headers{{Name: "Content-Type", Value: "image/png"}}, Body: []byte{0x89, 'P', 'N', 'G', 0}},
			Candidate: tandem.Response{Err: "connection refused"},
			Outcome:   tandem.CandidateError, Error: "connection refused",
		},
		{
			Time: time.Date(2024, 5, 1, 10, 0, 2, 0, time.UTC), Endpoint: "GET /big",
			Request:   tandem.Request{Method: "GET", URL: "/big"},
			Legacy:    tandem.Response{Status: 200, Body: big[:100], Truncated: true, BodySize: int64(len(big)), BodyHash: hex.EncodeToString(sum[:])},
			Candidate: tandem.Response{Status: 200, Body: big[:100], Truncated: true, BodySize: int64(len(big)), BodyHash: hex.EncodeToString(sum[:])},
			Outcome:   tandem.Match,
		},
		{
			Time: time.Date(2024, 5, 1, 10, 0, 3, 0, time.UTC), Endpoint: "GET /account",
			Request:   tandem.Request{Method: "GET", URL: "/account", Host: "api.example.com"},
			Legacy:    tandem.Response{Status: 302, Header: tandem.Headers{{Name: "Location", Value: "/login?next=%2Fhome"}}},
			Candidate: tandem.Response{Status: 302, Header: tandem.Headers{{Name: "Location", Value: "/login?next=%2Fhome"}}},
			Outcome:   tandem.Match,
		},
	}
	for _, ex := range exs {
		if !ex.Legacy.Truncated {
			ex.Legacy.BodySize = int64(len(ex.Legacy.Body)) // as the store gives it
		}
	}
	return exs
}

// TestExport_RoundTrip writes exchanges as NDJSON and as HAR and reads them
// back: the requests and legacy's answers are what replay needs, intact.
func TestExport_RoundTrip(t *testing.T) {
	exs := exported()
	write := map[replay.Format]func(*bytes.Buffer) error{
		replay.NDJSON: func(b *bytes.Buffer) error {
			for _, ex := range exs {
				if err := replay.WriteNDJSON(b, ex); err != nil {
					return err
				}
			}
			return nil
		},
		replay.HAR: func(b *bytes.Buffer) error {
			w, err := replay.NewHARWriter(b, "test")
			if err != nil {
				return err
			}
			for _, ex := range exs {
				if err := w.Write(ex); err != nil {
					return err
				}
			}
			return w.Close()
		},
	}
	for f, fn := range write {
		t.Run(string(f), func(t *testing.T) {
			var b bytes.Buffer
			if err := fn(&b); err != nil {
				t.Fatal(err)
			}
			if f == replay.HAR {
				var doc struct {
					Log struct {
						Version string
						Entries []struct {
							Response  struct{ StatusText, RedirectURL string }
							Candidate *struct{ Status int } `json:"_candidate"`
						}
					}
				}
				if err := json.Unmarshal(b.Bytes(), &doc); err != nil || doc.Log.Version != "1.2" || len(doc.Log.Entries) != 4 {
					t.Fatalf("not a HAR 1.2 file with 4 entries: %v\n%s", err, b.String())
				}
				if c := doc.Log.Entries[0].Candidate; c == nil || c.Status != 200 {
					t.Errorf("entry 1 _candidate %+v, want the candidate's 200", c)
				}
				if r := doc.Log.Entries[3].Response; r.StatusText != "Found" || r.RedirectURL != "/login?next=%2Fhome" {
					t.Errorf("entry 4 response %+v, want statusText Found and the redirect's target", r)
				}
			}
			p := filepath.Join(t.TempDir(), "export."+string(f))
			if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := replay.OpenFile(p, f, replay.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			for i, ex := range exs {
				rec, err := src.Next()
				if err != nil {
					t.Fatalf("record %d: %v", i+1, err)
				}
				want := ex.Request
				if f == replay.HAR && want.Host == "" {
					want.Host = "localhost" // HAR's URLs are absolute: export names a host
				}
				if d := cmp.Diff(want, rec.Request, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("record %d request (-exported +read):\n%s", i+1, d)
				}
				if d := cmp.Diff(&ex.Legacy, rec.Legacy, cmpopts.EquateEmpty()); d != "" {
					t.Errorf("record %d legacy (-exported +read):\n%s", i+1, d)
				}
				if !rec.Time.Equal(ex.Time) {
					t.Errorf("record %d time %s, want %s", i+1, rec.Time, ex.Time)
				}
			}
		})
	}
}
