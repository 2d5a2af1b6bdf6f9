package replay_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/tandemproxy/tandem/replay"
)

func TestProgress_String(t *testing.T) {
	tests := []struct {
		name string
		p    replay.Progress
		want string
	}{
		{"Start", replay.Progress{Total: 500}, "0/500 (0%) · 0.0 req/s · 0 mismatches · 0 errors · ETA ?"},
		{"Running", replay.Progress{Done: 120, Total: 500, Mismatches: 1, Errors: 2, Elapsed: 4 * time.Second},
			"120/500 (24%) · 30.0 req/s · 1 mismatch · 2 errors · ETA 13s"},
		{"Done", replay.Progress{Done: 500, Total: 500, Mismatches: 3, Errors: 1, Elapsed: 5210 * time.Millisecond},
			"500/500 (100%) · 96.0 req/s · 3 mismatches · 1 error · done in 5.21s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestShowProgress(t *testing.T) {
	p := replay.Progress{Done: 3, Total: 4, Mismatches: 1, Elapsed: time.Second}
	get := func() replay.Progress { return p }
	tests := []struct {
		name string
		tty  bool
		want string
	}{
		// The ticks are an hour apart: only the final line is written.
		{"Plain", false, "replay: 3/4 (75%) · 3.0 req/s · 1 mismatch · 0 errors · ETA <1s\n"},
		{"Terminal", true, "\r\x1b[Kreplay [==================      ] 3/4 (75%) · 3.0 req/s · 1 mismatch · 0 errors · ETA <1s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			stop := replay.ShowProgress(&b, tt.tty, time.Hour, get)
			stop()
			stop() // a second stop writes nothing more
			if b.String() != tt.want {
				t.Errorf("got  %q\nwant %q", b.String(), tt.want)
			}
		})
	}
}
