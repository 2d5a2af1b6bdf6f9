package diff

import (
	"bytes"
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
	// alias marks a container of a document parsed against a guide (see
	// parseAgainst) that was not parsed because its bytes are those of its
	// counterpart in the guide. It has no children; n is 0 until the walker
	// needs its structure and parses it (materialize), then the index of
	// that parsed copy plus one.
	alias bool
}

// document is a parsed JSON text. Parsing allocates nothing once the
// node slice has grown to size, and documents are pooled.
type document struct {
	src   []byte
	nodes []jnode
	// deepest is the greatest depth at which a container opened: a
	// subtree of this document is at most that high.
	deepest int
	// guide is the document being followed while parsing against one;
	// hits and misses count the containers that were and were not found
	// equal to their counterpart there (see guiding).
	guide        *document
	hits, misses int
}

// Following the guide costs a lookup and a failed memory comparison per
// container where the documents differ throughout (every object's members
// reordered: 5-15% of the parse in an A/B run). Once misses pass
// minGuideMisses and outnumber hits guideMissRatio to one, the rest of the
// document is parsed without the guide.
const (
	minGuideMisses = 64
	guideMissRatio = 8
)

func (d *document) guiding() bool {
	return d.misses <= minGuideMisses || d.misses <= guideMissRatio*d.hits
}

var docPool = sync.Pool{New: func() any { return new(document) }}

func getDocument() *document { return docPool.Get().(*document) }

// maxPooledNodes bounds the node slice a pooled document keeps (28 bytes a
// node, so under 2 MiB; a 256 KiB API answer has about 23,000 nodes):
// larger documents are parsed into a fresh slice and let go.
const maxPooledNodes = 1 << 16

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

func (d *document) parse(src []byte) error { return d.parseAgainst(src, nil) }

// parseAgainst parses src as parse does, following guide (a document
// already parsed, or nil) along the way: each container of src is paired
// with the guide's value at the same member name or array index, and when
// its bytes are the guide's it is not parsed but recorded as one alias
// node. The bytes are valid JSON (the guide parsed them), they parse into
// the same values, and the walker, which compares bytes before structure,
// finds them equal without looking inside. So a candidate that differs
// from legacy in a few places costs a memory comparison where it agrees,
// instead of a second parse: half the work of comparing two documents.
func (d *document) parseAgainst(src []byte, guide *document) error {
	if len(src) > 1<<31-1 {
		return &SyntaxError{Msg: "document too large"}
	}
	d.src = src
	d.nodes = d.nodes[:0]
	d.deepest = 0
	d.guide = guide
	d.hits, d.misses = 0, 0
	defer func() { d.guide = nil }()
	g := int32(-1)
	if guide != nil && len(guide.nodes) > 0 {
		g = 0
	}
	i := skipSpace(src, 0)
	i, err := d.value(i, 0, g)
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
// and returns the offset after it. g is the index of its counterpart in
// d.guide, or -1.
func (d *document) value(i, depth int, g int32) (int, error) {
	s := d.src
	if i >= len(s) {
		return i, d.syntax(i, "unexpected end of input")
	}
	idx := len(d.nodes)
	if g >= 0 && (s[i] == '{' || s[i] == '[') {
		if end, ok := d.same(i, depth, g); ok {
			d.hits++
			d.nodes = append(d.nodes, jnode{kind: d.guide.nodes[g].kind, alias: true, start: int32(i), end: int32(end), next: int32(idx + 1)})
			return end, nil
		}
		if d.misses++; !d.guiding() {
			g = -1
		}
	}
	switch c := s[i]; c {
	case '"':
		end, esc, err := d.str(i)
		if err != nil {
			return end, err
		}
		d.nodes = append(d.nodes, jnode{kind: kString, esc: esc, start: int32(i), end: int32(end), next: int32(idx + 1)})
		return end, nil
	case '{':
		return d.container(i, depth, g, idx, kObject)
	case '[':
		return d.container(i, depth, g, idx, kArray)
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

// container parses the object or array at s[i] (its node is to be
// d.nodes[idx]), following the guide's node g when it has one (see same):
// a member is matched to the guide's by name, an element by position.
func (d *document) container(i, depth int, g int32, idx int, kind jkind) (int, error) {
	s := d.src
	if depth >= MaxDepth {
		return i, errDepth
	}
	d.nodes = append(d.nodes, jnode{kind: kind, start: int32(i)})
	d.deepest = max(d.deepest, depth)
	closer := byte(']')
	if kind == kObject {
		closer = '}'
	}
	n := int32(0)
	// cur is the guide's child at the position of the one being parsed.
	cur, left := d.guideKids(g, kind)
	if i++; i < len(s) && isSpace[s[i]] {
		i = skipSpace(s, i)
	}
	if i < len(s) && s[i] == closer {
		i++
	} else {
		for {
			var err error
			ks, kend, kesc := 0, 0, false
			if kind == kObject {
				if ks, kend, kesc, i, err = d.name(i); err != nil {
					return i, err
				}
			}
			child := len(d.nodes)
			cg := int32(-1)
			switch {
			case kind == kArray:
				if left > 0 && d.guiding() {
					cg = cur
				}
			case cur >= 0 && i < len(s) && (s[i] == '{' || s[i] == '[') && d.guiding():
				cg = d.guideMember(g, cur, left, s[ks:kend])
			}
			if left > 0 {
				cur, left = d.guide.nodes[cur].next, left-1
			}
			if i, err = d.value(i, depth+1, cg); err != nil {
				return i, err
			}
			if kind == kObject {
				kn := &d.nodes[child]
				kn.kstart, kn.kend, kn.kesc = int32(ks), int32(kend), kesc
			}
			n++
			var more bool
			if i, more, err = d.after(i, closer); err != nil {
				return i, err
			}
			if !more {
				break
			}
		}
	}
	nd := &d.nodes[idx]
	nd.end, nd.n, nd.next = int32(i), n, int32(len(d.nodes))
	return i, nil
}

// name reads a member's name and the ':' after it, from s[i]: the name's
// bounds (quotes included), whether it holds escapes, and where its value
// starts.
func (d *document) name(i int) (ks, kend int, kesc bool, next int, err error) {
	s := d.src
	if i >= len(s) || s[i] != '"' {
		return 0, 0, false, i, d.syntax(i, "expected a member name")
	}
	ks = i
	if kend, kesc, err = d.str(i); err != nil {
		return 0, 0, false, kend, err
	}
	i = kend
	if i < len(s) && isSpace[s[i]] {
		i = skipSpace(s, i)
	}
	if i >= len(s) || s[i] != ':' {
		return 0, 0, false, i, d.syntax(i, "expected ':'")
	}
	if i++; i < len(s) && isSpace[s[i]] {
		i = skipSpace(s, i)
	}
	return ks, kend, kesc, i, nil
}

// after reads what follows a member or an element: a ',' (more follow) or
// the container's closing byte.
func (d *document) after(i int, closing byte) (int, bool, error) {
	s := d.src
	if i < len(s) && isSpace[s[i]] {
		i = skipSpace(s, i)
	}
	if i < len(s) && s[i] == ',' {
		if i++; i < len(s) && isSpace[s[i]] {
			i = skipSpace(s, i)
		}
		return i, true, nil
	}
	if i < len(s) && s[i] == closing {
		return i + 1, false, nil
	}
	return i, false, d.syntax(i, "expected ',' or '%c'", closing)
}

// same reports whether the container at src[i] has the bytes of guide node
// g, and if so where it ends. The depth check keeps MaxDepth exact: the
// same bytes deeper down could nest too deeply where the guide's did not.
func (d *document) same(i, depth int, g int32) (int, bool) {
	gn := &d.guide.nodes[g]
	if gn.alias || d.guide.src[gn.start] != d.src[i] || depth+d.guide.deepest >= MaxDepth {
		return 0, false
	}
	end := i + int(gn.end-gn.start)
	if end > len(d.src) || !bytes.Equal(d.src[i:end], d.guide.src[gn.start:gn.end]) {
		return 0, false
	}
	return end, true
}

// guideKids returns the first child of guide node g and how many it has,
// when g is a container of kind k; (-1, 0) otherwise.
func (d *document) guideKids(g int32, k jkind) (int32, int32) {
	if g < 0 {
		return -1, 0
	}
	gn := &d.guide.nodes[g]
	if gn.kind != k || gn.alias || gn.n == 0 {
		return -1, 0
	}
	return g + 1, gn.n
}

// maxGuideSearch bounds the members searched for a name when the guide's
// member at the same position has another: a guess, not worth quadratic
// work on huge objects.
const maxGuideSearch = 64

// guideMember returns the member of guide object g named key (raw, with
// quotes), trying cur (the member at the same position, left of them
// remaining) first; -1 if there is none.
func (d *document) guideMember(g, cur, left int32, key []byte) int32 {
	gd := d.guide
	if left > 0 {
		cn := &gd.nodes[cur]
		if bytes.Equal(gd.src[cn.kstart:cn.kend], key) {
			return cur
		}
	}
	gn := &gd.nodes[g]
	if gn.n > maxGuideSearch {
		return -1
	}
	for k, c := int32(0), g+1; k < gn.n; k++ {
		cn := &gd.nodes[c]
		if bytes.Equal(gd.src[cn.kstart:cn.kend], key) {
			return c
		}
		c = cn.next
	}
	return -1
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
