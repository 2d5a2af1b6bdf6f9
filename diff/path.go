package diff

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A Path is a parsed JSONPath selector, in the subset of RFC 9535 that rules
// need: the root $, child segments .name, ['name'] and [n], the wildcard [*]
// (also .*), and descendant segments ..name, ..['name'], ..[n] and ..*.
// Filters, slices, unions and negative indices are not supported.
type Path struct {
	src  string
	segs []segment
}

type segKind uint8

const (
	segName segKind = iota
	segIndex
	segWild
)

type segment struct {
	desc  bool // a descendant segment (..)
	kind  segKind
	name  string
	index int
}

// PathError says what is wrong with a path and where (a byte offset).
type PathError struct {
	Path   string
	Offset int
	Msg    string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("bad path %q at offset %d: %s", e.Path, e.Offset, e.Msg)
}

// ParsePath parses a JSONPath selector.
func ParsePath(s string) (Path, error) {
	p := Path{src: s}
	fail := func(off int, format string, args ...any) (Path, error) {
		return Path{}, &PathError{Path: s, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail(0, "empty path")
	}
	switch {
	case s[0] == '/' || strings.HasPrefix(s, "form:"):
		if err := parseExtPath(&p); err != nil {
			return Path{}, err
		}
		return p, nil
	case s[0] != '$':
		return fail(0, "a path starts with $ (JSON), / (XML) or form: (forms)")
	}
	i := 1
	for i < len(s) {
		var seg segment
		switch {
		case strings.HasPrefix(s[i:], ".."):
			seg.desc = true
			i += 2
			if i >= len(s) {
				return fail(i, "a descendant segment (..) needs a name, [n], ['name'] or *")
			}
			if s[i] == '[' {
				n, err := parseBracket(s, i, &seg)
				if err != nil {
					return Path{}, err
				}
				i = n
			} else {
				n, err := parseShorthand(s, i, &seg)
				if err != nil {
					return Path{}, err
				}
				i = n
			}
		case s[i] == '.':
			i++
			n, err := parseShorthand(s, i, &seg)
			if err != nil {
				return Path{}, err
			}
			i = n
		case s[i] == '[':
			n, err := parseBracket(s, i, &seg)
			if err != nil {
				return Path{}, err
			}
			i = n
		default:
			return fail(i, "unexpected %q: expected ., .. or [", s[i])
		}
		p.segs = append(p.segs, seg)
	}
	return p, nil
}

// MustParsePath is ParsePath for paths known to be good; it panics otherwise.
func MustParsePath(s string) Path {
	p, err := ParsePath(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the path as written.
func (p Path) String() string { return p.src }

// IsZero reports whether p is the zero Path (never parsed).
func (p Path) IsZero() bool { return p.src == "" }

func isNameFirst(r rune) bool {
	return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r >= 0x80
}

func isNameChar(r rune) bool {
	return isNameFirst(r) || (r >= '0' && r <= '9') || r == '-'
}

// parseShorthand parses name or * after a dot. A hyphen is accepted inside
// names (RFC 9535 does not, but JSON APIs use such keys and users write them).
func parseShorthand(s string, i int, seg *segment) (int, error) {
	if i >= len(s) {
		return i, &PathError{Path: s, Offset: i, Msg: "a name or * must follow ."}
	}
	if s[i] == '*' {
		seg.kind = segWild
		return i + 1, nil
	}
	start := i
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if i == start && !isNameFirst(r) {
			return i, &PathError{Path: s, Offset: i, Msg: fmt.Sprintf("a name cannot start with %q; use ['…'] for such keys", r)}
		}
		if !isNameChar(r) {
			break
		}
		i += size
	}
	seg.kind = segName
	seg.name = s[start:i]
	return i, nil
}

// parseBracket parses [n], [*], ['name'] or ["name"] starting at s[i] == '['.
func parseBracket(s string, i int, seg *segment) (int, error) {
	fail := func(off int, format string, args ...any) (int, error) {
		return off, &PathError{Path: s, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	i++ // [
	if i >= len(s) {
		return fail(i, "unterminated [")
	}
	switch c := s[i]; {
	case c == '*':
		seg.kind = segWild
		i++
	case c == '\'' || c == '"':
		name, n, err := parseQuoted(s, i)
		if err != nil {
			return n, err
		}
		seg.kind = segName
		seg.name = name
		i = n
	case c == '-':
		return fail(i, "negative indices are not supported")
	case c >= '0' && c <= '9':
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if s[start] == '0' && i-start > 1 {
			return fail(start, "an index has no leading zeros")
		}
		n, err := strconv.Atoi(s[start:i])
		if err != nil {
			return fail(start, "index out of range")
		}
		seg.kind = segIndex
		seg.index = n
	default:
		return fail(i, "expected an index, * or a quoted name inside [ ] (filters and slices are not supported)")
	}
	if i >= len(s) || s[i] != ']' {
		return fail(i, "expected ]")
	}
	return i + 1, nil
}

// parseQuoted parses a single- or double-quoted name with the escapes of RFC
// 9535 (\b \f \n \r \t \/ \\ \' \" \uXXXX).
func parseQuoted(s string, i int) (string, int, error) {
	q := s[i]
	i++
	var b strings.Builder
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", i, &PathError{Path: s, Offset: i, Msg: "unterminated escape"}
			}
			e := s[i+1]
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '/', '\\', '\'', '"':
				b.WriteByte(e)
			case 'u':
				if i+6 > len(s) {
					return "", i, &PathError{Path: s, Offset: i, Msg: "short \\u escape"}
				}
				v, err := strconv.ParseUint(s[i+2:i+6], 16, 32)
				if err != nil {
					return "", i, &PathError{Path: s, Offset: i, Msg: "bad \\u escape"}
				}
				b.WriteRune(rune(v))
				i += 4
			default:
				return "", i, &PathError{Path: s, Offset: i, Msg: fmt.Sprintf("unknown escape \\%c", e)}
			}
			i += 2
		case c < 0x20:
			return "", i, &PathError{Path: s, Offset: i, Msg: "control character in name"}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", i, &PathError{Path: s, Offset: i, Msg: "unterminated quoted name"}
}

// A step is one level of a concrete location: an object key or an array index.
type step struct {
	key   []byte
	index int // -1 for object keys
}

// matches reports whether seg selects the child reached by st.
func (seg *segment) matches(st step) bool {
	switch seg.kind {
	case segWild:
		return true
	case segName:
		return st.index < 0 && string(st.key) == seg.name
	case segIndex:
		return st.index >= 0 && st.index == seg.index
	default:
		return seg.matchesExt(st) // XML and forms (xpath.go)
	}
}

// Match reports whether the selector selects the concrete location given as
// a path string such as "$.items[3].price". It is meant for tests and tools;
// comparison uses a compiled matcher.
func (p Path) Match(concrete string) bool {
	steps, err := parseConcrete(concrete)
	if err != nil {
		return false
	}
	states := []int{0}
	for _, st := range steps {
		states = advance(p.segs, states, st, nil)
		if len(states) == 0 {
			return false
		}
	}
	for _, s := range states {
		if s == len(p.segs) {
			return true
		}
	}
	return false
}

// advance moves a set of NFA states (positions in segs) over one step.
func advance(segs []segment, states []int, st step, out []int) []int {
	add := func(s int) {
		for _, x := range out {
			if x == s {
				return
			}
		}
		out = append(out, s)
	}
	for _, s := range states {
		if s >= len(segs) {
			continue
		}
		seg := &segs[s]
		if seg.desc {
			add(s) // a descendant segment may match deeper down
		}
		if seg.matches(st) {
			add(s + 1)
		}
	}
	return out
}

// parseConcrete parses a concrete path (names, quoted names and indices only).
func parseConcrete(s string) ([]step, error) {
	p, err := ParsePath(s)
	if err != nil {
		return nil, err
	}
	steps := make([]step, 0, len(p.segs))
	for _, seg := range p.segs {
		st, ok := seg.concreteStep()
		if seg.desc || !ok {
			return nil, fmt.Errorf("%q is not a concrete path", s)
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// appendStep appends the text of one step to a path being formatted; with
// pattern set, indices are written as [*].
func appendStep(b []byte, st step, pattern bool) []byte {
	if st.index >= 0 {
		if pattern {
			return append(b, "[*]"...)
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(st.index), 10)
		return append(b, ']')
	}
	if isShorthand(st.key) {
		b = append(b, '.')
		return append(b, st.key...)
	}
	b = append(b, "['"...)
	for _, r := range string(st.key) {
		switch {
		case r == '\'' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, fmt.Sprintf(`\u%04x`, r)...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, "']"...)
}

func isShorthand(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for i, r := range string(k) {
		if r == utf8.RuneError {
			return false
		}
		if i == 0 && !isNameFirst(r) || !isNameChar(r) {
			return false
		}
	}
	return true
}

// formatPath returns the concrete path and the pattern of a location.
func formatPath(steps []step) (path, pattern string) {
	var buf [128]byte
	b := append(buf[:0], '$')
	for _, st := range steps {
		b = appendStep(b, st, false)
	}
	path = string(b)
	b = append(buf[:0], '$')
	for _, st := range steps {
		b = appendStep(b, st, true)
	}
	pattern = string(b)
	return path, pattern
}

// PatternOf returns the pattern of a concrete path: every [n] becomes [*].
// Paths that are not JSON paths (status, header:…, text:12) map to their
// group name.
func PatternOf(concrete string) string {
	if strings.HasPrefix(concrete, "text:") {
		return "text"
	}
	if p, ok := patternOfExt(concrete); ok {
		return p
	}
	steps, err := parseConcrete(concrete)
	if err != nil {
		return concrete
	}
	_, pattern := formatPath(steps)
	return pattern
}
