package diff

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
)

// This file drives github.com/google/go-cmp the way its documentation asks
// of code that is not a test: only through options (FilterPath, Comparer,
// Ignore) and a custom Reporter that collects differences as they are found.
// cmp.Diff's text is never parsed (it is deliberately unstable), and panics
// are recovered by Compare.

var errNotJSON = errors.New("not JSON")

// decodeJSON decodes a body the way encoding/json does, keeping numbers as
// json.Number so that they compare by value, not as float64.
func decodeJSON(b []byte) (any, error) {
	// The fast parser enforces MaxDepth, so both engines agree on what is
	// too deep to compare as structure.
	d := getDocument()
	err := d.parse(b)
	putDocument(d)
	if err != nil {
		return nil, errNotJSON
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errNotJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errNotJSON
	}
	return v, nil
}

// compareJSONCmp compares two JSON bodies with go-cmp.
func (c *Comparer) compareJSONCmp(a, b []byte) ([]tandem.Difference, error) {
	va, err := decodeJSON(a)
	if err != nil {
		return nil, err
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	if len(c.opts.Normalize) > 0 {
		va, vb = c.normalizeValue(va), c.normalizeValue(vb)
	}
	if c.hasAction(actUnordered) {
		vb = c.alignUnordered(va, vb, nil)
	}
	r := &reporter{c: c}
	cmp.Equal(va, vb, c.cmpOptions(nil, r)...)
	return r.diffs, nil
}

func (c *Comparer) hasAction(a action) bool {
	for _, s := range c.sel {
		if s.act == a {
			return true
		}
	}
	return false
}

// cmpOptions builds the go-cmp options; prefix is the location of the
// values being compared (for comparisons of array elements).
func (c *Comparer) cmpOptions(prefix []step, r *reporter) []cmp.Option {
	at := func(p cmp.Path) flags { return c.flagsAt(append(slicesClone(prefix), cmpSteps(p)...)) }
	opts := []cmp.Option{
		cmp.FilterPath(func(p cmp.Path) bool { return at(p).ignore }, cmp.Ignore()),
		cmp.FilterPath(func(p cmp.Path) bool { f := at(p); return f.tolerance == nil && f.class == "" },
			cmp.Comparer(func(x, y json.Number) bool { return numbersEqual([]byte(x), []byte(y)) })),
	}
	// One Comparer per tolerance, each behind a filter that selects the
	// locations where that tolerance is the one in force: go-cmp gives a
	// Comparer no path, and overlapping options would be ambiguous.
	for i := range c.sel {
		if c.sel[i].act != actTolerance {
			continue
		}
		t := &c.sel[i].tol
		opts = append(opts, cmp.FilterPath(func(p cmp.Path) bool { f := at(p); return f.tolerance == t && f.class == "" },
			cmp.Comparer(func(x, y json.Number) bool {
				return numbersEqual([]byte(x), []byte(y)) || withinTolerance([]byte(x), []byte(y), t.abs, t.rel)
			})))
	}
	opts = append(opts, c.classOptions(at)...)
	if r != nil {
		opts = append(opts, cmp.Reporter(r))
	}
	return opts
}

func slicesClone(s []step) []step { return append([]step(nil), s...) }

// flagsAt runs the selectors over a whole concrete location.
func (c *Comparer) flagsAt(steps []step) flags {
	states := c.sel.root(nil)
	lo, hi := 0, len(states)
	for _, st := range steps {
		states = c.sel.advance(states, lo, hi, st)
		lo, hi = hi, len(states)
	}
	return c.sel.flags(states[lo:hi])
}

// cmpSteps converts a go-cmp path into locations: map keys and slice
// indices (legacy's index, or the candidate's for an inserted element).
func cmpSteps(p cmp.Path) []step {
	var steps []step
	for _, ps := range p {
		switch s := ps.(type) {
		case cmp.MapIndex:
			steps = append(steps, step{key: []byte(s.Key().String()), index: -1})
		case cmp.SliceIndex:
			ix, iy := s.SplitKeys()
			if ix < 0 {
				ix = iy
			}
			steps = append(steps, step{index: ix})
		}
	}
	return steps
}

// reporter is the cmp.Reporter that turns go-cmp's findings into
// differences.
type reporter struct {
	c     *Comparer
	path  cmp.Path
	diffs []tandem.Difference
	text  bool // comparing the lines of a text body
}

func (r *reporter) PushStep(ps cmp.PathStep) { r.path = append(r.path, ps) }
func (r *reporter) PopStep()                 { r.path = r.path[:len(r.path)-1] }

func (r *reporter) Report(rs cmp.Result) {
	if rs.Equal() || len(r.diffs) >= r.c.opts.MaxDiffs {
		return
	}
	vx, vy := r.path.Last().Values()
	kind := tandem.Changed
	switch {
	case !vx.IsValid():
		kind = tandem.Added
	case !vy.IsValid():
		kind = tandem.Removed
	default:
		ex, ey := unwrap(vx), unwrap(vy)
		if jsonType(ex) != jsonType(ey) {
			kind = tandem.Type
		}
	}
	if !r.text && kind == tandem.Changed && r.reportClass(vx, vy) {
		return
	}
	var d tandem.Difference
	if r.text {
		line := 0
		if si, ok := r.path.Last().(cmp.SliceIndex); ok {
			ix, iy := si.SplitKeys()
			line = ix
			if ix < 0 {
				line = iy
			}
		}
		d = tandem.Difference{Path: "text:" + strconv.Itoa(line+1), Pattern: "text", Kind: kind}
		if vx.IsValid() {
			d.Legacy = truncate(vx.String(), r.c.opts.MaxValue)
		}
		if vy.IsValid() {
			d.Candidate = truncate(vy.String(), r.c.opts.MaxValue)
		}
	} else {
		d.Path, d.Pattern = formatPath(cmpSteps(r.path))
		d.Kind = kind
		if vx.IsValid() {
			d.Legacy = r.c.marshalValue(vx)
		}
		if vy.IsValid() {
			d.Candidate = r.c.marshalValue(vy)
		}
	}
	r.diffs = append(r.diffs, d)
}

func unwrap(v reflect.Value) reflect.Value {
	for v.IsValid() && v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	return v
}

func jsonType(v reflect.Value) jkind {
	if !v.IsValid() {
		return kNull
	}
	switch v.Interface().(type) {
	case bool:
		return kBool
	case json.Number:
		return kNumber
	case string:
		return kString
	case []any:
		return kArray
	case map[string]any:
		return kObject
	}
	return kNull
}

func (c *Comparer) marshalValue(v reflect.Value) string {
	v = unwrap(v)
	if !v.IsValid() {
		return "null"
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return truncate(err.Error(), c.opts.MaxValue)
	}
	return truncate(string(b), c.opts.MaxValue)
}

func (c *Comparer) normalizeValue(v any) any {
	switch x := v.(type) {
	case string:
		return string(c.normalize([]byte(x)))
	case []any:
		for i := range x {
			x[i] = c.normalizeValue(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = c.normalizeValue(x[k])
		}
	}
	return v
}

// alignUnordered reorders the candidate's arrays at unordered locations so
// that each legacy element faces an equal candidate element where one
// exists (go-cmp decides equality). go-cmp then compares the aligned trees
// as usual, and what stays unmatched is reported element by element.
func (c *Comparer) alignUnordered(a, b any, at []step) any {
	switch bx := b.(type) {
	case map[string]any:
		ax, ok := a.(map[string]any)
		if !ok {
			return b
		}
		for k := range bx {
			if av, ok := ax[k]; ok {
				bx[k] = c.alignUnordered(av, bx[k], append(at, step{key: []byte(k), index: -1}))
			}
		}
		return bx
	case []any:
		ax, ok := a.([]any)
		if !ok {
			return b
		}
		if c.flagsAt(at).unordered {
			bx = c.matchMultiset(ax, bx, at)
		}
		for i := range bx {
			if i < len(ax) {
				bx[i] = c.alignUnordered(ax[i], bx[i], append(at, step{index: i}))
			}
		}
		return bx
	}
	return b
}

func (c *Comparer) matchMultiset(ax, bx []any, at []step) []any {
	used := make([]bool, len(bx))
	out := make([]any, 0, len(bx))
	var restA []int
	for i := range ax {
		found := -1
		eq := func(j int) bool {
			return cmp.Equal(ax[i], bx[j], c.cmpOptions(append(slicesClone(at), step{index: i}), nil)...)
		}
		if i < len(bx) && !used[i] && eq(i) {
			found = i
		} else {
			for j := range bx {
				if !used[j] && eq(j) {
					found = j
					break
				}
			}
		}
		if found >= 0 {
			used[found] = true
			out = append(out, bx[found])
		} else {
			out = append(out, nil) // filled below
			restA = append(restA, i)
		}
	}
	var restB []any
	for j, u := range used {
		if !u {
			restB = append(restB, bx[j])
		}
	}
	// Unmatched candidate elements face unmatched legacy elements in order;
	// the surplus goes at the end.
	k := 0
	for _, i := range restA {
		if k < len(restB) {
			out[i] = restB[k]
			k++
		}
	}
	// Legacy elements left without a partner: drop their placeholders so
	// that go-cmp reports them as removed.
	if k < len(restA) {
		trimmed := out[:0]
		missing := map[int]bool{}
		for _, i := range restA[k:] {
			missing[i] = true
		}
		for i, v := range out {
			if !missing[i] {
				trimmed = append(trimmed, v)
			}
		}
		out = trimmed
	}
	return append(out, restB[k:]...)
}

// compareText compares text bodies line by line with go-cmp.
func (c *Comparer) compareText(diffs []tandem.Difference, a, b string) ([]tandem.Difference, error) {
	if len(c.opts.Normalize) > 0 {
		a, b = string(c.normalize([]byte(a))), string(c.normalize([]byte(b)))
		if a == b {
			return diffs, nil
		}
	}
	la, lb := lines(a), lines(b)
	r := &reporter{c: c, text: true}
	if cmp.Equal(la, lb, cmp.Reporter(r)) {
		return diffs, nil
	}
	return append(diffs, r.diffs...), nil
}

// lines splits text after each newline; a final newline does not start an
// empty last line.
func lines(s string) []string {
	l := strings.SplitAfter(s, "\n")
	if len(l) > 1 && l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}
