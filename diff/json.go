package diff

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
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

// jnode is one value of a parsed document. Nodes are stored in document
// order, each container followed by its subtree: a container's first child
// is the next node, and each child's next says where its sibling starts.
// One node per value and no side tables keep parsing to one append per
// value (the child and key lists of an earlier layout cost a third of the
// parse in a profile). Scalars are spans of the source; a member of an
// object also holds its name's span.
type jnode struct {
	start, end   int32 // the value's bytes
	kstart, kend int32 // object members: the name, with its quotes
	next         int32 // the index of the first node after this subtree
	n            int32 // containers: the number of children
	kind         jkind
	esc          bool // a string with escapes or non-ASCII bytes: decode before comparing
	kesc         bool // the same, of the member name
}

// document is a parsed JSON text. Parsing allocates nothing once the
// node slice has grown to size, and documents are pooled.
type document struct {
	src   []byte
	nodes []jnode
}

var docPool = sync.Pool{New: func() any { return new(document) }}

func getDocument() *document { return docPool.Get().(*document) }

// maxPooledNodes bounds the node slice a pooled document keeps (28 bytes a
// node): larger documents are parsed into a fresh slice and let go.
const maxPooledNodes = 1 << 17

func putDocument(d *document) {
	if cap(d.nodes) > maxPooledNodes { // do not keep huge documents alive
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
	i := skipSpace(src, 0)
	i, err := d.value(i, 0)
	if err != nil {
		return err
	}
	i = skipSpace(src, i)
	if i != len(src) {
		return &SyntaxError{Offset: i, Msg: "data after the top-level value"}
	}
	return nil
}

// isSpace marks the four JSON whitespace bytes.
var isSpace = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

func skipSpace(s []byte, i int) int {
	for i < len(s) && isSpace[s[i]] {
		i++
	}
	return i
}

func (d *document) syntax(i int, format string, args ...any) error {
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf(format, args...)}
}

// value parses the value at src[i] (no leading space), appends its subtree
// and returns the offset after it.
func (d *document) value(i, depth int) (int, error) {
	s := d.src
	if i >= len(s) {
		return i, d.syntax(i, "unexpected end of input")
	}
	idx := len(d.nodes)
	switch c := s[i]; c {
	case '"':
		end, esc, err := d.str(i)
		if err != nil {
			return end, err
		}
		d.nodes = append(d.nodes, jnode{kind: kString, esc: esc, start: int32(i), end: int32(end), next: int32(idx + 1)})
		return end, nil
	case '{':
		if depth >= MaxDepth {
			return i, errDepth
		}
		d.nodes = append(d.nodes, jnode{kind: kObject, start: int32(i)})
		n := int32(0)
		if i++; i < len(s) && isSpace[s[i]] {
			i = skipSpace(s, i)
		}
		if i < len(s) && s[i] == '}' {
			i++
		} else {
			for {
				if i >= len(s) || s[i] != '"' {
					return i, d.syntax(i, "expected a member name")
				}
				ks := i
				kend, kesc, err := d.str(i)
				if err != nil {
					return kend, err
				}
				i = kend
				if i < len(s) && isSpace[s[i]] {
					i = skipSpace(s, i)
				}
				if i >= len(s) || s[i] != ':' {
					return i, d.syntax(i, "expected ':'")
				}
				if i++; i < len(s) && isSpace[s[i]] {
					i = skipSpace(s, i)
				}
				child := len(d.nodes)
				if i, err = d.value(i, depth+1); err != nil {
					return i, err
				}
				kn := &d.nodes[child]
				kn.kstart, kn.kend, kn.kesc = int32(ks), int32(kend), kesc
				n++
				if i < len(s) && isSpace[s[i]] {
					i = skipSpace(s, i)
				}
				if i < len(s) && s[i] == ',' {
					if i++; i < len(s) && isSpace[s[i]] {
						i = skipSpace(s, i)
					}
					continue
				}
				if i < len(s) && s[i] == '}' {
					i++
					break
				}
				return i, d.syntax(i, "expected ',' or '}'")
			}
		}
		nd := &d.nodes[idx]
		nd.end, nd.n, nd.next = int32(i), n, int32(len(d.nodes))
		return i, nil
	case '[':
		if depth >= MaxDepth {
			return i, errDepth
		}
		d.nodes = append(d.nodes, jnode{kind: kArray, start: int32(i)})
		n := int32(0)
		if i++; i < len(s) && isSpace[s[i]] {
			i = skipSpace(s, i)
		}
		if i < len(s) && s[i] == ']' {
			i++
		} else {
			for {
				var err error
				if i, err = d.value(i, depth+1); err != nil {
					return i, err
				}
				n++
				if i < len(s) && isSpace[s[i]] {
					i = skipSpace(s, i)
				}
				if i < len(s) && s[i] == ',' {
					if i++; i < len(s) && isSpace[s[i]] {
						i = skipSpace(s, i)
					}
					continue
				}
				if i < len(s) && s[i] == ']' {
					i++
					break
				}
				return i, d.syntax(i, "expected ',' or ']'")
			}
		}
		nd := &d.nodes[idx]
		nd.end, nd.n, nd.next = int32(i), n, int32(len(d.nodes))
		return i, nil
	case 't':
		return d.literal(i, "true", kBool)
	case 'f':
		return d.literal(i, "false", kBool)
	case 'n':
		return d.literal(i, "null", kNull)
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			end, err := d.number(i)
			if err != nil {
				return end, err
			}
			d.nodes = append(d.nodes, jnode{kind: kNumber, start: int32(i), end: int32(end), next: int32(idx + 1)})
			return end, nil
		}
		return i, d.syntax(i, "unexpected %q", c)
	}
}

func (d *document) literal(i int, lit string, k jkind) (int, error) {
	if len(d.src)-i < len(lit) || string(d.src[i:i+len(lit)]) != lit {
		return i, d.syntax(i, "expected %s", lit)
	}
	idx := len(d.nodes)
	d.nodes = append(d.nodes, jnode{kind: k, start: int32(i), end: int32(i + len(lit)), next: int32(idx + 1)})
	return i + len(lit), nil
}

// SWAR constants: the byte 0x01, and each byte's high bit, in every lane.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// special returns a mask with the high bit set in (at least) the first of
// the eight bytes of v that ends or interrupts a plain string run: '"',
// '\\', a control byte (< 0x20) or a byte ≥ 0x80. Lanes above the first
// hit may be set spuriously (borrows), so only the lowest hit is exact.
func special(v uint64) uint64 {
	q := v ^ (lanes01 * '"')
	b := v ^ (lanes01 * '\\')
	return ((q - lanes01) &^ q) | ((b - lanes01) &^ b) | ((v - lanes01*0x20) &^ v) | v
}

// str scans the string starting at src[i] == '"' and returns the offset
// after its closing quote. esc reports escapes or bytes ≥ 0x80 (which must
// be decoded, as invalid UTF-8 compares as U+FFFD). Most strings in API
// answers are plain ASCII, so runs are skipped eight bytes at a time.
func (d *document) str(i int) (end int, esc bool, err error) {
	s := d.src
	i++
	for {
		for i+8 <= len(s) {
			m := special(binary.LittleEndian.Uint64(s[i:])) & lanes80
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(s) {
			return i, esc, d.syntax(i, "unterminated string")
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(s) {
				return i, esc, d.syntax(i, "unterminated escape")
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex4(s[i+2:i+6]) {
					return i, esc, d.syntax(i, "bad \\u escape")
				}
				i += 6
			default:
				return i, esc, d.syntax(i, "bad escape \\%c", s[i+1])
			}
		case c < 0x20:
			return i, esc, d.syntax(i, "control character in string")
		default:
			// c ≥ 0x80, or a plain byte of the last (short) run.
			if c >= 0x80 {
				esc = true
			}
			i++
		}
	}
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
		i++
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
