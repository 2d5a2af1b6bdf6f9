package diff_test

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
)

func jsonResp(body string) *tandem.Response {
	return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(body)}
}

// summary renders differences as "kind path" lines, sorted, for comparison.
func summary(ds []tandem.Difference) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, string(d.Kind)+" "+d.Path)
	}
	slices.Sort(out)
	return out
}

func paths(ss ...string) []diff.Path {
	var ps []diff.Path
	for _, s := range ss {
		ps = append(ps, diff.MustParsePath(s))
	}
	return ps
}

var engines = []diff.Engine{diff.Fast, diff.Cmp}

func TestComparer_Compare_JSON(t *testing.T) {
	tests := []struct {
		name string
		opts diff.Options
		a, b string
		want []string
	}{
		{name: "Identical", a: `{"a":1}`, b: `{"a":1}`, want: []string{}},
		{name: "KeyOrder", a: `{"a":1,"b":[1,2]}`, b: `{"b":[1,2],"a":1}`, want: []string{}},
		{name: "Whitespace", a: `{"a":1}`, b: "{\n  \"a\" : 1\n}", want: []string{}},
		{name: "NumbersByValue", a: `{"a":1,"b":2.50,"c":1e2,"d":-0}`, b: `{"a":1.0,"b":2.5,"c":100,"d":0}`, want: []string{}},
		{name: "BigIntsStayDistinct", a: `{"id":9007199254740993}`, b: `{"id":9007199254740992}`, want: []string{"changed $.id"}},
		{name: "Escapes", a: `{"s":"\u0041\n"}`, b: `{"s":"A\n"}`, want: []string{}},
		{name: "Changed", a: `{"a":{"b":1,"c":"x"}}`, b: `{"a":{"b":2,"c":"x"}}`, want: []string{"changed $.a.b"}},
		{name: "Added", a: `{"a":1}`, b: `{"a":1,"n":true}`, want: []string{"added $.n"}},
		{name: "Removed", a: `{"a":1,"gone":null}`, b: `{"a":1}`, want: []string{"removed $.gone"}},
		{name: "Type", a: `{"a":"1"}`, b: `{"a":1}`, want: []string{"type $.a"}},
		{name: "NullVsValue", a: `{"a":null}`, b: `{"a":{}}`, want: []string{"type $.a"}},
		{name: "Bool", a: `[true]`, b: `[false]`, want: []string{"changed $[0]"}},
		{name: "ArrayElement", a: `{"items":[{"p":1},{"p":2},{"p":3}]}`, b: `{"items":[{"p":1},{"p":5},{"p":3}]}`, want: []string{"changed $.items[1].p"}},
		{name: "OddKeys", a: `{"a b":{"it's":1}}`, b: `{"a b":{"it's":2}}`, want: []string{`changed $['a b']['it\'s']`}},
		{name: "DuplicateKeysLastWins", a: `{"a":1,"a":2}`, b: `{"a":2}`, want: []string{}},
		{name: "RootScalar", a: `1`, b: `2`, want: []string{"changed $"}},
		{
			name: "Ignore", opts: diff.Options{Ignore: paths("$.updatedAt", "$.items[*].cursor", "$..etag")},
			a:    `{"updatedAt":"1","items":[{"cursor":"a","v":1}],"x":{"etag":"e1"},"gone":{"etag":"x"}}`,
			b:    `{"updatedAt":"2","items":[{"cursor":"b","v":1}],"x":{"etag":"e2"},"gone":{}}`,
			want: []string{},
		},
		{
			name: "IgnoreMissingKey", opts: diff.Options{Ignore: paths("$.traceId")},
			a: `{"a":1,"traceId":"x"}`, b: `{"a":1}`,
			want: []string{},
		},
		{
			name: "IgnoreDoesNotHideOthers", opts: diff.Options{Ignore: paths("$..etag")},
			a: `{"etag":"1","v":1}`, b: `{"etag":"2","v":2}`,
			want: []string{"changed $.v"},
		},
		{
			name: "Tolerance", opts: diff.Options{Tolerances: []diff.Tolerance{
				{Path: diff.MustParsePath("$.price"), Absolute: 0.01},
				{Path: diff.MustParsePath("$..ratio"), Relative: 0.001},
			}},
			a:    `{"price":10.00,"x":{"ratio":1000},"other":1.0}`,
			b:    `{"price":10.005,"x":{"ratio":1000.9},"other":1.001}`,
			want: []string{"changed $.other"},
		},
		{
			name: "ToleranceExceeded", opts: diff.Options{Tolerances: []diff.Tolerance{{Path: diff.MustParsePath("$.price"), Absolute: 0.01}}},
			a: `{"price":10.00}`, b: `{"price":10.02}`,
			want: []string{"changed $.price"},
		},
		{
			name: "Normalize", opts: diff.Options{Normalize: []diff.Normalizer{{Pattern: regexp.MustCompile(`\d{4}-\d{2}-\d{2}T[0-9:.]+Z`), Replace: "<time>"}}},
			a: `{"at":"created 2024-01-02T10:00:00Z","n":"x"}`, b: `{"at":"created 2025-03-04T11:12:13.5Z","n":"y"}`,
			want: []string{"changed $.n"},
		},
		{
			name: "Unordered", opts: diff.Options{Unordered: paths("$.tags", "$.items")},
			a:    `{"tags":["a","b","b","c"],"items":[{"id":1},{"id":2}]}`,
			b:    `{"tags":["c","b","a","b"],"items":[{"id":2},{"id":1}]}`,
			want: []string{},
		},
		{
			name: "UnorderedCountsDuplicates", opts: diff.Options{Unordered: paths("$.tags")},
			a: `{"tags":["a","b","b"]}`, b: `{"tags":["a","a","b"]}`,
			want: []string{"changed $.tags[2]"},
		},
		{
			name: "OrderMattersByDefault",
			a:    `{"tags":["a","b"]}`, b: `{"tags":["b","a"]}`,
			want: []string{"changed $.tags[0]", "changed $.tags[1]"},
		},
	}
	for _, engine := range engines {
		for _, tt := range tests {
			t.Run(string(engine)+"/"+tt.name, func(t *testing.T) {
				c := diff.NewEngine(tt.opts, engine)
				got, err := c.Compare(jsonResp(tt.a), jsonResp(tt.b))
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.want, summary(got)); d != "" {
					t.Errorf("differences (-want +got):\n%s", d)
				}
				for _, d := range got {
					if want := diff.PatternOf(d.Path); d.Pattern != want {
						t.Errorf("pattern of %s = %s, want %s", d.Path, d.Pattern, want)
					}
				}
			})
		}
	}
}

func TestComparer_Compare_ArrayLengths(t *testing.T) {
	// Both engines must agree that these differ; the fast engine aligns the
	// common prefix and suffix, so an insertion shows as one added element.
	c := diff.New(diff.Options{})
	got, err := c.Compare(jsonResp(`[1,2,3,4]`), jsonResp(`[1,2,9,3,4]`))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"added $[2]"}, summary(got)); d != "" {
		t.Errorf("insertion (-want +got):\n%s", d)
	}
	got, _ = c.Compare(jsonResp(`{"a":[1,2,3]}`), jsonResp(`{"a":[1,3]}`))
	if d := cmp.Diff([]string{"removed $.a[1]"}, summary(got)); d != "" {
		t.Errorf("removal (-want +got):\n%s", d)
	}
	oracle := diff.NewEngine(diff.Options{}, diff.Cmp)
	got, _ = oracle.Compare(jsonResp(`[1,2,3,4]`), jsonResp(`[1,2,9,3,4]`))
	if d := cmp.Diff([]string{"added $[2]"}, summary(got)); d != "" {
		t.Errorf("go-cmp insertion (-want +got):\n%s", d)
	}
}

func TestComparer_Compare_Values(t *testing.T) {
	c := diff.New(diff.Options{MaxValue: 20})
	got, err := c.Compare(jsonResp(`{"a":{"x": [1, 2]},"s":"`+strings.Repeat("é", 40)+`"}`), jsonResp(`{"a":7,"s":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []tandem.Difference{
		{Path: "$.a", Pattern: "$.a", Kind: tandem.Type, Legacy: `{"x":[1,2]}`, Candidate: "7"},
		{Path: "$.s", Pattern: "$.s", Kind: tandem.Changed, Legacy: `"` + strings.Repeat("é", 9) + "…(82 bytes)", Candidate: `"b"`},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestComparer_Compare_StatusAndHeaders(t *testing.T) {
	a := &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Date", Value: "x"}, {Name: "X-Old", Value: "1"}}, Body: []byte(`{}`)}
	b := &tandem.Response{Status: 404, Header: tandem.Headers{{Name: "content-type", Value: "application/json; charset=utf-8"}, {Name: "Date", Value: "y"}, {Name: "X-New", Value: "2"}}, Body: []byte(`{}`)}
	tests := []struct {
		name string
		opts diff.Options
		want []string
	}{
		{name: "Default", want: []string{"changed header:Content-Type", "changed status"}},
		{name: "IgnoreStatus", opts: diff.Options{IgnoreStatus: true}, want: []string{"changed header:Content-Type"}},
		{name: "Chosen", opts: diff.Options{CompareHeaders: []string{"x-old", "X-New"}}, want: []string{"added header:X-New", "changed status", "removed header:X-Old"}},
		{name: "All", opts: diff.Options{CompareHeaders: []string{"*"}, IgnoreHeaders: []string{"date", "content-type"}}, want: []string{"added header:X-New", "changed status", "removed header:X-Old"}},
		{name: "IgnoredWins", opts: diff.Options{CompareHeaders: []string{"Content-Type"}, IgnoreHeaders: []string{"Content-Type"}}, want: []string{"changed status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := diff.New(tt.opts).Compare(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestComparer_Compare_Bodies(t *testing.T) {
	text := func(s string) *tandem.Response {
		return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "text/plain"}}, Body: []byte(s)}
	}
	deep := strings.Repeat("[", diff.MaxDepth+1) + strings.Repeat("]", diff.MaxDepth+1)
	tests := []struct {
		name string
		opts diff.Options
		a, b *tandem.Response
		want []string
	}{
		{name: "TextEqual", a: text("a\nb\n"), b: text("a\nb\n"), want: []string{}},
		{name: "TextLineChanged", a: text("a\nb\nc\n"), b: text("a\nB\nc\n"), want: []string{"changed text:2"}},
		{name: "TextLineAdded", a: text("a\nc\n"), b: text("a\nb\nc\n"), want: []string{"added text:2"}},
		{name: "TextNormalized", opts: diff.Options{Normalize: []diff.Normalizer{{Pattern: regexp.MustCompile(`id=\d+`), Replace: "id=N"}}},
			a: text("x id=1\n"), b: text("x id=2\n"), want: []string{}},
		{name: "Binary", a: text("\x00\x01"), b: text("\x00\x02"), want: []string{"changed body"}},
		{name: "InvalidUTF8", a: text("\xff\xfe"), b: text("\xff\xfd"), want: []string{"changed body"}},
		{name: "JSONVersusHTML", a: jsonResp(`{"a":1}`), b: &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte("<html>")}, want: []string{"type $"}},
		{name: "SniffedJSON", a: text(`{"a":1, "b":2}`), b: text(`{"b":2,"a":1}`), want: []string{}},
		{name: "TooDeepIsText", a: jsonResp(deep), b: jsonResp(deep + " "), want: []string{"changed text:1"}},
		{name: "TruncatedSameHash", a: &tandem.Response{Status: 200, Truncated: true, BodySize: 10, BodyHash: "ab", Body: []byte("x")}, b: &tandem.Response{Status: 200, Truncated: true, BodySize: 10, BodyHash: "ab", Body: []byte("y")}, want: []string{}},
		{name: "TruncatedOtherHash", a: &tandem.Response{Status: 200, Truncated: true, BodySize: 10, BodyHash: "ab"}, b: &tandem.Response{Status: 200, Truncated: true, BodySize: 10, BodyHash: "cd"}, want: []string{"changed body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := diff.New(tt.opts).Compare(tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestComparer_MaxDiffs(t *testing.T) {
	var a, b strings.Builder
	a.WriteString("[")
	b.WriteString("[")
	for i := range 500 {
		if i > 0 {
			a.WriteString(",")
			b.WriteString(",")
		}
		fmt.Fprintf(&a, "%d", i)
		fmt.Fprintf(&b, "%d", -i-1)
	}
	a.WriteString("]")
	b.WriteString("]")
	for _, engine := range engines {
		got, err := diff.NewEngine(diff.Options{MaxDiffs: 10}, engine).Compare(jsonResp(a.String()), jsonResp(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 10 {
			t.Errorf("%s: %d differences, want 10", engine, len(got))
		}
	}
}

func TestJudge(t *testing.T) {
	c := diff.New(diff.Options{})
	legacy := *jsonResp(`{"id":"r1","name":"a","price":1}`)
	tests := []struct {
		name      string
		candidate tandem.Response
		secondary *tandem.Response
		want      tandem.Outcome
		noise     []string
	}{
		{name: "Match", candidate: *jsonResp(`{"name":"a","price":1,"id":"r1"}`), want: tandem.Match},
		{name: "Mismatch", candidate: *jsonResp(`{"id":"r1","name":"b","price":1}`), want: tandem.Mismatch},
		{name: "CandidateError", candidate: tandem.Response{Err: "connection refused"}, want: tandem.CandidateError},
		{name: "Noise", candidate: *jsonResp(`{"id":"r2","name":"a","price":1}`), secondary: jsonResp(`{"id":"r3","name":"a","price":1}`), want: tandem.Noise, noise: []string{"$.id"}},
		{name: "NoiseAndBug", candidate: *jsonResp(`{"id":"r2","name":"a","price":2}`), secondary: jsonResp(`{"id":"r3","name":"a","price":1}`), want: tandem.Mismatch, noise: []string{"$.id"}},
		// Kind-aware: legacy varying id does not explain a candidate that
		// drops it or makes it a number; a secondary that drops it too does.
		{name: "RemovedNotNoise", candidate: *jsonResp(`{"name":"a","price":1}`), secondary: jsonResp(`{"id":"r3","name":"a","price":1}`), want: tandem.Mismatch, noise: []string{"$.id"}},
		{name: "TypeNotNoise", candidate: *jsonResp(`{"id":7,"name":"a","price":1}`), secondary: jsonResp(`{"id":"r3","name":"a","price":1}`), want: tandem.Mismatch, noise: []string{"$.id"}},
		{name: "RemovedByBoth", candidate: *jsonResp(`{"name":"a","price":1}`), secondary: jsonResp(`{"name":"a","price":1}`), want: tandem.Noise, noise: []string{"$.id"}},
		{name: "SecondaryDown", candidate: *jsonResp(`{"id":"r2","name":"a","price":1}`), secondary: &tandem.Response{Err: "refused"}, want: tandem.Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &tandem.Exchange{Legacy: legacy, Candidate: tt.candidate, Secondary: tt.secondary}
			c.Judge(ex)
			if ex.Outcome != tt.want {
				t.Errorf("outcome = %s, want %s (%+v)", ex.Outcome, tt.want, ex.Differences)
			}
			if d := cmp.Diff(tt.noise, ex.NoisePatterns); d != "" {
				t.Errorf("noise patterns (-want +got):\n%s", d)
			}
		})
	}
}

// TestComparer_PanicIsDiffError: a panic inside a comparison (go-cmp
// documents that it may panic; a bug of ours would too) is recovered into a
// diff_error outcome that says so, in both engines, never a crash. A
// Normalizer without a pattern, which the rules loader never builds, is
// the bug here.
func TestComparer_PanicIsDiffError(t *testing.T) {
	for _, engine := range engines {
		for _, tt := range []struct{ name, a, b string }{
			{"JSON", `{"s":"a"}`, `{"s":"b"}`},
			{"Text", "a\n", "b\n"},
		} {
			t.Run(string(engine)+"/"+tt.name, func(t *testing.T) {
				c := diff.NewEngine(diff.Options{Normalize: []diff.Normalizer{{Pattern: nil, Replace: "x"}}}, engine)
				legacy, candidate := jsonResp(tt.a), jsonResp(tt.b)
				if tt.name == "Text" {
					legacy.Header, candidate.Header = nil, nil
				}
				diffs, err := c.Compare(legacy, candidate)
				if err == nil || diffs != nil || !strings.HasPrefix(err.Error(), "diff error: ") {
					t.Fatalf("Compare = %v, %v; want no differences and a diff error", diffs, err)
				}
				ex := &tandem.Exchange{Legacy: *legacy, Candidate: *candidate}
				c.Judge(ex)
				if ex.Outcome != tandem.DiffError || !strings.Contains(ex.Error, "nil pointer") || len(ex.Differences) != 0 {
					t.Errorf("outcome %s (%.80q), want diff_error with the panic's message", ex.Outcome, ex.Error)
				}
				// One line, with where it happened: it is stored and shown
				// to people triaging, who have no use for a Go stack.
				if strings.Contains(ex.Error, "\n") || strings.Contains(ex.Error, "goroutine") || !regexp.MustCompile(`\(at \w+\.go:\d+\)$`).MatchString(ex.Error) {
					t.Errorf("diff error %q: want one line ending with the panic's file and line", ex.Error)
				}
			})
		}
	}
}

func TestComparer_WorkBudget(t *testing.T) {
	// Unordered arrays nested in unordered arrays, every element different:
	// the matching is exponential in the depth, and must be cut off.
	var build func(depth, seed int) string
	build = func(depth, seed int) string {
		if depth == 0 {
			return fmt.Sprint(seed)
		}
		parts := make([]string, 8)
		for i := range parts {
			parts[i] = build(depth-1, seed*8+i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	c := diff.New(diff.Options{Unordered: paths("$..*", "$"), MinWork: 100_000})
	_, err := c.Compare(jsonResp(build(5, 1)), jsonResp(build(5, 2)))
	if err != diff.ErrBudget {
		t.Fatalf("err = %v, want ErrBudget", err)
	}
	ex := &tandem.Exchange{Legacy: *jsonResp(build(5, 1)), Candidate: *jsonResp(build(5, 2))}
	c.Judge(ex)
	if ex.Outcome != tandem.DiffError || !strings.Contains(ex.Error, "budget") {
		t.Errorf("outcome %s (%s), want diff_error naming the budget", ex.Outcome, ex.Error)
	}
}

// TestComparer_HostileInput pins the defined outcome of each kind of odd
// body that production traffic brings.
func TestComparer_HostileInput(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	tests := []struct {
		name string
		a, b string
		want []string
	}{
		{name: "HugeNumbersEqualByValue", a: `{"n":1e400}`, b: `{"n":1E+400}`, want: []string{}},
		{name: "HugeIntegersDistinct", a: `{"n":123456789012345678901234567890}`, b: `{"n":123456789012345678901234567891}`, want: []string{"changed $.n"}},
		{name: "HugeExponents", a: `{"n":1e99999999999999999999}`, b: `{"n":1e99999999999999999998}`, want: []string{"changed $.n"}},
		{name: "NaNStringsAreStrings", a: `{"n":"NaN","i":"Infinity"}`, b: `{"n":"NaN","i":"-Infinity"}`, want: []string{"changed $.i"}},
		{name: "NaNLiteralIsNotJSON", a: `{"n":NaN}`, b: `{"n":NaN }`, want: []string{"changed text:1"}},
		{name: "DuplicateKeysLastWins", a: `{"a":1,"a":2}`, b: `{"a":1}`, want: []string{"changed $.a"}},
		{name: "DeepButBounded", a: deep(diff.MaxDepth - 1), b: deep(diff.MaxDepth - 1), want: []string{}},
		{name: "TooDeepComparedAsText", a: deep(diff.MaxDepth + 5), b: deep(diff.MaxDepth+5) + "\n", want: []string{"changed text:1"}},
		{name: "InvalidUTF8InStrings", a: "{\"s\":\"\xff\"}", b: "{\"s\":\"\xfe\"}", want: []string{}}, // both decode to U+FFFD, as encoding/json does
		{name: "EscapedVersusRaw", a: `{"s":"é"}`, b: `{"s":"\u00e9"}`, want: []string{}},
		{name: "LoneSurrogate", a: `{"s":"\ud800"}`, b: `{"s":"\ufffd"}`, want: []string{}},
	}
	for _, engine := range engines {
		for _, tt := range tests {
			t.Run(string(engine)+"/"+tt.name, func(t *testing.T) {
				got, err := diff.NewEngine(diff.Options{}, engine).Compare(jsonResp(tt.a), jsonResp(tt.b))
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.want, summary(got)); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
			})
		}
	}
}

// Members of a reordered object are reported in legacy's order, then the
// candidate's additions in the candidate's order (the search that pairs
// small objects' members), not sorted by name.
func TestComparer_Compare_ReorderedMembersInLegacyOrder(t *testing.T) {
	ds, err := diff.New(diff.Options{}).Compare(jsonResp(`{"z":1,"b":2,"m":3}`), jsonResp(`{"y":0,"m":4,"x":9,"b":2}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, string(d.Kind)+" "+d.Path)
	}
	want := []string{"removed $.z", "changed $.m", "added $.y", "added $.x"}
	if !slices.Equal(got, want) {
		t.Errorf("differences %q, want %q in that order", got, want)
	}
}
