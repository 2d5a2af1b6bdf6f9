package diff

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of JSON documents that are compared as
// structure. Deeper documents are compared as text: the bound keeps a hostile
// body from costing unbounded stack.
const MaxDepth = 1000

type jkind uint8

const (
	kNull jkind = iota
	kBool
	kNumber
	kString
	kArray
	kObject
)

func (k jkind) String() string {
	return [...]string{"null", "boolean", "number", "string", "array", "object"}[k]
}

// jnode is one value of a parsed document. Scalars are spans of the source;
// containers point at their children in document.kids (and, for objects, at
// the member names in document.keys, aligned with kids).
type jnode struct {
	kind  jkind
	esc   bool // a string with escapes or non-ASCII bytes: decode before comparing
	start int32
	end   int32
	first int32
	n     int32
}

type span struct {
	start, end int32
	esc        bool
}

// document is a parsed JSON text. Parsing allocates nothing once the
// document's slices have grown to size, and documents are pooled.
type document struct {
	src   []byte
	nodes []jnode
	kids  []int32
	keys  []span // aligned with kids; the names of object members
	// stacks used while parsing
	kidStack []int32
	keyStack []span
}

var docPool = sync.Pool{New: func() any { return new(document) }}

func getDocument() *document { return docPool.Get().(*document) }

func putDocument(d *document) {
	if cap(d.nodes) > 1<<16 { // do not keep huge documents alive
		return
	}
	d.src = nil
	docPool.Put(d)
}

var errDepth = errors.New("nested too deeply")

// SyntaxError is a JSON syntax error at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.Msg)
}

func (d *document) parse(src []byte) error {
	if len(src) > 1<<31-1 {
		return &SyntaxError{Msg: "document too large"}
	}
	d.src = src
	d.nodes = d.nodes[:0]
	d.kids = d.kids[:0]
	d.keys = d.keys[:0]
	d.kidStack = d.kidStack[:0]
	d.keyStack = d.keyStack[:0]
	i := skipSpace(src, 0)
	_, i, err := d.value(i, 0)
	if err != nil {
		return err
	}
	i = skipSpace(src, i)
	if i != len(src) {
		return &SyntaxError{Offset: i, Msg: "data after the top-level value"}
	}
	return nil
}

func skipSpace(s []byte, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (d *document) syntax(i int, format string, args ...any) error {
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf(format, args...)}
}

// value parses the value at src[i] (no leading space) and returns its node.
func (d *document) value(i, depth int) (int32, int, error) {
	s := d.src
	if i >= len(s) {
		return 0, i, d.syntax(i, "unexpected end of input")
	}
	idx := int32(len(d.nodes))
	switch c := s[i]; {
	case c == '{':
		if depth >= MaxDepth {
			return 0, i, errDepth
		}
		d.nodes = append(d.nodes, jnode{kind: kObject, start: int32(i)})
		kbase, sbase := len(d.kidStack), len(d.keyStack)
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == '}' {
			i++
		} else {
			for {
				if i >= len(s) || s[i] != '"' {
					return 0, i, d.syntax(i, "expected a member name")
				}
				ks, kend, esc, err := d.str(i)
				if err != nil {
					return 0, kend, err
				}
				i = skipSpace(s, kend)
				if i >= len(s) || s[i] != ':' {
					return 0, i, d.syntax(i, "expected ':'")
				}
				i = skipSpace(s, i+1)
				child, next, err := d.value(i, depth+1)
				if err != nil {
					return 0, next, err
				}
				d.kidStack = append(d.kidStack, child)
				d.keyStack = append(d.keyStack, span{start: int32(ks), end: int32(kend), esc: esc})
				i = skipSpace(s, next)
				if i < len(s) && s[i] == ',' {
					i = skipSpace(s, i+1)
					continue
				}
				if i < len(s) && s[i] == '}' {
					i++
					break
				}
				return 0, i, d.syntax(i, "expected ',' or '}'")
			}
		}
		n := &d.nodes[idx]
		n.end = int32(i)
		n.first = int32(len(d.kids))
		n.n = int32(len(d.kidStack) - kbase)
		d.kids = append(d.kids, d.kidStack[kbase:]...)
		d.keys = append(d.keys, d.keyStack[sbase:]...)
		d.kidStack = d.kidStack[:kbase]
		d.keyStack = d.keyStack[:sbase]
		return idx, i, nil
	case c == '[':
		if depth >= MaxDepth {
			return 0, i, errDepth
		}
		d.nodes = append(d.nodes, jnode{kind: kArray, start: int32(i)})
		kbase := len(d.kidStack)
		i = skipSpace(s, i+1)
		if i < len(s) && s[i] == ']' {
			i++
		} else {
			for {
				child, next, err := d.value(i, depth+1)
				if err != nil {
					return 0, next, err
				}
				d.kidStack = append(d.kidStack, child)
				i = skipSpace(s, next)
				if i < len(s) && s[i] == ',' {
					i = skipSpace(s, i+1)
					continue
				}
				if i < len(s) && s[i] == ']' {
					i++
					break
				}
				return 0, i, d.syntax(i, "expected ',' or ']'")
			}
		}
		n := &d.nodes[idx]
		n.end = int32(i)
		n.first = int32(len(d.kids))
		n.n = int32(len(d.kidStack) - kbase)
		d.kids = append(d.kids, d.kidStack[kbase:]...)
		// keys stays aligned with kids: array elements have no name.
		for range n.n {
			d.keys = append(d.keys, span{})
		}
		d.kidStack = d.kidStack[:kbase]
		return idx, i, nil
	case c == '"':
		start, end, esc, err := d.str(i)
		if err != nil {
			return 0, end, err
		}
		d.nodes = append(d.nodes, jnode{kind: kString, esc: esc, start: int32(start), end: int32(end)})
		return idx, end, nil
	case c == '-' || (c >= '0' && c <= '9'):
		end, err := d.number(i)
		if err != nil {
			return 0, end, err
		}
		d.nodes = append(d.nodes, jnode{kind: kNumber, start: int32(i), end: int32(end)})
		return idx, end, nil
	case c == 't':
		return d.literal(i, "true", kBool)
	case c == 'f':
		return d.literal(i, "false", kBool)
	case c == 'n':
		return d.literal(i, "null", kNull)
	default:
		return 0, i, d.syntax(i, "unexpected %q", c)
	}
}

func (d *document) literal(i int, lit string, k jkind) (int32, int, error) {
	if len(d.src)-i < len(lit) || string(d.src[i:i+len(lit)]) != lit {
		return 0, i, d.syntax(i, "expected %s", lit)
	}
	idx := int32(len(d.nodes))
	d.nodes = append(d.nodes, jnode{kind: k, start: int32(i), end: int32(i + len(lit))})
	return idx, i + len(lit), nil
}

// str scans the string starting at src[i] == '"'. The span includes the
// quotes. esc reports escapes or bytes ≥ 0x80 (which must be decoded, as
// invalid UTF-8 compares as U+FFFD).
func (d *document) str(i int) (start, end int, esc bool, err error) {
	s := d.src
	start = i
	i++
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return start, i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(s) {
				return start, i, esc, d.syntax(i, "unterminated escape")
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex4(s[i+2:i+6]) {
					return start, i, esc, d.syntax(i, "bad \\u escape")
				}
				i += 6
			default:
				return start, i, esc, d.syntax(i, "bad escape \\%c", s[i+1])
			}
		case c < 0x20:
			return start, i, esc, d.syntax(i, "control character in string")
		default:
			if c >= 0x80 {
				esc = true
			}
			i++
		}
	}
	return start, i, esc, d.syntax(i, "unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (d *document) number(i int) (int, error) {
	s := d.src
	start := i
	if s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return i, d.syntax(i, "bad number")
	}
	if s[i] == '0' {
		i++
	} else if s[i] >= '1' && s[i] <= '9' {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	} else {
		return i, d.syntax(start, "bad number")
	}
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == fs {
			return i, d.syntax(start, "bad number")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == es {
			return i, d.syntax(start, "bad number")
		}
	}
	return i, nil
}

// unquote decodes a JSON string literal (with its quotes) the way
// encoding/json does: invalid UTF-8 and lone surrogates become U+FFFD.
func unquote(dst, lit []byte) []byte {
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch s[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := rune(hex4(s[i+2 : i+6]))
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 := rune(hex4(s[i+2 : i+6]))
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							dst = utf8.AppendRune(dst, dec)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default:
				dst = append(dst, s[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func hex4(b []byte) uint64 {
	v, _ := strconv.ParseUint(string(b), 16, 32)
	return v
}
