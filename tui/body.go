package tui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
)

// bodyLine is one line of a body as shown: its text and, for JSON, the
// concrete path of the value it holds ("$.items[2].id"), so that a
// difference can be found in the body.
type bodyLine struct {
	text, path string
}

// bodyLines renders a response body for reading: JSON pretty-printed with
// sorted keys (key order never counts as a difference), text by lines,
// anything else summarised.
func bodyLines(r *tandem.Response) []bodyLine {
	if r.Err != "" {
		return []bodyLine{{text: "(no answer: " + r.Err + ")"}}
	}
	var out []bodyLine
	if r.Truncated {
		out = append(out, bodyLine{text: fmt.Sprintf("(first %d of %d bytes; compared by SHA-256 %s)", len(r.Body), r.BodySize, r.BodyHash)})
	}
	switch {
	case len(r.Body) == 0:
		return append(out, bodyLine{text: "(empty body)"})
	case !r.Truncated && diff.LooksJSON(r.Body):
		if lines, ok := prettyJSON(r.Body); ok {
			return append(out, lines...)
		}
	}
	if !utf8.Valid(r.Body) || bytes.IndexByte(r.Body, 0) >= 0 {
		return append(out, bodyLine{text: fmt.Sprintf("(%d bytes of binary)", len(r.Body))})
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(r.Body), "\n"), "\n") {
		out = append(out, bodyLine{text: strings.TrimSuffix(l, "\r")})
	}
	return out
}

// prettyJSON prints a JSON document two spaces per level, keys sorted and
// numbers as written.
func prettyJSON(body []byte) ([]bodyLine, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	p := &printer{}
	p.value(v, "$", "", "")
	return p.lines, true
}

type printer struct{ lines []bodyLine }

func (p *printer) value(v any, path, indent, prefix string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			p.add(indent+prefix+"{}", path)
			return
		}
		p.add(indent+prefix+"{", path)
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			p.value(x[k], path+pathKey(k), indent+"  ", quote(k)+": ")
			if i < len(keys)-1 {
				p.comma()
			}
		}
		p.add(indent+"}", path)
	case []any:
		if len(x) == 0 {
			p.add(indent+prefix+"[]", path)
			return
		}
		p.add(indent+prefix+"[", path)
		for i, e := range x {
			p.value(e, path+"["+strconv.Itoa(i)+"]", indent+"  ", "")
			if i < len(x)-1 {
				p.comma()
			}
		}
		p.add(indent+"]", path)
	case string:
		p.add(indent+prefix+quote(x), path)
	case nil:
		p.add(indent+prefix+"null", path)
	default:
		p.add(indent+prefix+fmt.Sprint(x), path)
	}
}

func (p *printer) add(text, path string) { p.lines = append(p.lines, bodyLine{text: text, path: path}) }

func (p *printer) comma() { p.lines[len(p.lines)-1].text += "," }

func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

var shorthandRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// pathKey writes a member step as the diff package names it.
func pathKey(k string) string {
	if shorthandRE.MatchString(k) {
		return "." + k
	}
	return "['" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(k) + "']"
}

// Line kinds of a side-by-side view.
const (
	same    = ' '
	changed = '~'
	removed = '-' // legacy only
	added   = '+' // candidate only
)

// pair is one row of the side-by-side view: a line index on each side
// (-1: none) and how they compare.
type pair struct {
	l, r int
	kind byte
}

// maxCells bounds the quadratic alignment of a region that has no line
// unique to both sides; past it the region is paired line by line.
const maxCells = 1 << 20

// align pairs the lines of two bodies for a side-by-side view: equal lines
// face each other, and a run of removed lines followed by added ones is
// shown as changed lines facing each other. Common prefixes and suffixes
// are cut first, then lines that occur once on each side anchor the rest
// (patience diff), and small regions without anchors are aligned by
// longest common subsequence.
func align(a, b []bodyLine) []pair {
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i, l := range a {
		ka[i] = strings.TrimSuffix(l.text, ",")
	}
	for i, l := range b {
		kb[i] = strings.TrimSuffix(l.text, ",")
	}
	var raw []pair
	alignRange(ka, kb, 0, len(ka), 0, len(kb), &raw)
	return zipChanges(raw)
}

func alignRange(a, b []string, a0, a1, b0, b1 int, out *[]pair) {
	for a0 < a1 && b0 < b1 && a[a0] == b[b0] {
		*out = append(*out, pair{a0, b0, same})
		a0, b0 = a0+1, b0+1
	}
	var tail []pair
	for a1 > a0 && b1 > b0 && a[a1-1] == b[b1-1] {
		a1, b1 = a1-1, b1-1
		tail = append(tail, pair{a1, b1, same})
	}
	defer func() {
		for i := len(tail) - 1; i >= 0; i-- {
			*out = append(*out, tail[i])
		}
	}()
	if a0 == a1 || b0 == b1 {
		for i := a0; i < a1; i++ {
			*out = append(*out, pair{i, -1, removed})
		}
		for j := b0; j < b1; j++ {
			*out = append(*out, pair{-1, j, added})
		}
		return
	}
	if anchors := uniqueAnchors(a, b, a0, a1, b0, b1); len(anchors) > 0 {
		pa, pb := a0, b0
		for _, an := range anchors {
			alignRange(a, b, pa, an[0], pb, an[1], out)
			*out = append(*out, pair{an[0], an[1], same})
			pa, pb = an[0]+1, an[1]+1
		}
		alignRange(a, b, pa, a1, pb, b1, out)
		return
	}
	if (a1-a0)*(b1-b0) <= maxCells {
		lcs(a, b, a0, a1, b0, b1, out)
		return
	}
	for i, j := a0, b0; i < a1 || j < b1; i, j = i+1, j+1 {
		switch {
		case i >= a1:
			*out = append(*out, pair{-1, j, added})
		case j >= b1:
			*out = append(*out, pair{i, -1, removed})
		default:
			*out = append(*out, pair{i, j, changed})
		}
	}
}

// uniqueAnchors returns the lines that occur exactly once on each side,
// as the longest run that is in order on both.
func uniqueAnchors(a, b []string, a0, a1, b0, b1 int) [][2]int {
	type seen struct{ na, nb, ia, ib int }
	count := map[string]*seen{}
	for i := a0; i < a1; i++ {
		s := count[a[i]]
		if s == nil {
			s = &seen{}
			count[a[i]] = s
		}
		s.na++
		s.ia = i
	}
	for j := b0; j < b1; j++ {
		if s := count[b[j]]; s != nil {
			s.nb++
			s.ib = j
		}
	}
	var cands [][2]int
	for i := a0; i < a1; i++ {
		if s := count[a[i]]; s.na == 1 && s.nb == 1 {
			cands = append(cands, [2]int{i, s.ib})
		}
	}
	// Longest increasing subsequence of the b positions (patience sorting).
	var piles []int // index into cands of each pile's top
	prev := make([]int, len(cands))
	for k, c := range cands {
		i := sort.Search(len(piles), func(p int) bool { return cands[piles[p]][1] >= c[1] })
		if i > 0 {
			prev[k] = piles[i-1]
		} else {
			prev[k] = -1
		}
		if i == len(piles) {
			piles = append(piles, k)
		} else {
			piles[i] = k
		}
	}
	if len(piles) == 0 {
		return nil
	}
	out := make([][2]int, len(piles))
	for k, i := piles[len(piles)-1], len(piles)-1; k >= 0; k, i = prev[k], i-1 {
		out[i] = cands[k]
	}
	return out
}

func lcs(a, b []string, a0, a1, b0, b1 int, out *[]pair) {
	n, m := a1-a0, b1-b0
	// t[i][j]: LCS length of a[a0+i:a1] and b[b0+j:b1].
	t := make([][]int32, n+1)
	for i := range t {
		t[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[a0+i] == b[b0+j] {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[a0+i] == b[b0+j]:
			*out = append(*out, pair{a0 + i, b0 + j, same})
			i, j = i+1, j+1
		case j < m && (i == n || t[i][j+1] >= t[i+1][j]):
			*out = append(*out, pair{-1, b0 + j, added})
			j++
		default:
			*out = append(*out, pair{a0 + i, -1, removed})
			i++
		}
	}
}

// zipChanges turns each run of removed and added lines into changed pairs
// facing each other, the rest of the longer side staying removed or added.
func zipChanges(ps []pair) []pair {
	var out []pair
	for i := 0; i < len(ps); {
		if ps[i].kind == same || ps[i].kind == changed {
			out = append(out, ps[i])
			i++
			continue
		}
		var rem, add []int
		for ; i < len(ps) && (ps[i].kind == removed || ps[i].kind == added); i++ {
			if ps[i].kind == removed {
				rem = append(rem, ps[i].l)
			} else {
				add = append(add, ps[i].r)
			}
		}
		for k := 0; k < max(len(rem), len(add)); k++ {
			switch {
			case k >= len(rem):
				out = append(out, pair{-1, add[k], added})
			case k >= len(add):
				out = append(out, pair{rem[k], -1, removed})
			default:
				out = append(out, pair{rem[k], add[k], changed})
			}
		}
	}
	return out
}
