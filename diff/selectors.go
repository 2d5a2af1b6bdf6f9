package diff

// The rules that apply at a location (ignore it, compare it as a multiset,
// compare it with a tolerance) are found by running every rule's path as a
// small NFA alongside the walk: a state is (selector, position in its
// segments), and a location is selected when a state has consumed all
// segments. With no rules there are no states and the walk pays nothing.

type action uint8

const (
	actIgnore action = iota
	actUnordered
	actTolerance
	actClass // ignore_values (classes.go)
)

type tolerance struct{ abs, rel float64 }

type selector struct {
	segs  []segment
	act   action
	tol   tolerance
	class Class
}

type state struct{ sel, pos uint32 }

type selectors []selector

type flags struct {
	ignore, unordered bool
	tolerance         *tolerance
	class             Class // "" when no class applies; the first rule's wins
}

// root appends the states of the document root.
func (s selectors) root(dst []state) []state {
	for i := range s {
		dst = append(dst, state{sel: uint32(i)})
	}
	return dst
}

// advance appends to states the states of the child reached by st from the
// location whose states are states[lo:hi].
func (s selectors) advance(states []state, lo, hi int, st step) []state {
	base := len(states)
	add := func(x state) {
		for _, y := range states[base:] {
			if y == x {
				return
			}
		}
		states = append(states, x)
	}
	for k := lo; k < hi; k++ {
		x := states[k]
		segs := s[x.sel].segs
		if int(x.pos) >= len(segs) {
			continue
		}
		seg := &segs[x.pos]
		if seg.desc {
			add(x)
		}
		if seg.matches(st) {
			add(state{sel: x.sel, pos: x.pos + 1})
		}
	}
	return states
}

// flags says which rules select the location whose states are given.
func (s selectors) flags(states []state) flags {
	var f flags
	for _, x := range states {
		sel := &s[x.sel]
		if int(x.pos) != len(sel.segs) {
			continue
		}
		switch sel.act {
		case actIgnore:
			f.ignore = true
		case actUnordered:
			f.unordered = true
		case actTolerance:
			if f.tolerance == nil {
				f.tolerance = &sel.tol
			}
		case actClass:
			if f.class == "" {
				f.class = sel.class
			}
		}
	}
	return f
}
