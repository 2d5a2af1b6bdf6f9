package rules

import (
	"fmt"
	"strings"
)

// A route is an endpoint's match string compiled: a method and the path's
// segments. "GET /api/users/{id}" has a literal segment "api", a literal
// "users" and a parameter "id"; "{rest...}" as the last segment matches the rest of the
// path (zero or more segments), as in Go's net/http patterns.
type route struct {
	method string // "" matches every method
	segs   []tseg
}

type tsegKind uint8

const (
	tLiteral tsegKind = iota
	tParam
	tRest
)

type tseg struct {
	kind tsegKind
	text string // literal text or parameter name
}

// parseRoute parses "METHOD /path/{param}/…". It returns an error
// message (without position) when the string is not one.
func parseRoute(s string) (route, string) {
	var t route
	method, path, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return t, fmt.Sprintf("match %q: want METHOD and a path, such as \"GET /api/users/{id}\"", s)
	}
	path = strings.TrimSpace(path)
	switch {
	case method == "*":
	case !isMethod(method):
		return t, fmt.Sprintf("match %q: %q is not an HTTP method (use upper case, or * for any)", s, method)
	default:
		t.method = method
	}
	if !strings.HasPrefix(path, "/") {
		return t, fmt.Sprintf("match %q: the path must start with /", s)
	}
	if strings.ContainsAny(path, "?# \t") {
		return t, fmt.Sprintf("match %q: the path may not hold a query, a fragment or spaces", s)
	}
	names := map[string]bool{}
	parts := strings.Split(path[1:], "/")
	for i, p := range parts {
		if !strings.ContainsAny(p, "{}") {
			t.segs = append(t.segs, tseg{kind: tLiteral, text: p})
			continue
		}
		if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") || strings.Count(p, "{") != 1 || strings.Count(p, "}") != 1 {
			return t, fmt.Sprintf("match %q: a parameter must be a whole segment, such as /{id}/", s)
		}
		name := p[1 : len(p)-1]
		kind := tParam
		if n, ok := strings.CutSuffix(name, "..."); ok {
			if i != len(parts)-1 {
				return t, fmt.Sprintf("match %q: {%s} must be the last segment", s, name)
			}
			name, kind = n, tRest
		}
		if !isIdent(name) {
			return t, fmt.Sprintf("match %q: parameter name %q is not a name (letters, digits, _)", s, name)
		}
		if names[name] {
			return t, fmt.Sprintf("match %q: parameter {%s} appears twice", s, name)
		}
		names[name] = true
		t.segs = append(t.segs, tseg{kind: kind, text: name})
	}
	return t, ""
}

func isMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// match reports whether a request matches the route. It does not
// allocate: it runs for every request on the proxy's client path.
func (t *route) match(method, path []byte) bool {
	if t.method != "" && string(method) != t.method {
		return false
	}
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	rest := path[1:]
	done := false // every request segment consumed
	for _, seg := range t.segs {
		if seg.kind == tRest {
			return !done // "/files/{p...}" matches "/files/" but not "/files"
		}
		if done {
			return false
		}
		var s []byte
		if i := indexByte(rest, '/'); i >= 0 {
			s, rest = rest[:i], rest[i+1:]
		} else {
			s, done = rest, true
		}
		switch seg.kind {
		case tLiteral:
			if string(s) != seg.text {
				return false
			}
		case tParam:
			if len(s) == 0 {
				return false
			}
		}
	}
	return done
}

// shadows reports whether t matches every request that u matches, so that
// a rule u after a rule t never applies (first match wins).
func (t *route) shadows(u *route) bool {
	if t.method != "" && t.method != u.method {
		return false
	}
	for i, seg := range t.segs {
		if seg.kind == tRest {
			// t takes every path with more than i segments; u's paths have
			// at least len(u.segs) (a rest segment matches one, maybe empty).
			return len(u.segs) > i
		}
		if i >= len(u.segs) {
			return false
		}
		us := u.segs[i]
		switch {
		case seg.kind == tLiteral && (us.kind != tLiteral || us.text != seg.text):
			return false
		case seg.kind == tParam && (us.kind == tRest || us.kind == tLiteral && us.text == ""):
			return false // u also takes an empty segment, or several
		}
	}
	return len(t.segs) == len(u.segs)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
