package replay_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/store"
)

// recordedDB stores exchanges as `tandem proxy --record all` would, and
// returns the database.
func recordedDB(t *testing.T, exs ...*tandem.Exchange) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "recorded.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll})
	for _, ex := range exs {
		w.Record(ex, nil)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return db
}

// stored is an exchange as the proxy stores it.
func stored(at time.Time, endpoint, target string, outcome tandem.Outcome) *tandem.Exchange {
	ex := recorded("GET", target, 200, `{"ok":true}`)
	ex.Time, ex.Endpoint, ex.Outcome = at, endpoint, outcome
	ex.Candidate = ex.Legacy
	return ex
}

// readAll reads a source to its end: the targets of its records (with
// "-" when legacy's answer is not recorded) and the error that ended it.
func readAll(src replay.Source) ([]string, error) {
	var got []string
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		s := rec.Request.URL
		if rec.Legacy == nil {
			s += " -"
		}
		got = append(got, s)
	}
}

func TestDBSource(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	legacyDown := stored(t0.Add(3*time.Minute), "GET /b", "/b/2", tandem.CandidateError)
	legacyDown.Legacy = tandem.Response{Err: "connection refused"}
	// Stored in the order the candidate answered, which is not the order
	// the requests arrived in: they are given out in arrival order.
	db := recordedDB(t,
		stored(t0.Add(time.Minute), "GET /a", "/a/2", tandem.Mismatch),
		stored(t0, "GET /a", "/a/1", tandem.Match),
		legacyDown,
		stored(t0.Add(2*time.Minute), "GET /b", "/b/1", tandem.Match),
	)
	tests := []struct {
		name   string
		filter store.Filter
		want   []string
	}{
		{name: "All", want: []string{"/a/1", "/a/2", "/b/1", "/b/2 -"}},
		{name: "Endpoint", filter: store.Filter{Endpoint: "GET /a"}, want: []string{"/a/1", "/a/2"}},
		{name: "Since", filter: store.Filter{Since: t0.Add(90 * time.Second)}, want: []string{"/b/1", "/b/2 -"}},
		{name: "Outcome", filter: store.Filter{Outcomes: []tandem.Outcome{tandem.Match}}, want: []string{"/a/1", "/b/1"}},
		{name: "Together", filter: store.Filter{Endpoint: "GET /a", Outcomes: []tandem.Outcome{tandem.Mismatch}}, want: []string{"/a/2"}},
		// The paging fields are the source's own.
		{name: "PagingIgnored", filter: store.Filter{Limit: 1, AfterID: 2, Desc: true}, want: []string{"/a/1", "/a/2", "/b/1", "/b/2 -"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := replay.NewDBSource(context.Background(), db, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if src.Len() != int64(len(tt.want)) {
				t.Errorf("Len = %d, want %d", src.Len(), len(tt.want))
			}
			got, err := readAll(src)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("records (-want +got):\n%s", d)
			}
		})
	}
}

// TestDBSource_Invalid checks that a stored request that cannot be sent
// again is found by Scan, before anything is sent, and named by the
// database and the exchange's id.
func TestDBSource_Invalid(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	bad := stored(t0.Add(time.Minute), "GET /a", "/a/2", tandem.Match)
	bad.Request.Header = tandem.Headers{{Name: "X-Trace", Value: "a\r\nInjected: yes"}}
	db := recordedDB(t, stored(t0, "GET /a", "/a/1", tandem.Match), bad, stored(t0.Add(2*time.Minute), "GET /a", "/a/3", tandem.Match))
	open := func(t *testing.T) replay.Source {
		src, err := replay.NewDBSource(context.Background(), db, store.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := replay.Scan(open(t), false)
		want := db.Path + ": exchange 2: request header X-Trace has a line break in its value"
		if err == nil || err.Error() != want {
			t.Errorf("Scan error %v, want %q", err, want)
		}
	})
	t.Run("SkipInvalid", func(t *testing.T) {
		c, err := replay.Scan(open(t), true)
		if err != nil || c != (replay.Counts{Records: 2, Invalid: 1}) {
			t.Errorf("Scan = %+v, %v; want 2 records and 1 invalid", c, err)
		}
	})
}
