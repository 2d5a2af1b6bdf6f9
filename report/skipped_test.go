package report_test

import (
	"testing"

	"github.com/tandemproxy/tandem/report"
)

// TestSkipped_String says why an endpoint's requests were not sent, in the
// words the JUnit report gives its skipped test cases.
func TestSkipped_String(t *testing.T) {
	tests := []struct {
		in   report.Skipped
		want string
	}{
		{report.Skipped{SideEffects: 2}, "2 not sent: side effects (allow_side_effects is off)"},
		{report.Skipped{Unrecorded: 1}, "1 not sent: no recorded answer to compare with"},
		{report.Skipped{SideEffects: 1, Unrecorded: 2}, "3 not sent: 1 with side effects (allow_side_effects is off), 2 without a recorded answer"},
		{report.Skipped{WebSocket: 3}, "3 not sent: WebSocket (replay sends HTTP exchanges only)"},
		{report.Skipped{Unrecorded: 1, WebSocket: 1}, "2 not sent: 1 without a recorded answer, 1 WebSocket"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.in, got, tt.want)
		}
	}
}
