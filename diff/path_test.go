package diff_test

import (
	"strings"
	"testing"

	"github.com/tandemproxy/tandem/diff"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		in  string
		err string // substring of the error; "" for a good path
	}{
		{in: "$"},
		{in: "$.updatedAt"},
		{in: "$.items[*].cursor"},
		{in: "$..etag"},
		{in: "$['a b']['c']"},
		{in: `$["x\"y"]`},
		{in: "$.items[3].price"},
		{in: "$..*"},
		{in: "$..[0]"},
		{in: "$.*"},
		{in: "$.content-type"},
		{in: "", err: "empty path"},
		{in: "items", err: "starts with $"},
		{in: "$.", err: "a name or * must follow"},
		{in: "$..", err: "descendant segment"},
		{in: "$[", err: "unterminated ["},
		{in: "$[-1]", err: "negative indices"},
		{in: "$[01]", err: "leading zeros"},
		{in: "$[?(@.a)]", err: "filters and slices"},
		{in: "$[1:2]", err: "expected ]"},
		{in: "$['abc", err: "unterminated quoted name"},
		{in: "$.9lives", err: "cannot start with"},
		{in: "$x", err: "unexpected"},
		{in: `$['\q']`, err: "unknown escape"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := diff.ParsePath(tt.in)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("ParsePath(%q): %v", tt.in, err)
				}
				if p.String() != tt.in {
					t.Errorf("String() = %q", p.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("ParsePath(%q) error = %v, want it to contain %q", tt.in, err, tt.err)
			}
		})
	}
}

func TestPath_Match(t *testing.T) {
	tests := []struct {
		sel, concrete string
		want          bool
	}{
		{"$", "$", true},
		{"$.a", "$.a", true},
		{"$.a", "$.b", false},
		{"$.a", "$.a.b", false},
		{"$.items[*].price", "$.items[3].price", true},
		{"$.items[*].price", "$.items.price", false},
		{"$.items[2]", "$.items[2]", true},
		{"$.items[2]", "$.items[3]", false},
		{"$..etag", "$.etag", true},
		{"$..etag", "$.a.b[4].etag", true},
		{"$..etag", "$.a.etag.b", false},
		{"$.a..id", "$.a.b.id", true},
		{"$.a..id", "$.b.id", false},
		{"$..[0]", "$.a[0]", true},
		{"$..*", "$.a.b", true},
		{"$['a b']", "$['a b']", true},
		{"$.*", "$[0]", true},
		{"$.*.x", "$.q.x", true},
	}
	for _, tt := range tests {
		p := diff.MustParsePath(tt.sel)
		if got := p.Match(tt.concrete); got != tt.want {
			t.Errorf("%s matches %s = %v, want %v", tt.sel, tt.concrete, got, tt.want)
		}
	}
}

func TestPatternOf(t *testing.T) {
	tests := map[string]string{
		"$.items[3].price":    "$.items[*].price",
		"$[0][1]":             "$[*][*]",
		"$['a b'][2]":         "$['a b'][*]",
		"status":              "status",
		"header:Content-Type": "header:Content-Type",
		"text:12":             "text",
	}
	for in, want := range tests {
		if got := diff.PatternOf(in); got != want {
			t.Errorf("PatternOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParsePath: the parser never panics, a path it accepts prints back as
// written, and matching a concrete path built from it never panics.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"$", "$.a.b", "$..etag", "$['a b'][3]", "$.items[*].price", "$[", "$..", `$["\u0041"]`, "$.*", "$..[0]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := diff.ParsePath(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("String() = %q, want %q", p.String(), s)
		}
		p.Match("$.a[1].b")
		diff.PatternOf(s)
	})
}
