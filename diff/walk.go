package diff

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/tandemproxy/tandem"
)

// walker compares two parsed documents. It is the fast engine: it visits
// each pair of values once, skips byte-identical subtrees without looking
// inside them, and allocates only for what it reports. The go-cmp engine in
// cmpengine.go is the oracle it is tested against.
type walker struct {
	c    *Comparer
	a, b *document
	// steps is the location of the values being compared.
	steps []step
	// states is an arena of selector states (see selectors.go); the states
	// of the current pair are states[lo:hi] in the call frames.
	states    []state
	diffs     []tandem.Difference
	quiet     int    // > 0 while only equality matters (nothing is reported)
	full      bool   // MaxDiffs reached: report no more
	budget    int    // visits left before the comparison is abandoned
	buf, buf2 []byte // scratch for decoded strings
	// Arenas for the lists a container comparison needs (child indices,
	// members, matched flags): each comparison appends its lists and cuts
	// them off on return, so a walk allocates nothing once they have grown,
	// whatever the document's size.
	idx  []int32
	mem  []member
	used []bool
}

type member struct {
	key  []byte
	pfx  uint64 // the key's first eight bytes, big-endian: most comparisons end here
	node int32
}

var walkerPool = sync.Pool{New: func() any { return new(walker) }}

func (c *Comparer) getWalker(a, b *document) *walker {
	w := walkerPool.Get().(*walker)
	w.c, w.a, w.b = c, a, b
	w.steps = w.steps[:0]
	w.states = w.states[:0]
	w.diffs = nil
	w.quiet, w.full = 0, false
	// Matching unordered arrays is quadratic, and nested ones multiply: the
	// budget keeps a hostile body from costing unbounded time.
	// The candidate's aliases stand for up to all of legacy's nodes.
	w.budget = max(c.opts.MinWork, budgetPerNode*(2*len(a.nodes)+len(b.nodes)))
	return w
}

func putWalker(w *walker) {
	w.c, w.a, w.b, w.diffs = nil, nil, nil, nil
	if cap(w.idx) > maxPooledNodes || cap(w.mem) > maxPooledNodes {
		w.idx, w.mem, w.used = nil, nil, nil // do not keep huge lists alive
	}
	walkerPool.Put(w)
}

// compareDocs compares the roots of two documents and returns the
// differences (nil when equal).
func (c *Comparer) compareDocs(a, b *document) []tandem.Difference {
	w := c.getWalker(a, b)
	defer putWalker(w)
	lo := len(w.states)
	w.states = c.sel.root(w.states)
	w.compare(0, 0, lo, len(w.states))
	return w.diffs
}

func (w *walker) raw(d *document, n *jnode) []byte { return d.src[n.start:n.end] }

// report records a difference at the current location.
func (w *walker) report(kind tandem.Kind, an, bn *jnode) {
	if w.quiet > 0 || w.full {
		return
	}
	if len(w.diffs) >= w.c.opts.MaxDiffs {
		w.full = true
		return
	}
	path, pattern := formatPath(w.steps)
	d := tandem.Difference{Path: path, Pattern: pattern, Kind: kind}
	if an != nil {
		d.Legacy = w.c.valueText(w.raw(w.a, an))
	}
	if bn != nil {
		d.Candidate = w.c.valueText(w.raw(w.b, bn))
	}
	w.diffs = append(w.diffs, d)
}

// compare compares node ai of a with node bi of b; the selector states of
// this location are w.states[lo:hi]. It returns whether they are equal.
func (w *walker) compare(ai, bi int32, lo, hi int) bool {
	flags := w.c.sel.flags(w.states[lo:hi])
	if flags.ignore {
		return true
	}
	an, bn := &w.a.nodes[ai], &w.b.nodes[bi]
	if an.kind != bn.kind {
		w.report(tandem.Type, an, bn)
		return false
	}
	ar, br := w.raw(w.a, an), w.raw(w.b, bn)
	if len(ar) == len(br) && bytes.Equal(ar, br) {
		return true // identical bytes are equal under every rule
	}
	if flags.class != "" {
		if eq, ok := w.classEqual(flags.class, an, bn); ok { // classes.go
			return eq
		}
	}
	if bn.alias {
		bi = w.materialize(bi)
	}
	switch an.kind {
	case kNull:
		return true
	case kBool:
		w.report(tandem.Changed, an, bn)
		return false
	case kNumber:
		if numbersEqual(ar, br) {
			return true
		}
		if flags.tolerance != nil && withinTolerance(ar, br, flags.tolerance.abs, flags.tolerance.rel) {
			return true
		}
		w.report(tandem.Changed, an, bn)
		return false
	case kString:
		if w.stringsEqual(an, bn) {
			return true
		}
		w.report(tandem.Changed, an, bn)
		return false
	case kArray:
		if flags.unordered {
			return w.compareUnordered(ai, bi, lo, hi)
		}
		return w.compareArrays(ai, bi, lo, hi)
	default:
		return w.compareObjects(ai, bi, lo, hi)
	}
}

// materialize returns the index of the parsed structure of alias node bi
// of the candidate, parsing it the first time: an alias is compared with
// something other than the value whose bytes it has (in an unordered array,
// or under duplicate names) only rarely.
func (w *walker) materialize(bi int32) int32 {
	d := w.b
	if n := d.nodes[bi].n; n > 0 {
		return n - 1
	}
	m := int32(len(d.nodes))
	if _, err := d.value(int(d.nodes[bi].start), 0, -1); err != nil {
		panic(fmt.Sprintf("reparse of a verified value failed: %v", err))
	}
	d.nodes[bi].n = m + 1
	return m
}

func (w *walker) stringsEqual(an, bn *jnode) bool {
	ar, br := w.raw(w.a, an), w.raw(w.b, bn)
	as, bs := ar[1:len(ar)-1], br[1:len(br)-1]
	if an.esc || bn.esc {
		w.buf = unquote(w.buf[:0], ar)
		w.buf2 = unquote(w.buf2[:0], br)
		as, bs = w.buf, w.buf2
		if bytes.Equal(as, bs) {
			return true
		}
	}
	if len(w.c.opts.Normalize) == 0 {
		return false
	}
	return bytes.Equal(w.c.normalize(as), w.c.normalize(bs))
}

// Work budget of one comparison, in value pairs visited.
const (
	DefaultMinWork = 10_000_000 // see Options.MinWork
	budgetPerNode  = 64
)

// ErrBudget is the error of a comparison that was abandoned because it
// visited too many values (unordered arrays nested in unordered arrays).
var ErrBudget = errors.New("comparison exceeded its work budget (nested unordered arrays?)")

// child compares a child pair reached by st, computing its selector states.
func (w *walker) child(st step, ai, bi int32, lo, hi int) bool {
	if w.budget--; w.budget < 0 {
		panic(ErrBudget)
	}
	w.steps = append(w.steps, st)
	clo := len(w.states)
	w.states = w.c.sel.advance(w.states, lo, hi, st)
	eq := w.compare(ai, bi, clo, len(w.states))
	w.states = w.states[:clo]
	w.steps = w.steps[:len(w.steps)-1]
	return eq
}

// only reports a value present on one side only (kind Removed when it is
// legacy's, Added when it is the candidate's), unless the location is ignored.
func (w *walker) only(st step, kind tandem.Kind, n *jnode, lo, hi int) bool {
	w.steps = append(w.steps, st)
	clo := len(w.states)
	w.states = w.c.sel.advance(w.states, lo, hi, st)
	ignored := w.c.sel.flags(w.states[clo:]).ignore
	w.states = w.states[:clo]
	if !ignored {
		if kind == tandem.Removed {
			w.report(kind, n, nil)
		} else {
			w.report(kind, nil, n)
		}
	}
	w.steps = w.steps[:len(w.steps)-1]
	return ignored
}

// kids appends the indices of node i's children to the index arena and
// returns them; the caller cuts the arena back when done.
func (w *walker) kids(d *document, i int32) []int32 {
	base := len(w.idx)
	for c, end := i+1, d.nodes[i].next; c < end; c = d.nodes[c].next {
		w.idx = append(w.idx, c)
	}
	return w.idx[base:]
}

func (w *walker) compareArrays(ai, bi int32, lo, hi int) bool {
	an, bn := &w.a.nodes[ai], &w.b.nodes[bi]
	eq := true
	if an.n == bn.n {
		// The common case needs no index lists: walk both child chains.
		x, y := ai+1, bi+1
		for i := range int(an.n) {
			if !w.child(step{index: i}, x, y, lo, hi) {
				eq = false
				if w.quiet > 0 {
					return false
				}
			}
			x, y = w.a.nodes[x].next, w.b.nodes[y].next
		}
		return eq
	}
	base := len(w.idx)
	ak := w.kids(w.a, ai)
	bk := w.kids(w.b, bi)
	// Lengths differ: align the common prefix and suffix (an element added or
	// removed in the middle then shows as exactly that), compare what is left
	// pairwise, and report the surplus as added or removed.
	w.quiet++
	pre := 0
	for pre < len(ak) && pre < len(bk) && w.child(step{index: pre}, ak[pre], bk[pre], lo, hi) {
		pre++
	}
	suf := 0
	for suf < len(ak)-pre && suf < len(bk)-pre &&
		w.child(step{index: len(ak) - 1 - suf}, ak[len(ak)-1-suf], bk[len(bk)-1-suf], lo, hi) {
		suf++
	}
	w.quiet--
	ma, mb := len(ak)-pre-suf, len(bk)-pre-suf
	for k := 0; k < min(ma, mb); k++ {
		if !w.child(step{index: pre + k}, ak[pre+k], bk[pre+k], lo, hi) {
			eq = false
		}
	}
	for k := mb; k < ma; k++ {
		if !w.only(step{index: pre + k}, tandem.Removed, &w.a.nodes[ak[pre+k]], lo, hi) {
			eq = false
		}
	}
	for k := ma; k < mb; k++ {
		if !w.only(step{index: pre + k}, tandem.Added, &w.b.nodes[bk[pre+k]], lo, hi) {
			eq = false
		}
	}
	w.idx = w.idx[:base]
	return eq
}

// maxUnorderedPairs bounds the pairwise search of compareUnordered; larger
// arrays are matched by sorting their elements' bytes instead.
const maxUnorderedPairs = 1 << 20

// compareUnordered compares arrays as multisets: each legacy element is
// matched with an equal, not yet matched, candidate element (trying the same
// position first). Unmatched elements are then compared pairwise in order,
// so that one changed field of one element is reported as that field.
func (w *walker) compareUnordered(ai, bi int32, lo, hi int) bool {
	base, ubase := len(w.idx), len(w.used)
	ak := w.kids(w.a, ai)
	bk := w.kids(w.b, bi)
	if len(ak)*len(bk) > maxUnorderedPairs {
		slices.SortStableFunc(ak, func(x, y int32) int { return bytes.Compare(w.raw(w.a, &w.a.nodes[x]), w.raw(w.a, &w.a.nodes[y])) })
		slices.SortStableFunc(bk, func(x, y int32) int { return bytes.Compare(w.raw(w.b, &w.b.nodes[x]), w.raw(w.b, &w.b.nodes[y])) })
	}
	for range len(ak) + len(bk) {
		w.used = append(w.used, false)
	}
	usedA := w.used[ubase : ubase+len(ak)]
	usedB := w.used[ubase+len(ak):]
	w.quiet++
	for i := range ak {
		if i < len(bk) && !usedB[i] && w.child(step{index: i}, ak[i], bk[i], lo, hi) {
			usedA[i], usedB[i] = true, true
			continue
		}
		if len(ak)*len(bk) > maxUnorderedPairs {
			continue
		}
		for j := range bk {
			if !usedB[j] && w.child(step{index: i}, ak[i], bk[j], lo, hi) {
				usedA[i], usedB[j] = true, true
				break
			}
		}
	}
	w.quiet--
	// The unmatched elements, as positions: legacy's, then the candidate's.
	rbase := len(w.idx)
	for i, u := range usedA {
		if !u {
			w.idx = append(w.idx, int32(i))
		}
	}
	nA := len(w.idx) - rbase
	for j, u := range usedB {
		if !u {
			w.idx = append(w.idx, int32(j))
		}
	}
	restA := w.idx[rbase : rbase+nA]
	restB := w.idx[rbase+nA:]
	eq := true
	for k := 0; k < min(len(restA), len(restB)); k++ {
		if !w.child(step{index: int(restA[k])}, ak[restA[k]], bk[restB[k]], lo, hi) {
			eq = false
		}
	}
	for k := len(restB); k < len(restA); k++ {
		if !w.only(step{index: int(restA[k])}, tandem.Removed, &w.a.nodes[ak[restA[k]]], lo, hi) {
			eq = false
		}
	}
	for k := len(restA); k < len(restB); k++ {
		if !w.only(step{index: int(restB[k])}, tandem.Added, &w.b.nodes[bk[restB[k]]], lo, hi) {
			eq = false
		}
	}
	w.idx, w.used = w.idx[:base], w.used[:ubase]
	return eq
}

// members appends an object's members to the member arena and returns
// them in document order; keys are decoded when they hold escapes.
func (w *walker) members(d *document, i int32) []member {
	base := len(w.mem)
	for c, end := i+1, d.nodes[i].next; c < end; {
		cn := &d.nodes[c]
		var key []byte
		var pfx uint64
		if cn.kesc {
			key = unquote(nil, d.src[cn.kstart:cn.kend])
			pfx = keyPrefix(key)
		} else {
			key = d.src[cn.kstart+1 : cn.kend-1]
			pfx = keyPrefixIn(d.src, int(cn.kstart)+1, len(key))
		}
		w.mem = append(w.mem, member{key: key, pfx: pfx, node: c})
		c = cn.next
	}
	return w.mem[base:]
}

// byKey sorts members by key in place and drops all but the last of each
// run of equal keys, as encoding/json keeps the last duplicate.
func byKey(ms []member) []member {
	sortMembers(ms)
	out := ms[:0]
	for i := range ms {
		if i+1 < len(ms) && ms[i].pfx == ms[i+1].pfx && bytes.Equal(ms[i].key, ms[i+1].key) {
			continue
		}
		out = append(out, ms[i])
	}
	return out
}

// keyPrefix packs a key's first eight bytes big-endian (zero-padded), so
// that comparing prefixes orders keys as bytes.Compare does up to a tie.
func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var p uint64
	for i, c := range k {
		p |= uint64(c) << (56 - 8*i)
	}
	return p
}

// keyPrefixIn is keyPrefix of the n bytes at src[i:], read as one 8-byte
// load and masked when src holds eight bytes there (a name is followed by
// at least its closing quote, ':' and a value).
func keyPrefixIn(src []byte, i, n int) uint64 {
	if i+8 > len(src) {
		return keyPrefix(src[i : i+n])
	}
	p := binary.BigEndian.Uint64(src[i:])
	if n < 8 {
		p &^= ^uint64(0) >> (8 * n)
	}
	return p
}

func compareMembers(x, y *member) int {
	switch {
	case x.pfx < y.pfx:
		return -1
	case x.pfx > y.pfx:
		return 1
	}
	return bytes.Compare(x.key, y.key)
}

// sortMembers sorts members by key, stably (duplicates stay in document
// order, so the last one wins). Objects are small: insertion sort, which
// needs no closure and no allocation, unless there are many members.
func sortMembers(ms []member) {
	if len(ms) > 32 {
		slices.SortStableFunc(ms, func(x, y member) int { return compareMembers(&x, &y) })
		return
	}
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && compareMembers(&ms[j-1], &ms[j]) > 0; j-- {
			ms[j-1], ms[j] = ms[j], ms[j-1]
		}
	}
}

// sameKeys reports whether two member lists have the same keys in the same
// order, with no duplicates, so that they can be compared pairwise in
// document order (the common case, and the one whose report reads best).
func sameKeys(a, b []member) bool {
	if len(a) != len(b) || len(a) > 16 {
		return false
	}
	for i := range a {
		if a[i].pfx != b[i].pfx || !bytes.Equal(a[i].key, b[i].key) {
			return false
		}
		for j := 0; j < i; j++ {
			if a[i].pfx == a[j].pfx && bytes.Equal(a[i].key, a[j].key) {
				return false
			}
		}
	}
	return true
}

// maxMatchedMembers bounds the objects whose members matchMembers pairs by
// searching: up to it, n² comparisons of 8-byte prefixes cost less than
// sorting both lists (a profile of every object reordered had the sorts at
// 18%); above it, the lists are sorted and merged.
const maxMatchedMembers = 16

// hasDuplicate reports whether a short member list names a key twice.
func hasDuplicate(ms []member) bool {
	for i := 1; i < len(ms); i++ {
		for j := 0; j < i; j++ {
			if ms[i].pfx == ms[j].pfx && bytes.Equal(ms[i].key, ms[j].key) {
				return true
			}
		}
	}
	return false
}

// matchMembers compares objects whose keys are unique but not in the same
// order: legacy's members in its order, each with the candidate's of the
// same name or as removed, then the candidate's that legacy lacks, in the
// candidate's order.
func (w *walker) matchMembers(ma, mb []member, lo, hi int) bool {
	ubase := len(w.used)
	for range mb {
		w.used = append(w.used, false)
	}
	used := w.used[ubase:]
	eq := true
	for i := range ma {
		j := 0
		for ; j < len(mb); j++ {
			if !used[j] && mb[j].pfx == ma[i].pfx && bytes.Equal(mb[j].key, ma[i].key) {
				break
			}
		}
		var ok bool
		if j < len(mb) {
			used[j] = true
			ok = w.child(step{key: ma[i].key, index: -1}, ma[i].node, mb[j].node, lo, hi)
		} else {
			ok = w.only(step{key: ma[i].key, index: -1}, tandem.Removed, &w.a.nodes[ma[i].node], lo, hi)
		}
		if !ok {
			eq = false
			if w.quiet > 0 {
				w.used = w.used[:ubase]
				return false
			}
		}
	}
	for j := range mb {
		if !used[j] && !w.only(step{key: mb[j].key, index: -1}, tandem.Added, &w.b.nodes[mb[j].node], lo, hi) {
			eq = false
			if w.quiet > 0 {
				break
			}
		}
	}
	w.used = w.used[:ubase]
	return eq
}

func (w *walker) compareObjects(ai, bi int32, lo, hi int) bool {
	base := len(w.mem)
	ma := w.members(w.a, ai)
	mb := w.members(w.b, bi)
	eq := true
	if sameKeys(ma, mb) {
		for i := range ma {
			if !w.child(step{key: ma[i].key, index: -1}, ma[i].node, mb[i].node, lo, hi) {
				eq = false
				if w.quiet > 0 {
					break
				}
			}
		}
		w.mem = w.mem[:base]
		return eq
	}
	if len(ma) <= maxMatchedMembers && len(mb) <= maxMatchedMembers && !hasDuplicate(ma) && !hasDuplicate(mb) {
		eq = w.matchMembers(ma, mb, lo, hi)
		w.mem = w.mem[:base]
		return eq
	}
	ma, mb = byKey(ma), byKey(mb)
	i, j := 0, 0
	for i < len(ma) || j < len(mb) {
		var c int
		switch {
		case i == len(ma):
			c = 1
		case j == len(mb):
			c = -1
		default:
			c = compareMembers(&ma[i], &mb[j])
		}
		switch {
		case c == 0:
			if !w.child(step{key: ma[i].key, index: -1}, ma[i].node, mb[j].node, lo, hi) {
				eq = false
			}
			i++
			j++
		case c < 0:
			if !w.only(step{key: ma[i].key, index: -1}, tandem.Removed, &w.a.nodes[ma[i].node], lo, hi) {
				eq = false
			}
			i++
		default:
			if !w.only(step{key: mb[j].key, index: -1}, tandem.Added, &w.b.nodes[mb[j].node], lo, hi) {
				eq = false
			}
			j++
		}
		if !eq && w.quiet > 0 {
			break
		}
	}
	w.mem = w.mem[:base]
	return eq
}

// valueText renders a value for a report: compact JSON, truncated.
func (c *Comparer) valueText(raw []byte) string {
	if !hasSpace(raw) {
		// Without whitespace json.Compact returns its input (or fails, and
		// the input is shown as it is), and most reported values are short
		// scalars: skip its buffer (4% of a 1 KiB one-difference comparison).
		return truncate(string(raw), c.opts.MaxValue)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return truncate(string(raw), c.opts.MaxValue)
	}
	return truncate(b.String(), c.opts.MaxValue)
}

func hasSpace(b []byte) bool {
	for _, c := range b {
		if isSpace[c] {
			return true
		}
	}
	return false
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(" + strconv.Itoa(len(s)) + " bytes)"
}
