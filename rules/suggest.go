package rules

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Suggestion is a pattern that a second legacy instance disagreed on.
type Suggestion struct {
	Endpoint string
	Pattern  string
	Count    int64 // exchanges where legacy disagreed with itself there
	Of       int64 // exchanges compared with the secondary
}

// WriteSuggestions writes YAML endpoint rules that ignore the suggested
// patterns, ready to paste under endpoints: in a rules file (or to use as
// one). JSON patterns become ignore: entries, headers ignore_headers:, and
// a noisy status ignore_status: true.
func WriteSuggestions(w io.Writer, source string, sugg []Suggestion) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Suggested by tandem rules suggest from %s: where a second legacy instance\n", source)
	b.WriteString("# disagreed with legacy, so a candidate cannot be expected to agree either.\n")
	b.WriteString("# Review, then paste under endpoints: in your rules file (first match wins).\n")
	b.WriteString("version: 1\nendpoints:\n")
	if len(sugg) == 0 {
		b.WriteString("  []  # nothing is noisy enough to suggest\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	var order []string
	by := map[string][]Suggestion{}
	for _, s := range sugg {
		if _, ok := by[s.Endpoint]; !ok {
			order = append(order, s.Endpoint)
		}
		by[s.Endpoint] = append(by[s.Endpoint], s)
	}
	// First match wins: a rule goes before any that would take all its
	// requests (GET /orgs/me before GET /orgs/{id}), so that the file loads
	// and every rule applies.
	type rule struct {
		ep    string
		route route
	}
	var placed []rule
	for _, ep := range order {
		t, msg := parseRoute(ep)
		if msg != "" {
			fmt.Fprintf(&b, "  # %s: not a valid match string (%s); write the rule by hand\n", ep, msg)
			continue
		}
		if !ignorable(by[ep]) {
			fmt.Fprintf(&b, "  # %s: its body differs as text or bytes, which no ignore can name; write a normalize: rule\n", ep)
			continue
		}
		pos := len(placed)
		for i, r := range placed {
			if r.route.shadows(&t) {
				pos = i
				break
			}
		}
		if pos < len(placed) && t.shadows(&placed[pos].route) {
			fmt.Fprintf(&b, "  # %s: the same requests as %s; merge the two by hand\n", ep, placed[pos].ep)
			continue
		}
		placed = slices.Insert(placed, pos, rule{ep, t})
	}
	for _, r := range placed {
		ep := r.ep
		fmt.Fprintf(&b, "  - match: %s\n", yamlString(ep))
		var paths, headers []Suggestion
		status := false
		for _, s := range by[ep] {
			switch {
			case isPathPattern(s.Pattern): // JSON, XML and form patterns
				paths = append(paths, s)
			case strings.HasPrefix(s.Pattern, "header:"):
				headers = append(headers, s)
			case s.Pattern == "status":
				status = true
			}
		}
		if len(paths) > 0 {
			b.WriteString("    ignore:\n")
			for _, s := range paths {
				fmt.Fprintf(&b, "      - %s  # %s\n", yamlString(s.Pattern), rate(s))
			}
		}
		if len(headers) > 0 {
			b.WriteString("    ignore_headers:\n")
			for _, s := range headers {
				fmt.Fprintf(&b, "      - %s  # %s\n", yamlString(strings.TrimPrefix(s.Pattern, "header:")), rate(s))
			}
		}
		if status {
			b.WriteString("    ignore_status: true\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ignorable reports whether any of an endpoint's suggestions can be
// written as an ignore setting (not "text" or "body").
func ignorable(ss []Suggestion) bool {
	for _, s := range ss {
		if isPathPattern(s.Pattern) || strings.HasPrefix(s.Pattern, "header:") || s.Pattern == "status" {
			return true
		}
	}
	return false
}

func rate(s Suggestion) string {
	if s.Of == 0 {
		return fmt.Sprintf("legacy disagreed with itself %d times", s.Count)
	}
	return fmt.Sprintf("legacy disagreed with itself in %d of %d exchanges (%.0f%%)", s.Count, s.Of, 100*float64(s.Count)/float64(s.Of))
}

// yamlString quotes s for YAML (double-quoted style, which JSON escaping
// satisfies).
func yamlString(s string) string {
	return fmt.Sprintf("%q", s)
}
