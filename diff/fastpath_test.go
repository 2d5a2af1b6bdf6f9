package diff_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/diff"
)

// The fast engine's shortcuts, each checked against go-cmp on inputs made
// to take it: the candidate parsed against legacy (containers with legacy's
// bytes at the same name or index are not parsed, and are parsed later only
// if compared with something else), the eight-bytes-at-a-time string
// scanner, sibling links instead of child lists, and key-sorted members
// without maps. Both engines must report exactly the same differences.

func TestFastPaths_AgreeWithGoCmp(t *testing.T) {
	unordered := diff.Options{Unordered: paths("$..*", "$")}
	tests := []struct {
		name string
		opts diff.Options
		a, b string
		want []string
		// syntax: the candidate is not JSON. The engines then report that
		// differently (go-cmp's path compares such bodies as text), so only
		// that both find a difference is checked against go-cmp.
		syntax bool
	}{
		// Aliases: the candidate's subtree has legacy's bytes at that place.
		{name: "AliasEqual", a: `{"x":{"y":[1,2]},"z":1}`, b: `{"z":1,"x":{"y":[1,2]}}`, want: []string{}},
		{name: "AliasBesideChange", a: `{"k":[{"a":1},{"b":2},{"c":3}]}`, b: `{"k":[{"a":1},{"b":9},{"c":3}]}`, want: []string{"changed $.k[1].b"}},
		// Legacy's last duplicate counts; the candidate's "k" has the bytes of
		// legacy's first, so its alias is compared with another value and must
		// be parsed then.
		{name: "AliasOfOverriddenDuplicate", a: `{"k":{"v":1},"k":{"v":2}}`, b: `{"k":{"v":1}}`, want: []string{"changed $.k.v"}},
		{name: "AliasDuplicateInCandidate", a: `{"k":{"v":1}}`, b: `{"k":{"v":1},"k":{"v":3}}`, want: []string{"changed $.k.v"}},
		// In an unordered array, an alias (b[1] has a[1]'s bytes) is tried
		// against a[0] first.
		{name: "AliasInUnorderedArray", opts: unordered, a: `[[1],[2]]`, b: `[[3],[2]]`, want: []string{"changed $[0][0]"}},
		{name: "AliasInUnorderedMatches", opts: unordered, a: `[{"a":[1,2]},{"b":[3]}]`, b: `[{"b":[3]},{"a":[2,1]}]`, want: []string{}},
		{name: "AliasUnorderedReordered", opts: unordered, a: `[[1,2],[3,4],[5]]`, b: `[[1,2],[5],[4,3]]`, want: []string{}},
		// Arrays of other lengths align prefix and suffix; the aliases sit at
		// the same index, the alignment pairs other ones.
		{name: "AliasArrayInsert", a: `[{"x":1},{"y":2},{"z":3}]`, b: `[{"x":1},{"new":0},{"y":2},{"z":3}]`, want: []string{"added $[1]"}},
		{name: "AliasArrayRemove", a: `[{"x":1},{"y":2},{"z":3}]`, b: `[{"y":2},{"z":3}]`, want: []string{"removed $[0]"}},
		{name: "AliasUnderIgnore", opts: diff.Options{Ignore: paths("$.a")}, a: `{"a":{"q":1},"b":{"q":1}}`, b: `{"a":{"q":2},"b":{"q":1}}`, want: []string{}},
		{name: "AliasTypeChange", a: `{"a":{"q":1},"b":[1]}`, b: `{"a":[1],"b":{"q":1}}`, want: []string{"type $.a", "type $.b"}},
		{name: "AliasBadCandidateSyntaxElsewhere", a: `{"a":{"q":1}}`, b: `{"a":{"q":1},}`, want: []string{"type $"}, syntax: true},
		{name: "AliasBeforeTrailingGarbage", a: `[{"q":1}]`, b: `[{"q":1}]x`, want: []string{"type $"}, syntax: true},
		{name: "AliasWhitespace", a: `{"a": {"q": [1, 2]}}`, b: "{\"a\": {\"q\": [1, 2]}, \"b\":1}", want: []string{"added $.b"}},
		{name: "AliasEscapedKey", a: `{"\u0061":{"q":1}}`, b: `{"a":{"q":1}}`, want: []string{}},
		// Strings across the scanner's eight-byte lanes.
		{name: "StringQuoteInLane", a: `["0123456\"89", "x"]`, b: `["0123456\"89", "y"]`, want: []string{"changed $[1]"}},
		{name: "StringEscapeEquivalent", a: `["abcdefghijklmno\u00e9pq"]`, b: `["abcdefghijklmnoépq"]`, want: []string{}},
		{name: "StringNonASCIILong", a: `{"ключ-длинный-очень":"значение"}`, b: `{"ключ-длинный-очень":"значение!"}`, want: []string{"changed $.ключ-длинный-очень"}},
		{name: "StringInvalidUTF8", a: "[\"abcdefgh\xffxyz\"]", b: "[\"abcdefgh\uFFFDxyz\"]", want: []string{}},
		// Keys that share their first eight bytes sort by the rest.
		{name: "KeysSharedPrefix", a: `{"abcdefgh2":1,"abcdefgh1":2,"abcdefgh":3}`, b: `{"abcdefgh":3,"abcdefgh1":2,"abcdefgh2":1}`, want: []string{}},
		{name: "KeysSharedPrefixChange", a: `{"abcdefgh2":1,"abcdefgh1":2}`, b: `{"abcdefgh1":2,"abcdefgh2":5}`, want: []string{"changed $.abcdefgh2"}},
		{name: "KeysZeroBytePrefix", a: `{"a\u0000":1,"a":2}`, b: `{"a":2,"a\u0000":1}`, want: []string{}},
		{name: "ManyMembersReordered", a: manyMembers(40, false, -1), b: manyMembers(40, true, -1), want: []string{}},
		{name: "ManyMembersOneChange", a: manyMembers(40, false, -1), b: manyMembers(40, true, 17), want: []string{"changed $.k17"}},
		{name: "EmptyContainers", a: `{"a":{},"b":[],"c":[{}]}`, b: `{"c":[{}],"b":[],"a":{}}`, want: []string{}},
		{name: "NestedChildLinks", a: `[[[1],[2,[3]]],{"a":[[4]]}]`, b: `[[[1],[2,[3]]],{"a":[[5]]}]`, want: []string{"changed $[1].a[0][0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [2][]string
			for i, engine := range engines {
				opts := tt.opts
				ds, err := diff.NewEngine(opts, engine).Compare(jsonResp(tt.a), jsonResp(tt.b))
				if err != nil {
					t.Fatalf("%s: %v", engine, err)
				}
				got[i] = summary(ds)
			}
			if d := cmp.Diff(tt.want, got[0]); d != "" {
				t.Errorf("fast engine (-want +got):\n%s", d)
			}
			if tt.syntax {
				if len(got[1]) == 0 {
					t.Errorf("go-cmp finds no difference")
				}
				return
			}
			if d := cmp.Diff(got[1], got[0]); d != "" {
				t.Errorf("fast engine disagrees with go-cmp (-cmp +fast):\n%s", d)
			}
		})
	}
}

// manyMembers is an object with n members k0…k(n-1), in reverse order
// with reversed set, with member change set to another value.
func manyMembers(n int, reversed bool, change int) string {
	parts := make([]string, n)
	for i := range n {
		v := i
		if i == change {
			v = -1
		}
		k := i
		if reversed {
			k = n - 1 - i
		}
		parts[k] = fmt.Sprintf(`"k%d":%d`, i, v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// TestFastPaths_StringScanner puts every byte that ends or interrupts a
// string run at each position of an eight-byte lane, and at the end of the
// input, and checks that the fast engine accepts exactly what encoding/json
// accepts (a body it rejects is compared as text, so the two would
// disagree) and finds equal what go-cmp finds equal.
func TestFastPaths_StringScanner(t *testing.T) {
	specials := []string{`"`, `\\`, `\"`, `\n`, `\u00e9`, `\u12`, `\x`, "\x01", "\x1f", "\x7f", "é", "\xff", " ", "~"}
	n := 0
	for pre := 0; pre < 18; pre++ {
		for _, sp := range specials {
			for post := 0; post < 10; post += 3 {
				s := `"` + strings.Repeat("a", pre) + sp + strings.Repeat("b", post) + `"`
				for _, body := range []string{s, "[" + s + "]", `{` + s + `:1}`, s[:len(s)-1]} {
					a, b := jsonResp(body), jsonResp(body+" ")
					valid := json.Valid([]byte(body))
					for _, engine := range engines {
						c := diff.NewEngine(diff.Options{}, engine)
						ds, err := c.Compare(a, b)
						if err != nil {
							t.Fatalf("%s %q: %v", engine, body, err)
						}
						// Valid JSON with a trailing space is equal as JSON;
						// invalid JSON is compared as text, where the space
						// differs.
						if valid != (len(ds) == 0) {
							t.Fatalf("%s %q: valid=%v but %d differences %v", engine, body, valid, len(ds), summary(ds))
						}
					}
					n++
				}
			}
		}
	}
	t.Logf("%d bodies", n)
}

// TestFastPaths_BenchDocuments runs the benchmark documents (the shapes
// the fast paths are tuned for) through both engines: at 4 KiB, and at 32
// KiB, where the deeply reordered candidates make the parser give up
// following legacy (minGuideMisses) part way through.
func TestFastPaths_BenchDocuments(t *testing.T) {
	for _, size := range []int{4 << 10, 32 << 10} {
		for _, tc := range benchCases(size) {
			t.Run(fmt.Sprintf("%d/%s", size, tc.name), func(t *testing.T) {
				fd, err1 := diff.NewEngine(tc.opts, diff.Fast).Compare(tc.pair.legacy, tc.pair.candidate)
				sd, err2 := diff.NewEngine(tc.opts, diff.Cmp).Compare(tc.pair.legacy, tc.pair.candidate)
				if err1 != nil || err2 != nil {
					t.Fatalf("errors %v / %v", err1, err2)
				}
				if len(fd) != tc.wantDiffs {
					t.Errorf("fast: %d differences, want %d: %v", len(fd), tc.wantDiffs, summary(fd))
				}
				if d := cmp.Diff(summary(sd), summary(fd)); d != "" {
					t.Errorf("(-go-cmp +fast):\n%s", d)
				}
			})
		}
	}
}
