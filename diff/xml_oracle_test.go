package diff

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The XML walker is cross-checked against an independent oracle, as the
// JSON walker is against go-cmp: on random mutations of a real-looking
// document, the walker finds no difference exactly when the canonical forms
// of the trees are equal, with sibling order significant and, under an
// unordered rule for every element, as multisets. (go-cmp itself was the
// first oracle: its edit scripts over nested element lists took a minute
// for a few hundred comparisons, so it checks only the first rounds.)

// canon is an element as go-cmp compares it.
type canon struct {
	Name  string
	Attrs map[string]string
	Text  string
	Kids  []canon
	// K is key(), computed once; go-cmp does not compare it.
	K string
}

func toCanon(n *xnode) canon {
	c := canon{Name: n.name, Text: n.text, Attrs: map[string]string{}}
	for _, a := range n.attrs {
		c.Attrs[a.name] = a.value
	}
	for _, k := range n.kids {
		c.Kids = append(c.Kids, toCanon(k))
	}
	c.K = c.key()
	return c
}

// orderedKey is the canonical form of an element, children in order.
func (c canon) orderedKey() string {
	var b strings.Builder
	b.WriteString(c.Name + "\x00" + c.Text + "\x00")
	for _, k := range sortedKeys(c.Attrs) {
		b.WriteString(k + "=" + c.Attrs[k] + "\x00")
	}
	b.WriteString("(")
	for _, k := range c.Kids {
		b.WriteString(k.orderedKey() + ",")
	}
	b.WriteString(")")
	return b.String()
}

// key is the canonical form of an element with its children as a
// multiset (sorted).
func (c canon) key() string {
	var b strings.Builder
	b.WriteString(c.Name + "\x00" + c.Text + "\x00")
	for _, k := range sortedKeys(c.Attrs) {
		b.WriteString(k + "=" + c.Attrs[k] + "\x00")
	}
	kids := make([]string, len(c.Kids))
	for i, k := range c.Kids {
		kids[i] = k.K
	}
	slicesSort(kids)
	b.WriteString("(" + strings.Join(kids, ",") + ")")
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slicesSort(ks)
	return ks
}

func slicesSort(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func cloneX(n *xnode) *xnode {
	c := &xnode{name: n.name, text: n.text, attrs: append([]xattr(nil), n.attrs...)}
	for _, k := range n.kids {
		c.kids = append(c.kids, cloneX(k))
	}
	return c
}

func allNodes(n *xnode, out []*xnode) []*xnode {
	out = append(out, n)
	for _, k := range n.kids {
		out = allNodes(k, out)
	}
	return out
}

// mutateX changes one random element of the tree in place.
func mutateX(r *rand.Rand, root *xnode) {
	nodes := allNodes(root, nil)
	n := nodes[r.IntN(len(nodes))]
	switch r.IntN(7) {
	case 0:
		n.text += "!"
	case 1:
		if len(n.attrs) > 0 {
			n.attrs[r.IntN(len(n.attrs))].value += "!"
		} else {
			n.attrs = append(n.attrs, xattr{name: "new", value: "1"})
		}
	case 2:
		if len(n.attrs) > 0 {
			i := r.IntN(len(n.attrs))
			n.attrs = append(n.attrs[:i:i], n.attrs[i+1:]...)
		}
	case 3:
		if len(n.kids) > 0 {
			i := r.IntN(len(n.kids))
			n.kids = append(n.kids[:i:i], n.kids[i+1:]...)
		}
	case 4: // swap two adjacent children: a reordering
		if len(n.kids) > 1 {
			i := r.IntN(len(n.kids) - 1)
			n.kids[i], n.kids[i+1] = n.kids[i+1], n.kids[i]
		}
	case 5: // duplicate a child
		if len(n.kids) > 0 {
			i := r.IntN(len(n.kids))
			n.kids = append(n.kids, cloneX(n.kids[i]))
		}
	case 6: // rename within a namespace
		n.name += "x"
	}
}

// shuffleX reorders every element's children.
func shuffleX(r *rand.Rand, n *xnode) {
	r.Shuffle(len(n.kids), func(i, j int) { n.kids[i], n.kids[j] = n.kids[j], n.kids[i] })
	for _, k := range n.kids {
		shuffleX(r, k)
	}
}

func TestXMLWalkerAgreesWithOracle(t *testing.T) {
	src, err := os.ReadFile("testdata/order.xml")
	if err != nil {
		t.Fatal(err)
	}
	orig, n, err := parseXML(src)
	if err != nil {
		t.Fatal(err)
	}
	ordered := New(Options{})
	unordered := New(Options{Unordered: []Path{MustParsePath("//*")}})
	// Under the multiset option go-cmp sorts every slice by the canonical
	// key, which makes equal trees compare equal in any order.
	multiset := cmpopts.SortSlices(func(x, y canon) bool { return x.K < y.K })
	noKey := cmpopts.IgnoreFields(canon{}, "K")
	r := rand.New(rand.NewPCG(3, 4))
	checked, equal := 0, 0
	for round := range 300 {
		b := cloneX(orig)
		for range 1 + round%3 {
			mutateX(r, b)
		}
		if round%4 == 0 {
			b = cloneX(orig) // some rounds only reorder
		}
		shuffled := cloneX(b)
		shuffleX(r, shuffled)
		for _, tc := range []struct {
			name string
			c    *Comparer
			b    *xnode
			opts []cmp.Option
		}{
			{"ordered", ordered, b, []cmp.Option{noKey}},
			{"unordered", unordered, shuffled, []cmp.Option{multiset, noKey}},
		} {
			ca, cb := toCanon(orig), toCanon(tc.b)
			want := ca.orderedKey() == cb.orderedKey()
			if tc.name == "unordered" {
				want = ca.K == cb.K
			}
			if round < 10 && cmp.Equal(ca, cb, tc.opts...) != want {
				t.Fatalf("round %d %s: the oracles disagree", round, tc.name)
			}
			got := tc.c.compareXMLTrees(orig, tc.b, n*2)
			if want != (len(got) == 0) {
				t.Fatalf("round %d %s: go-cmp equal %v, walker differences %v\n%s", round, tc.name, want, got,
					cmp.Diff(toCanon(orig), toCanon(tc.b), tc.opts...))
			}
			checked++
			if want {
				equal++
			}
		}
	}
	// Both outcomes must be exercised for the check to mean anything.
	if equal == 0 || equal == checked {
		t.Fatalf("%d of %d comparisons equal: the mutations do not test both outcomes", equal, checked)
	}
	t.Logf("%d comparisons cross-checked, %d equal", checked, equal)
}
