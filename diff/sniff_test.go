package diff_test

import (
	"testing"

	"github.com/tandemproxy/tandem/diff"
)

func TestLooksJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"Object", `{"a":1}`, true},
		{"Array", `[1]`, true},
		{"JSONWhitespaceFirst", " \t\r\n{", true},
		{"Empty", "", false},
		{"OnlySpace", " \n", false},
		{"Scalar", `"a"`, false},
		{"Number", `12`, false},
		{"Text", "orders\nnone\n", false},
		// Only JSON's four whitespace characters may come first: a
		// vertical tab or a no-break space make it text (no JSON parser
		// would take it).
		{"VerticalTab", "\v{}", false},
		{"NoBreakSpace", "\u00a0{}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diff.LooksJSON([]byte(tt.in)); got != tt.want {
				t.Errorf("LooksJSON(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
