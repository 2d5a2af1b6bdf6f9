package diff

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Paths into XML bodies and forms. They share the selector machinery of
// JSONPath (selectors.go): a location is a list of steps, and a rule's
// segments run over them as an NFA. The steps of these formats are keys
// that start with a marker byte, so that a JSON name can never select an
// XML element or a form field (JSON keys holding these control bytes would
// need \u0001-style escapes, which no real API sends):
//
//	XML element  "\x01" + name, then an index step (0-based, among the
//	             siblings of that name; written 1-based, as in XPath)
//	XML attribute "\x02" + name
//	form field   "\x03" + name (urlencoded field or multipart part)
//	part header  "\x04" + canonical header name
//
// An XML name is "{namespace-uri}local" (James Clark's notation), or just
// "local" outside any namespace: prefixes are never compared.

const (
	markElem   = '\x01'
	markAttr   = '\x02'
	markField  = '\x03'
	markHeader = '\x04'
)

// Segment kinds of XML and form paths (see segKind in path.go).
const (
	segXElem      segKind = iota + 16 // an XML element by name ("*": any)
	segXAttr                          // an XML attribute by name ("*": any)
	segAnyIndex                       // an element step without [n] (or with [*]): any index
	segField                          // a form field or multipart part by name ("*": any)
	segPartHeader                     // a header of a multipart part
)

// matchesExt is segment.matches for the kinds of this file.
func (seg *segment) matchesExt(st step) bool {
	if seg.kind == segAnyIndex {
		return st.index >= 0
	}
	if st.index >= 0 || len(st.key) == 0 {
		return false
	}
	name := string(st.key[1:])
	switch seg.kind {
	case segXElem:
		return st.key[0] == markElem && xmlNameMatches(seg.name, name)
	case segXAttr:
		return st.key[0] == markAttr && xmlNameMatches(seg.name, name)
	case segField:
		return st.key[0] == markField && (seg.name == "*" || seg.name == name)
	case segPartHeader:
		return st.key[0] == markHeader && seg.name == name
	}
	return false
}

// xmlNameMatches: a name in a path without {uri} matches that local name
// in any namespace; with {uri} (possibly {}), only in that namespace.
func xmlNameMatches(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	if strings.HasPrefix(pattern, "{") {
		return pattern == name
	}
	return localName(name) == pattern
}

func localName(clark string) string {
	if strings.HasPrefix(clark, "{") {
		if i := strings.IndexByte(clark, '}'); i >= 0 {
			return clark[i+1:]
		}
	}
	return clark
}

// concreteStep is the step a segment of a concrete path stands for.
func (seg *segment) concreteStep() (step, bool) {
	switch seg.kind {
	case segName:
		return step{key: []byte(seg.name), index: -1}, true
	case segIndex:
		return step{index: seg.index}, true
	case segAnyIndex:
		return step{index: 0}, true // item without [n] is item[1]
	case segXElem:
		return step{key: []byte(string(markElem) + seg.name), index: -1}, seg.name != "*"
	case segXAttr:
		return step{key: []byte(string(markAttr) + seg.name), index: -1}, seg.name != "*"
	case segField:
		return step{key: []byte(string(markField) + seg.name), index: -1}, seg.name != "*"
	case segPartHeader:
		return step{key: []byte(string(markHeader) + seg.name), index: -1}, true
	}
	return step{}, false
}

// parseXMLPath parses an XPath-like path: /a/b[2]/c, /a/*/c, //c, /a/@id,
// /a/@*, /a/b[*]. Indexes are 1-based, as in XPath; a step without one
// selects every index. "/" alone is the whole document.
func parseXMLPath(s string, base int, p *Path) error {
	fail := func(off int, format string, args ...any) error {
		return &PathError{Path: p.src, Offset: base + off, Msg: fmt.Sprintf(format, args...)}
	}
	if s == "/" {
		return nil
	}
	i := 0
	for i < len(s) {
		if s[i] != '/' {
			return fail(i, "unexpected %q: expected /", s[i])
		}
		desc := false
		i++
		if i < len(s) && s[i] == '/' {
			desc = true
			i++
		}
		if i >= len(s) {
			return fail(i, "a / must be followed by an element name, * or @attribute")
		}
		attr := false
		if s[i] == '@' {
			attr = true
			i++
		}
		name, n, err := xmlPathName(s, i)
		if err != nil {
			return fail(n, "%s", err)
		}
		i = n
		if attr {
			p.segs = append(p.segs, segment{desc: desc, kind: segXAttr, name: name})
			if i < len(s) && s[i] == '[' {
				return fail(i, "an attribute has no index")
			}
			if i < len(s) {
				return fail(i, "an attribute is the last step of a path")
			}
			continue
		}
		p.segs = append(p.segs, segment{desc: desc, kind: segXElem, name: name})
		idx := segment{kind: segAnyIndex}
		if i < len(s) && s[i] == '[' {
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return fail(i, "unterminated [")
			}
			in := s[i+1 : i+j]
			switch {
			case in == "*":
			case in != "" && in[0] >= '1' && in[0] <= '9' && allDigits(in):
				n, err := strconv.Atoi(in)
				if err != nil {
					return fail(i+1, "index out of range")
				}
				idx = segment{kind: segIndex, index: n - 1}
			case in == "0":
				return fail(i+1, "XML indexes start at 1, as in XPath")
			default:
				return fail(i+1, "expected an index (1, 2, …) or * inside [ ] (XPath predicates are not supported)")
			}
			i += j + 1
		}
		p.segs = append(p.segs, idx)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// xmlPathName reads "*", "local" or "{uri}local" at s[i].
func xmlPathName(s string, i int) (string, int, error) {
	if i < len(s) && s[i] == '*' {
		return "*", i + 1, nil
	}
	start := i
	if i < len(s) && s[i] == '{' {
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", i, fmt.Errorf("unterminated {namespace}")
		}
		i += j + 1
	}
	ls := i
	for i < len(s) && !strings.ContainsRune("/[]@{}", rune(s[i])) && s[i] > ' ' {
		i++
	}
	if i == ls {
		return "", i, fmt.Errorf("expected an element or attribute name")
	}
	if strings.ContainsRune(s[ls:i], ':') {
		return "", ls, fmt.Errorf("prefixes are not used in paths (they change from document to document): write the local name, or {namespace-uri}name")
	}
	return s[start:i], i, nil
}

// parseFormPath parses form:NAME, form:'odd:name', form:* and, inside a
// multipart part, form:NAME:header:Content-Type, form:NAME:$.json.path
// and form:NAME:/xml/path.
func parseFormPath(s string, p *Path) error {
	fail := func(off int, format string, args ...any) error {
		return &PathError{Path: s, Offset: off, Msg: fmt.Sprintf(format, args...)}
	}
	i := len("form:")
	if i >= len(s) {
		return fail(i, "form: must be followed by a field name or *")
	}
	var name string
	quoted := false
	switch s[i] {
	case '\'', '"':
		n, next, err := parseQuoted(s, i)
		if err != nil {
			return err
		}
		name, i, quoted = n, next, true
	default:
		j := strings.IndexByte(s[i:], ':')
		if j < 0 {
			j = len(s) - i
		}
		name, i = s[i:i+j], i+j
	}
	if name == "" && !quoted {
		return fail(i, "empty field name (write form:'' for a field without a name; quote odd names: form:'a:b')")
	}
	p.segs = append(p.segs, segment{kind: segField, name: name})
	if i == len(s) {
		return nil
	}
	if s[i] != ':' {
		return fail(i, "unexpected %q after the field name: expected : and a path inside the part", s[i])
	}
	i++
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "header:"):
		h := rest[len("header:"):]
		// Inner spaces stay: a part may carry a header name with one
		// (mime/multipart keeps it), and the pattern reported for it must
		// parse back. Space around the name is a typo ("header: X").
		if h == "" || strings.ContainsRune(h, ':') || strings.TrimSpace(h) != h {
			return fail(i, "header: must be followed by a header name")
		}
		p.segs = append(p.segs, segment{kind: segPartHeader, name: http.CanonicalHeaderKey(h)})
	case strings.HasPrefix(rest, "$"):
		inner, err := ParsePath(rest)
		if err != nil {
			if pe, ok := err.(*PathError); ok {
				return &PathError{Path: s, Offset: i + pe.Offset, Msg: pe.Msg}
			}
			return err
		}
		p.segs = append(p.segs, inner.segs...)
	case strings.HasPrefix(rest, "/"):
		return parseXMLPath(rest, i, p)
	default:
		return fail(i, "inside a part, expected header:NAME, a JSONPath ($…) or an XML path (/…)")
	}
	return nil
}

// formName writes a field name for a path, quoted when it could not be
// read back otherwise.
func formName(name string) string {
	if name != "" && name != "*" && !strings.ContainsAny(name, ":'\"\\") && name[0] >= ' ' {
		return name
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range name {
		switch {
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// patternOfExt returns the pattern of an XML or form concrete path, and
// whether concrete is one. XML patterns drop the indexes: in XPath,
// /order/items/item/price already selects the price of every item, so the
// pattern is the same however many items a body has.
func patternOfExt(concrete string) (string, bool) {
	switch {
	case strings.HasPrefix(concrete, "/"):
		return xmlPattern(concrete), true
	case strings.HasPrefix(concrete, "form:"):
		return formPattern(concrete), true
	}
	return "", false
}

func xmlPattern(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			b.WriteString(s[i : i+j+1])
			i += j
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			i += j
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// formPattern: the field name stays; what is inside the part gets its own
// pattern (form:meta:$.items[2] → form:meta:$.items[*]).
func formPattern(s string) string {
	i := len("form:")
	if i < len(s) && (s[i] == '\'' || s[i] == '"') {
		_, next, err := parseQuoted(s, i)
		if err != nil {
			return s
		}
		i = next
	} else if j := strings.IndexByte(s[i:], ':'); j >= 0 {
		i += j
	} else {
		return s
	}
	if i >= len(s) || s[i] != ':' {
		return s
	}
	return s[:i+1] + PatternOf(s[i+1:])
}

// parseExtPath parses an XML path or a form path (ParsePath's hook).
func parseExtPath(p *Path) error {
	if strings.HasPrefix(p.src, "/") {
		return parseXMLPath(p.src, 0, p)
	}
	return parseFormPath(p.src, p)
}
