package diff

import (
	"maps"
	"mime"
	"net/url"
	"slices"

	"github.com/tandemproxy/tandem"
)

// Media types compared as forms.
const (
	formURLEncoded = "application/x-www-form-urlencoded"
	formMultipart  = "multipart/form-data"
)

// compareFormats is compareBodies' hook for the structured formats other
// than JSON: XML, urlencoded forms and multipart forms, chosen by the
// Content-Type of both sides. handled is false when the bodies are not of
// these formats or do not parse: they are then compared as JSON or text.
func (c *Comparer) compareFormats(diffs []tandem.Difference, a, b *tandem.Response) ([]tandem.Difference, bool) {
	cta, ctb := a.Header.Get("Content-Type"), b.Header.Get("Content-Type")
	if !mayBeFormat(cta) && !mayBeFormat(ctb) {
		return diffs, false // JSON and text: no media type parsing (it allocates)
	}
	mta, pa := mediaType(cta)
	mtb, pb := mediaType(ctb)
	switch {
	case claimsXML(mta) || claimsXML(mtb):
		return c.compareXML(diffs, a.Body, b.Body, claimsXML(mta) && claimsXML(mtb))
	case mta == formURLEncoded && mtb == formURLEncoded:
		return c.compareForm(diffs, a.Body, b.Body)
	case mta == formMultipart && mtb == formMultipart && !c.inPart && pa["boundary"] != "" && pb["boundary"] != "":
		return c.compareMultipart(diffs, a.Body, b.Body, pa["boundary"], pb["boundary"])
	}
	return diffs, false
}

// mayBeFormat is a cheap filter for the media types compareFormats
// handles: they all contain "xml" or "form" (in any case).
func mayBeFormat(ct string) bool {
	for i := 0; i+3 <= len(ct); i++ {
		switch c := ct[i] | 0x20; {
		case c == 'x' && ct[i+1]|0x20 == 'm' && ct[i+2]|0x20 == 'l':
			return true
		case c == 'f' && i+4 <= len(ct) && ct[i+1]|0x20 == 'o' && ct[i+2]|0x20 == 'r' && ct[i+3]|0x20 == 'm':
			return true
		}
	}
	return false
}

func mediaType(ct string) (string, map[string]string) {
	if ct == "" {
		return "", nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil
	}
	return mt, params
}

// sameMediaType reports whether two Content-Type values name the same
// multipart type with the same parameters apart from the boundary, which
// is chosen afresh for every body (RFC 2046 §5.1.1).
func sameMediaType(av, bv []string) bool {
	if len(av) != 1 || len(bv) != 1 {
		return false
	}
	mta, pa := mediaType(av[0])
	mtb, pb := mediaType(bv[0])
	if mta == "" || mta != mtb || len(mta) < len("multipart/") || mta[:len("multipart/")] != "multipart/" {
		return false
	}
	delete(pa, "boundary")
	delete(pb, "boundary")
	return maps.Equal(pa, pb)
}

// compareForm compares urlencoded bodies as multisets of fields: the order
// of fields does not matter, and a repeated field counts each value. A
// difference is at form:NAME.
func (c *Comparer) compareForm(diffs []tandem.Difference, a, b []byte) ([]tandem.Difference, bool) {
	fa, errA := url.ParseQuery(string(a))
	fb, errB := url.ParseQuery(string(b))
	if errA != nil || errB != nil {
		return diffs, false // not a form after all: compared as text
	}
	root := c.sel.root(nil)
	names := slices.Sorted(maps.Keys(fa))
	for k := range fb {
		if _, ok := fa[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		f := c.sel.flags(c.sel.advance(root, 0, len(root), fieldStep(name))[len(root):])
		if f.ignore {
			continue
		}
		diffs = c.compareValues(diffs, "form:"+formName(name), f, fa[name], fb[name])
	}
	return diffs, true
}

func fieldStep(name string) step { return step{key: []byte(string(markField) + name), index: -1} }

// compareValues compares the values of one field as a multiset: each
// legacy value is matched with an equal candidate value; unmatched values
// face each other in order (changed), and the surplus is removed or added.
func (c *Comparer) compareValues(diffs []tandem.Difference, path string, f flags, va, vb []string) []tandem.Difference {
	used := make([]bool, len(vb))
	var restA []string
	for i, x := range va {
		found := -1
		if i < len(vb) && !used[i] && c.scalarEqual(f, x, vb[i]) {
			found = i
		} else {
			for j, y := range vb {
				if !used[j] && c.scalarEqual(f, x, y) {
					found = j
					break
				}
			}
		}
		if found >= 0 {
			used[found] = true
			continue
		}
		restA = append(restA, x)
	}
	var restB []string
	for j, u := range used {
		if !u {
			restB = append(restB, vb[j])
		}
	}
	add := func(kind tandem.Kind, x, y string) {
		if len(diffs) < c.opts.MaxDiffs {
			diffs = append(diffs, tandem.Difference{Path: path, Pattern: path, Kind: kind,
				Legacy: truncate(x, c.opts.MaxValue), Candidate: truncate(y, c.opts.MaxValue)})
		}
	}
	for k := range max(len(restA), len(restB)) {
		switch {
		case k >= len(restB):
			add(tandem.Removed, restA[k], "")
		case k >= len(restA):
			add(tandem.Added, "", restB[k])
		default:
			add(tandem.Changed, restA[k], restB[k])
		}
	}
	return diffs
}
