package diff

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandemproxy/tandem"
)

// XML bodies are compared as a tree of elements. An element is named by its
// namespace URI and local name (never its prefix); its attributes form a
// set (namespace declarations are not attributes); its text is the
// character data directly inside it (CDATA included), with leading and
// trailing space trimmed, so that indentation never counts. Comments,
// processing instructions and the DOCTYPE are not compared.
//
// Children are compared name by name: the k-th <item> of legacy with the
// k-th <item> of the candidate (aligning a common prefix and suffix when
// the counts differ, as for JSON arrays). The order of siblings counts: a
// change of the order of differently named children is one difference at
// the parent, whose values list the children in order. A parent named by
// an unordered rule has its children compared as a multiset.
//
// The comparison is a walker of its own rather than go-cmp: XML locations
// step through a name and then an index among the siblings of that name,
// and the order of siblings across names is a property of the parent,
// neither of which go-cmp's slice and map steps express.

type xnode struct {
	name  string // "{uri}local" or "local"
	attrs []xattr
	text  string
	kids  []*xnode
}

type xattr struct{ name, value string }

var errXMLRoot = errors.New("XML: not exactly one root element")

// parseXML parses a document with encoding/xml's tokenizer. n is the
// number of elements (for the work budget).
func parseXML(b []byte) (root *xnode, n int, err error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	d.CharsetReader = charsetReader
	var (
		stack []*xnode
		texts [][]byte
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 && root != nil {
				return nil, 0, errXMLRoot
			}
			if len(stack) >= MaxDepth {
				return nil, 0, errDepth
			}
			if !xmlLocalName(t.Name.Local) {
				return nil, 0, fmt.Errorf("XML: malformed element name %q", t.Name.Local)
			}
			e := &xnode{name: clark(t.Name)}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue // a namespace declaration: what it declares is compared
				}
				if !xmlLocalName(a.Name.Local) {
					return nil, 0, fmt.Errorf("XML: malformed attribute name %q", a.Name.Local)
				}
				e.attrs = append(e.attrs, xattr{name: clark(a.Name), value: a.Value})
			}
			slices.SortFunc(e.attrs, func(x, y xattr) int { return strings.Compare(x.name, y.name) })
			n++
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, e)
			} else {
				root = e
			}
			stack = append(stack, e)
			texts = append(texts, nil)
		case xml.EndElement:
			top := len(stack) - 1
			stack[top].text = string(bytes.TrimSpace(texts[top]))
			stack = stack[:top]
			texts = texts[:top]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(t)) > 0 {
					return nil, 0, errXMLRoot
				}
				continue
			}
			texts[len(texts)-1] = append(texts[len(texts)-1], t...)
		}
	}
	if root == nil || len(stack) > 0 {
		return nil, 0, errXMLRoot
	}
	return root, n, nil
}

// charsetReader decodes the non-UTF-8 encodings legacy XML services
// declare most: ISO-8859-1 and US-ASCII (a subset of it). Others make the
// document fail to parse, and it is compared as text.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii":
		b, err := io.ReadAll(input)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b)+len(b)/8)
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c)) // ISO-8859-1 is the first 256 code points
		}
		return bytes.NewReader(out), nil
	}
	return nil, fmt.Errorf("XML: unsupported encoding %q", label)
}

// xmlLocalName reports whether a name left by encoding/xml's namespace
// resolution is a local name (Namespaces in XML's NCName: not empty, no
// colon). encoding/xml is lenient: it takes "<:/>" as an element named
// ":", which no path could name, so such a body is compared as text.
func xmlLocalName(s string) bool {
	return s != "" && !strings.Contains(s, ":")
}

func clark(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return "{" + n.Space + "}" + n.Local
}

// claimsXML reports whether a media type is an XML one (RFC 7303).
func claimsXML(mt string) bool {
	return mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml")
}

// compareXML compares bodies as XML. handled is false when they are not
// both XML (the caller then compares them as JSON or text); when only one
// parses and both claim to be XML, that is a difference at / of kind type.
func (c *Comparer) compareXML(diffs []tandem.Difference, a, b []byte, bothClaim bool) ([]tandem.Difference, bool) {
	ra, na, errA := parseXML(a)
	rb, nb, errB := parseXML(b)
	switch {
	case errA == nil && errB == nil:
		return append(diffs, c.compareXMLTrees(ra, rb, na+nb)...), true
	case errA == errDepth || errB == errDepth:
		return diffs, false
	case (errA == nil) != (errB == nil) && bothClaim:
		return append(diffs, tandem.Difference{Path: "/", Pattern: "/", Kind: tandem.Type,
			Legacy: truncate(string(a), c.opts.MaxValue), Candidate: truncate(string(b), c.opts.MaxValue)}), true
	}
	return diffs, false
}

// compareXMLTrees compares two parsed documents of n elements in all.
func (c *Comparer) compareXMLTrees(ra, rb *xnode, n int) []tandem.Difference {
	w := &xwalker{c: c, budget: max(c.opts.MinWork, budgetPerNode*n)}
	w.states = c.sel.root(w.states)
	if c.sel.flags(w.states).ignore {
		return nil // ignore: ["/"]
	}
	// The document is a parent with one child, its root element: a renamed
	// root is then a removed and an added element.
	w.compareKids(&xnode{kids: []*xnode{ra}}, &xnode{kids: []*xnode{rb}}, 0, len(w.states), false)
	return w.diffs
}

type xwalker struct {
	c      *Comparer
	states []state
	path   []byte // concrete path of the current location
	diffs  []tandem.Difference
	quiet  int
	full   bool
	budget int
}

func (w *xwalker) report(kind tandem.Kind, legacy, candidate string) {
	if w.quiet > 0 || w.full {
		return
	}
	if len(w.diffs) >= w.c.opts.MaxDiffs {
		w.full = true
		return
	}
	p := string(w.path)
	if p == "" {
		p = "/"
	}
	w.diffs = append(w.diffs, tandem.Difference{Path: p, Pattern: xmlPattern(p), Kind: kind,
		Legacy: truncate(legacy, w.c.opts.MaxValue), Candidate: truncate(candidate, w.c.opts.MaxValue)})
}

// compareElem compares two elements whose location has the states
// w.states[lo:hi]; w.path is that location.
func (w *xwalker) compareElem(a, b *xnode, lo, hi int) bool {
	if w.budget--; w.budget < 0 {
		panic(ErrBudget)
	}
	f := w.c.sel.flags(w.states[lo:hi])
	if f.ignore {
		return true
	}
	eq := true
	if !w.c.scalarEqual(f, a.text, b.text) {
		w.report(tandem.Changed, a.text, b.text)
		eq = false
	}
	if !w.compareAttrs(a, b, lo, hi) {
		eq = false
	}
	if !eq && w.quiet > 0 {
		return false
	}
	return w.compareKids(a, b, lo, hi, f.unordered) && eq
}

func (w *xwalker) compareAttrs(a, b *xnode, lo, hi int) bool {
	eq := true
	i, j := 0, 0
	for i < len(a.attrs) || j < len(b.attrs) {
		var c int
		switch {
		case i == len(a.attrs):
			c = 1
		case j == len(b.attrs):
			c = -1
		default:
			c = strings.Compare(a.attrs[i].name, b.attrs[j].name)
		}
		var name string
		if c <= 0 {
			name = a.attrs[i].name
		} else {
			name = b.attrs[j].name
		}
		mark := len(w.path)
		w.path = append(append(w.path, "/@"...), displayName(name, attrNames(a), attrNames(b))...)
		clo := len(w.states)
		w.states = w.c.sel.advance(w.states, lo, hi, step{key: []byte(string(markAttr) + name), index: -1})
		f := w.c.sel.flags(w.states[clo:])
		if !f.ignore {
			switch {
			case c == 0:
				if !w.c.scalarEqual(f, a.attrs[i].value, b.attrs[j].value) {
					w.report(tandem.Changed, a.attrs[i].value, b.attrs[j].value)
					eq = false
				}
			case c < 0:
				w.report(tandem.Removed, a.attrs[i].value, "")
				eq = false
			default:
				w.report(tandem.Added, "", b.attrs[j].value)
				eq = false
			}
		}
		w.states = w.states[:clo]
		w.path = w.path[:mark]
		if c <= 0 {
			i++
		}
		if c >= 0 {
			j++
		}
		if !eq && w.quiet > 0 {
			return false
		}
	}
	return eq
}

func attrNames(n *xnode) []string {
	out := make([]string, len(n.attrs))
	for i, a := range n.attrs {
		out[i] = a.name
	}
	return out
}

// displayName writes a name in a path: its local name, unless a sibling
// on either side has the same local name in another namespace.
func displayName(name string, siblings ...[]string) string {
	local := localName(name)
	if local == name {
		return name
	}
	for _, list := range siblings {
		for _, s := range list {
			if s != name && localName(s) == local {
				return name
			}
		}
	}
	return local
}

// group is the children of one name, on both sides, in document order.
type group struct {
	name string
	a, b []*xnode
}

func groupKids(a, b *xnode) []group {
	var gs []group
	at := map[string]int{}
	add := func(n *xnode, legacy bool) {
		i, ok := at[n.name]
		if !ok {
			i = len(gs)
			at[n.name] = i
			gs = append(gs, group{name: n.name})
		}
		if legacy {
			gs[i].a = append(gs[i].a, n)
		} else {
			gs[i].b = append(gs[i].b, n)
		}
	}
	for _, k := range a.kids {
		add(k, true)
	}
	for _, k := range b.kids {
		add(k, false)
	}
	return gs
}

// compareKids compares the children of two elements at w.states[lo:hi].
func (w *xwalker) compareKids(a, b *xnode, lo, hi int, unordered bool) bool {
	if len(a.kids) == 0 && len(b.kids) == 0 {
		return true
	}
	gs := groupKids(a, b)
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.name
	}
	eq := true
	for _, g := range gs {
		mark := len(w.path)
		w.path = append(append(w.path, '/'), displayName(g.name, names)...)
		glo := len(w.states)
		w.states = w.c.sel.advance(w.states, lo, hi, step{key: []byte(string(markElem) + g.name), index: -1})
		ghi := len(w.states)
		showIndex := len(g.a) > 1 || len(g.b) > 1
		var ok bool
		if unordered {
			ok = w.compareMultiset(g, glo, ghi, showIndex)
		} else {
			ok = w.compareList(g, glo, ghi, showIndex)
		}
		w.states = w.states[:glo]
		w.path = w.path[:mark]
		if !ok {
			eq = false
			if w.quiet > 0 {
				return false
			}
		}
	}
	if !unordered && !w.sameOrder(a, b, names) {
		eq = false
	}
	return eq
}

// at compares legacy's k-th element of a group (index ia) with the
// candidate's (index ib); the location is named by ia.
func (w *xwalker) at(ia int, x, y *xnode, glo, ghi int, showIndex bool) bool {
	mark := len(w.path)
	if showIndex {
		w.path = append(strconv.AppendInt(append(w.path, '['), int64(ia+1), 10), ']')
	}
	clo := len(w.states)
	w.states = w.c.sel.advance(w.states, glo, ghi, step{index: ia})
	eq := w.compareElem(x, y, clo, len(w.states))
	w.states = w.states[:clo]
	w.path = w.path[:mark]
	return eq
}

// only reports an element present on one side only, unless it is ignored.
func (w *xwalker) only(i int, n *xnode, kind tandem.Kind, glo, ghi int, showIndex bool) bool {
	mark := len(w.path)
	if showIndex {
		w.path = append(strconv.AppendInt(append(w.path, '['), int64(i+1), 10), ']')
	}
	clo := len(w.states)
	w.states = w.c.sel.advance(w.states, glo, ghi, step{index: i})
	ignored := w.c.sel.flags(w.states[clo:]).ignore
	if !ignored {
		s := w.c.xmlText(n)
		if kind == tandem.Removed {
			w.report(kind, s, "")
		} else {
			w.report(kind, "", s)
		}
	}
	w.states = w.states[:clo]
	w.path = w.path[:mark]
	return ignored
}

// compareList compares the elements of one name in order, as JSON arrays
// are compared (walk.go's compareArrays).
func (w *xwalker) compareList(g group, glo, ghi int, showIndex bool) bool {
	eq := true
	if len(g.a) == len(g.b) {
		for k := range g.a {
			if !w.at(k, g.a[k], g.b[k], glo, ghi, showIndex) {
				eq = false
				if w.quiet > 0 {
					return false
				}
			}
		}
		return eq
	}
	if w.quiet > 0 && !w.c.hasAction(actIgnore) {
		// Only equality matters and, with nothing ignored, lists of other
		// lengths differ: aligning them would cost three comparisons of
		// each nested list, at every level.
		return false
	}
	w.quiet++
	pre := 0
	for pre < len(g.a) && pre < len(g.b) && w.at(pre, g.a[pre], g.b[pre], glo, ghi, showIndex) {
		pre++
	}
	suf := 0
	for suf < len(g.a)-pre && suf < len(g.b)-pre &&
		w.at(len(g.a)-1-suf, g.a[len(g.a)-1-suf], g.b[len(g.b)-1-suf], glo, ghi, showIndex) {
		suf++
	}
	w.quiet--
	ma, mb := len(g.a)-pre-suf, len(g.b)-pre-suf
	for k := 0; k < min(ma, mb); k++ {
		if !w.at(pre+k, g.a[pre+k], g.b[pre+k], glo, ghi, showIndex) {
			eq = false
		}
	}
	for k := mb; k < ma; k++ {
		if !w.only(pre+k, g.a[pre+k], tandem.Removed, glo, ghi, showIndex) {
			eq = false
		}
	}
	for k := ma; k < mb; k++ {
		if !w.only(pre+k, g.b[pre+k], tandem.Added, glo, ghi, showIndex) {
			eq = false
		}
	}
	return eq
}

// compareMultiset matches each legacy element with an equal, unmatched
// candidate element (the same position first); what is left is compared
// pairwise in order, and the surplus reported as added or removed.
func (w *xwalker) compareMultiset(g group, glo, ghi int, showIndex bool) bool {
	usedA := make([]bool, len(g.a))
	usedB := make([]bool, len(g.b))
	w.quiet++
	for i := range g.a {
		if i < len(g.b) && w.at(i, g.a[i], g.b[i], glo, ghi, showIndex) {
			usedA[i], usedB[i] = true, true
			continue
		}
		for j := range g.b {
			if j != i && !usedB[j] && w.at(i, g.a[i], g.b[j], glo, ghi, showIndex) {
				usedA[i], usedB[j] = true, true
				break
			}
		}
	}
	w.quiet--
	var restA, restB []int
	for i, u := range usedA {
		if !u {
			restA = append(restA, i)
		}
	}
	for j, u := range usedB {
		if !u {
			restB = append(restB, j)
		}
	}
	if w.quiet > 0 && (len(restA) > 0 || len(restB) > 0) {
		// Only equality matters, and an element is left unmatched: comparing
		// the rest pairwise again would cost as much once more at every level.
		return false
	}
	eq := true
	for k := 0; k < min(len(restA), len(restB)); k++ {
		if !w.at(restA[k], g.a[restA[k]], g.b[restB[k]], glo, ghi, showIndex) {
			eq = false
		}
	}
	for k := len(restB); k < len(restA); k++ {
		if !w.only(restA[k], g.a[restA[k]], tandem.Removed, glo, ghi, showIndex) {
			eq = false
		}
	}
	for k := len(restA); k < len(restB); k++ {
		if !w.only(restB[k], g.b[restB[k]], tandem.Added, glo, ghi, showIndex) {
			eq = false
		}
	}
	return eq
}

// sameOrder checks the order of the children present on both sides (the
// first min(count) of each name): a reordering of siblings is one
// difference at the parent, listing its children in order.
func (w *xwalker) sameOrder(a, b *xnode, names []string) bool {
	ca, cb := map[string]int{}, map[string]int{}
	for _, k := range a.kids {
		ca[k.name]++
	}
	for _, k := range b.kids {
		cb[k.name]++
	}
	keep := func(kids []*xnode) []string {
		seen := map[string]int{}
		var out []string
		for _, k := range kids {
			if seen[k.name] < min(ca[k.name], cb[k.name]) {
				seen[k.name]++
				out = append(out, k.name)
			}
		}
		return out
	}
	oa, ob := keep(a.kids), keep(b.kids)
	if slices.Equal(oa, ob) {
		return true
	}
	list := func(kids []*xnode) string {
		s := make([]string, len(kids))
		for i, k := range kids {
			s[i] = "<" + displayName(k.name, names) + ">"
		}
		return strings.Join(s, " ")
	}
	w.report(tandem.Changed, list(a.kids), list(b.kids))
	return false
}

// scalarEqual compares two text values (XML text and attributes, form
// fields) under the rules in force at their location: normalization, a
// numeric tolerance, a value class.
func (c *Comparer) scalarEqual(f flags, a, b string) bool {
	if a == b {
		return true
	}
	if len(c.opts.Normalize) > 0 && bytes.Equal(c.normalize([]byte(a)), c.normalize([]byte(b))) {
		return true
	}
	if f.tolerance != nil && withinTolerance([]byte(a), []byte(b), f.tolerance.abs, f.tolerance.rel) {
		return true
	}
	return f.class != "" && f.class.Equal(a, b)
}

// xmlText renders an element for a report: compact XML with local names,
// cut once it is longer than a report keeps.
func (c *Comparer) xmlText(n *xnode) string {
	var b strings.Builder
	var write func(n *xnode)
	write = func(n *xnode) {
		if b.Len() > c.opts.MaxValue {
			return
		}
		b.WriteString("<" + localName(n.name))
		for _, a := range n.attrs {
			b.WriteString(" " + localName(a.name) + `="`)
			xml.EscapeText(&b, []byte(a.value))
			b.WriteString(`"`)
		}
		if n.text == "" && len(n.kids) == 0 {
			b.WriteString("/>")
			return
		}
		b.WriteString(">")
		xml.EscapeText(&b, []byte(n.text))
		for _, k := range n.kids {
			write(k)
		}
		b.WriteString("</" + localName(n.name) + ">")
	}
	write(n)
	return b.String()
}
