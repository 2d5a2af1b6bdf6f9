package store_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

func TestDB_Rediff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{})
		ts := tandem.Difference{Path: "$.updatedAt", Pattern: "$.updatedAt", Kind: tandem.Changed, Legacy: "1", Candidate: "2"}
		bug := tandem.Difference{Path: "$.price", Pattern: "$.price", Kind: tandem.Changed, Legacy: "1", Candidate: "2"}
		for range 4 {
			w.Record(exchange("GET /a", tandem.Mismatch, ts), nil)
		}
		for range 2 {
			w.Record(exchange("GET /a", tandem.Mismatch, ts, bug), nil)
		}
		w.Record(exchange("GET /a", tandem.Match), nil) // not stored: cannot be re-judged
		w.Close()

		// New rules: $.updatedAt no longer counts.
		judge := func(ex *tandem.Exchange) []string {
			var kept []tandem.Difference
			for _, d := range ex.Differences {
				if d.Pattern != "$.updatedAt" {
					kept = append(kept, d)
				}
			}
			ex.Differences = kept
			if len(kept) == 0 {
				ex.Outcome = tandem.Match
			}
			return nil
		}
		res, err := db.Rediff(context.Background(), store.Filter{}, judge, 4) // batches of 4
		if err != nil {
			t.Fatal(err)
		}
		if res.Exchanges != 6 || res.Changed != 6 || res.Transitions["mismatch→match"] != 4 {
			t.Errorf("result %+v: want 6 re-judged, 6 changed, 4 mismatch→match", res)
		}
		r, err := db.Report(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Totals.Matched != 5 || r.Totals.Mismatched != 2 || r.Totals.Compared != 7 {
			t.Errorf("totals %+v: want 5 matched (1 never stored + 4 re-judged), 2 mismatched", r.Totals)
		}
		if d := cmp.Diff([]store.Field{{Pattern: "$.price", Count: 2, ExampleLegacy: "1", ExampleCandidate: "2"}}, r.Endpoints[0].Fields, cmpopts.IgnoreFields(store.Field{}, "FieldVerdict")); d != "" {
			t.Errorf("fields (-want +got):\n%s", d)
		}
		n := 0
		db.Exchanges(context.Background(), store.Filter{Pattern: "$.updatedAt"}, func(*tandem.Exchange) error { n++; return nil })
		if n != 0 {
			t.Errorf("%d exchanges still list $.updatedAt", n)
		}
		// Re-judging again under the same rules changes nothing.
		res, err = db.Rediff(context.Background(), store.Filter{}, judge, 0)
		if err != nil || res.Changed != 0 || res.Exchanges != 6 {
			t.Errorf("second rediff %+v, %v: want 6 re-judged, none changed", res, err)
		}
	})
}

// Rules that name more to redact scrub what was stored before them: the
// header, the query parameter and the JSON member are rewritten, in the
// database file as read back, and the rest of the exchange is kept.
func TestDB_Rediff_Scrubs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
		for range 3 {
			ex := exchange("GET /a", tandem.Match)
			ex.Request.URL = "/a?ssn=s3cr3t-q&page=2"
			ex.Request.Header = append(ex.Request.Header, tandem.Header{Name: "X-Ssn", Value: "s3cr3t-h"})
			ex.Legacy.Body = []byte(`{"id":1,"ssn":"s3cr3t-b"}`)
			w.Record(ex, nil)
		}
		w.Close()
		judge := func(ex *tandem.Exchange) []string { return []string{"ssn", "x-ssn"} }
		res, err := db.Rediff(context.Background(), store.Filter{}, judge, 2)
		if err != nil {
			t.Fatal(err)
		}
		if res.Scrubbed != 3 {
			t.Errorf("scrubbed %d, want 3", res.Scrubbed)
		}
		var n int
		err = db.Exchanges(context.Background(), store.Filter{}, func(ex *tandem.Exchange) error {
			n++
			all := ex.Request.URL + headersText(ex.Request.Header) + string(ex.Legacy.Body)
			if strings.Contains(all, "s3cr3t") {
				t.Errorf("exchange %d still holds a secret: %s", ex.ID, all)
			}
			if !strings.Contains(ex.Request.URL, "page=2") || !strings.Contains(string(ex.Legacy.Body), `"id":1`) {
				t.Errorf("exchange %d lost more than its secrets: %s", ex.ID, all)
			}
			return nil
		})
		if err != nil || n != 3 {
			t.Fatalf("%d exchanges read back (%v)", n, err)
		}
		// Nor in the file: the pages the values were on are zeroed, and the
		// WAL that held them emptied (bodies are compressed, so the plain-text
		// URL and header are what a grep would find).
		raw := readAll(t, db.Path)
		for _, secret := range []string{"s3cr3t-q", "s3cr3t-h"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%q is still in the database file or its WAL", secret)
			}
		}
		// Again: nothing left to scrub.
		if res, err := db.Rediff(context.Background(), store.Filter{}, judge, 0); err != nil || res.Scrubbed != 0 {
			t.Errorf("second rediff scrubbed %d (%v), want 0", res.Scrubbed, err)
		}
	})
}

func headersText(h tandem.Headers) string {
	var b strings.Builder
	for _, f := range h {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	return b.String()
}
