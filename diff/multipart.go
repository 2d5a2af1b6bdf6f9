package diff

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"slices"

	"github.com/tandemproxy/tandem"
)

// Multipart bodies are compared part by part, parts being named by their
// form name (Content-Disposition: form-data; name="…"): the k-th part of a
// name on one side faces the k-th of that name on the other, wherever they
// are in the body. The boundaries are not compared. Each part's headers are
// compared (form:NAME:header:Content-Type) and its body by its own content
// type: JSON at form:NAME:$.path, XML at form:NAME:/path, text at
// form:NAME:text:LINE, anything else as bytes at form:NAME. Parts are not
// searched for further multipart bodies.

type part struct {
	name   string
	header http.Header
	body   []byte
}

func parseMultipart(body []byte, boundary string) ([]part, error) {
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []part
	for {
		// NextRawPart: a quoted-printable part is compared as sent, not
		// decoded (its Content-Transfer-Encoding is compared as a header).
		p, err := r.NextRawPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{name: p.FormName(), header: http.Header(p.Header), body: b})
	}
}

func (c *Comparer) compareMultipart(diffs []tandem.Difference, a, b []byte, ba, bb string) ([]tandem.Difference, bool) {
	pa, errA := parseMultipart(a, ba)
	pb, errB := parseMultipart(b, bb)
	if errA != nil || errB != nil {
		return diffs, false
	}
	var names []string
	byName := map[string][2][]part{}
	for side, ps := range [][]part{pa, pb} {
		for _, p := range ps {
			g, ok := byName[p.name]
			if !ok {
				names = append(names, p.name)
			}
			g[side] = append(g[side], p)
			byName[p.name] = g
		}
	}
	root := c.sel.root(nil)
	for _, name := range names {
		st := fieldStep(name)
		if c.sel.flags(c.sel.advance(root, 0, len(root), st)[len(root):]).ignore {
			continue
		}
		sub := c.sub([]step{st})
		sub.inPart = true
		prefix := "form:" + formName(name)
		g := byName[name]
		for k := range max(len(g[0]), len(g[1])) {
			if len(diffs) >= c.opts.MaxDiffs {
				return diffs, true
			}
			switch {
			case k >= len(g[1]):
				diffs = append(diffs, tandem.Difference{Path: prefix, Pattern: prefix, Kind: tandem.Removed, Legacy: c.partSummary(g[0][k])})
			case k >= len(g[0]):
				diffs = append(diffs, tandem.Difference{Path: prefix, Pattern: prefix, Kind: tandem.Added, Candidate: c.partSummary(g[1][k])})
			default:
				d, err := sub.comparePart(prefix, g[0][k], g[1][k])
				if err != nil {
					return diffs, false
				}
				diffs = append(diffs, d...)
			}
		}
	}
	if len(diffs) > c.opts.MaxDiffs {
		diffs = diffs[:c.opts.MaxDiffs]
	}
	return diffs, true
}

// comparePart compares two parts of one name; c is the Comparer for
// locations inside the part (see sub).
func (c *Comparer) comparePart(prefix string, x, y part) ([]tandem.Difference, error) {
	var diffs []tandem.Difference
	var names []string
	for _, h := range []http.Header{x.header, y.header} {
		for n := range h {
			if n = http.CanonicalHeaderKey(n); !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	root := c.sel.root(nil)
	for _, n := range names {
		st := step{key: []byte(string(markHeader) + n), index: -1}
		if c.sel.flags(c.sel.advance(root, 0, len(root), st)[len(root):]).ignore {
			continue
		}
		av, bv := x.header.Values(n), y.header.Values(n)
		if slices.Equal(av, bv) || sameMediaType(av, bv) {
			continue
		}
		diffs = append(diffs, c.headerDifference(prefix+":header:"+n, av, bv))
	}
	ra := &tandem.Response{Header: tandem.Headers{{Name: "Content-Type", Value: x.header.Get("Content-Type")}}, Body: x.body}
	rb := &tandem.Response{Header: tandem.Headers{{Name: "Content-Type", Value: y.header.Get("Content-Type")}}, Body: y.body}
	inner, err := c.compareBodies(nil, ra, rb)
	if err != nil {
		return nil, err
	}
	for _, d := range inner {
		if d.Path == "body" {
			d.Path, d.Pattern = prefix, prefix
		} else {
			d.Path, d.Pattern = prefix+":"+d.Path, prefix+":"+d.Pattern
		}
		diffs = append(diffs, d)
	}
	return diffs, nil
}

// partSummary renders a part present on one side only.
func (c *Comparer) partSummary(p part) string {
	r := &tandem.Response{Body: p.body}
	s := bodySummary(r)
	if ct := p.header.Get("Content-Type"); ct != "" {
		s = ct + ", " + s
	}
	if isText(p.body) && len(p.body) <= c.opts.MaxValue {
		s = string(p.body)
	}
	return truncate(s, c.opts.MaxValue)
}
