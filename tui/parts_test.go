package tui

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

func lines(texts ...string) []bodyLine {
	out := make([]bodyLine, len(texts))
	for i, t := range texts {
		out[i] = bodyLine{text: t}
	}
	return out
}

// render writes an alignment as "mark left|right" rows.
func render(a, b []bodyLine, ps []pair) []string {
	var out []string
	for _, p := range ps {
		l, r := "", ""
		if p.l >= 0 {
			l = a[p.l].text
		}
		if p.r >= 0 {
			r = b[p.r].text
		}
		out = append(out, string(p.kind)+" "+l+"|"+r)
	}
	return out
}

func TestAlign(t *testing.T) {
	tests := []struct {
		name string
		a, b []string
		want []string
	}{
		{"Same", []string{"{", "a", "}"}, []string{"{", "a", "}"}, []string{"  {|{", "  a|a", "  }|}"}},
		{"Changed", []string{"{", `"a": 1,`, `"b": 2`, "}"}, []string{"{", `"a": "1",`, `"b": 2`, "}"},
			[]string{"  {|{", `~ "a": 1,|"a": "1",`, `  "b": 2|"b": 2`, "  }|}"}},
		// A trailing comma does not make a line differ.
		{"LastElementRemoved", []string{"[", "1,", "2,", "3", "]"}, []string{"[", "1,", "2", "]"},
			[]string{"  [|[", "  1,|1,", "  2,|2", "- 3|", "  ]|]"}},
		{"MiddleInserted", []string{"a", "b", "d"}, []string{"a", "b", "c", "d"}, []string{"  a|a", "  b|b", "+ |c", "  d|d"}},
		// Unique lines anchor the rest: the moved block shows once.
		{"Anchors", []string{"x", "k1", "y", "k2", "z"}, []string{"k1", "q", "k2"},
			[]string{"- x|", "  k1|k1", "~ y|q", "  k2|k2", "- z|"}},
		{"Empty", nil, []string{"a"}, []string{"+ |a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := lines(tt.a...), lines(tt.b...)
			if d := cmp.Diff(tt.want, render(a, b, align(a, b))); d != "" {
				t.Errorf("alignment (-want +got):\n%s", d)
			}
		})
	}
}

func TestBodyLines(t *testing.T) {
	r := &tandem.Response{Body: []byte(`{"b":[1,{"x y":null}],"a":"<é>","c":{},"d":1.50}`)}
	var got []string
	for _, l := range bodyLines(r) {
		got = append(got, l.text+"  @"+l.path)
	}
	want := []string{
		"{  @$",
		`  "a": "<é>",  @$.a`,
		`  "b": [  @$.b`,
		`    1,  @$.b[0]`,
		`    {  @$.b[1]`,
		`      "x y": null  @$.b[1]['x y']`,
		`    }  @$.b[1]`,
		`  ],  @$.b`,
		`  "c": {},  @$.c`,
		`  "d": 1.50  @$.d`,
		"}  @$",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
	for _, tt := range []struct {
		name string
		r    tandem.Response
		want string
	}{
		{"Error", tandem.Response{Err: "timeout"}, "(no answer: timeout)"},
		{"Empty", tandem.Response{}, "(empty body)"},
		{"Binary", tandem.Response{Body: []byte{0x1f, 0x8b, 0, 1}}, "(4 bytes of binary)"},
		{"Truncated", tandem.Response{Body: []byte("abc"), BodySize: 9000, Truncated: true, BodyHash: "ff"}, "(first 3 of 9000 bytes; compared by SHA-256 ff)"},
	} {
		if got := bodyLines(&tt.r)[0].text; got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestCurl runs the generated commands through a real shell (echoing
// instead of sending) to check the quoting.
func TestCurl(t *testing.T) {
	tests := []struct {
		name string
		req  tandem.Request
		want string
	}{
		{"Get", tandem.Request{Method: "GET", URL: "/a?b=1&c='x'", Host: "h:8080",
			Header: tandem.Headers{{Name: "Host", Value: "h:8080"}, {Name: "Accept", Value: "*/*"}, {Name: "Authorization", Value: store.Redacted}, {Name: "Connection", Value: "close"}}},
			`curl 'http://h:8080/a?b=1&c='\''x'\''' -H 'Accept: */*' -H 'Authorization: [REDACTED]'`},
		{"PostText", tandem.Request{Method: "POST", URL: "/m", Host: "h", Body: []byte("it's $HOME")},
			`curl -X POST http://h/m --data-binary 'it'\''s $HOME'`},
		{"PostBinary", tandem.Request{Method: "PUT", URL: "/b", Host: "h", Body: []byte{0, 1, 2}},
			`curl -X PUT http://h/b --data-binary @<(printf %s AAEC | base64 -d)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := curl(&tt.req)
			if got != tt.want {
				t.Errorf("curl:\n%s\nwant:\n%s", got, tt.want)
			}
			// The shell sees the arguments as they were meant.
			out, err := exec.Command("bash", "-c", "printf '%s\\n' "+strings.TrimPrefix(got, "curl ")).Output()
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "Get" && !strings.Contains(string(out), "http://h:8080/a?b=1&c='x'\n") {
				t.Errorf("shell arguments:\n%s", out)
			}
			if tt.name == "PostText" && !strings.Contains(string(out), "it's $HOME\n") {
				t.Errorf("shell arguments:\n%s", out)
			}
			// The form shown on the screen, a line per part ending in a
			// backslash, is the same command.
			shown := strings.Join(curlLines(&tt.req), " \\\n")
			out2, err := exec.Command("bash", "-c", "printf '%s\\n' "+strings.TrimPrefix(shown, "curl ")).Output()
			if err != nil {
				t.Fatal(err)
			}
			if string(out2) != string(out) {
				t.Errorf("the shown command's arguments:\n%s\nwant:\n%s", out2, out)
			}
		})
	}
}

func TestOSC52(t *testing.T) {
	var b strings.Builder
	if err := osc52(&b, "curl x"); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "\x1b]52;c;Y3VybCB4\x07" {
		t.Errorf("%q", got)
	}
}

func TestFilter(t *testing.T) {
	s := &store.Summary{Method: "GET", URL: "/api/users/1", Outcome: tandem.Mismatch, LegacyStatus: 200, CandidateStatus: 503,
		Patterns: []string{"$.price"}, State: store.TriageBug, Triage: store.Triage{Note: "Pricing"}}
	for _, tt := range []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"users", true},
		{"USERS price", true},
		{"pricing", true}, // the note
		{"orders", false},
		{"outcome:mis", true},
		{"outcome:match", false},
		{"status:503", true},
		{"status:5xx", true},
		{"status:200", true}, // either side
		{"status:404", false},
		{"state:bug", true},
		{"state:open", false},
		{"triage:b users", true},
	} {
		if got := parseFilter(tt.filter).exchange(s); got != tt.want {
			t.Errorf("%q: %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestSparkline(t *testing.T) {
	for _, tt := range []struct {
		in   []int64
		want string
	}{
		{nil, ""},
		{[]int64{0, 0}, ""},
		{[]int64{0, 1, 8, 4}, " ▁█▄"},
	} {
		if got := sparkline(tt.in); got != tt.want {
			t.Errorf("sparkline(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestClean: stored text cannot drive the terminal.
func TestClean(t *testing.T) {
	if got := clean("a\x1b]52;c;x\x07b\tc\xffd"); got != "a�]52;c;x�b    c�d" {
		t.Errorf("%q", got)
	}
}

func TestFitMiddle(t *testing.T) {
	for _, tt := range []struct {
		in    string
		width int
		want  string
	}{
		{"GET /repos/{owner}/{repo}/labels", 20, "GET …/{repo}/labels"},
		{"GET /repositories/{id}/issues", 17, "GET …/{id}/issues"},
		// A cut at the next "/" would lose too much.
		{"GET /repos/{owner}/{repo}", 17, "GET …wner}/{repo}"},
		{"GET /a/very-long-final-segment-here", 20, "GET …al-segment-here"},
		{"GET /short", 20, "GET /short          "},
		{"nospaces-at-all-here-long", 10, "nosp…-long"},
	} {
		if got := fitMiddle(tt.in, tt.width); got != tt.want {
			t.Errorf("fitMiddle(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

// TestTable_Widths: flex columns share what the fixed ones leave by
// weight, none wider than its widest cell needs, so that on a wide screen
// the numbers stay next to the names.
func TestTable_Widths(t *testing.T) {
	cols := []column{{title: "NAME", flex: 1}, {title: "N", width: 3, right: true}, {title: "NOTE", flex: 2}}
	tests := []struct {
		name  string
		width int
		cells [][]string
		want  []int
	}{
		// 2 for the cursor, 2 between columns, 3 fixed: 23 to share 1:2.
		{"Narrow", 30, [][]string{{strings.Repeat("n", 40), "1", strings.Repeat("x", 40)}}, []int{7, 3, 16}},
		{"ShortNameGivesItsShareToTheNote", 30, [][]string{{"ab", "1", strings.Repeat("x", 40)}}, []int{4, 3, 19}},
		{"EverythingFits", 100, [][]string{{"GET /a", "1", "short"}}, []int{6, 3, 5}},
		{"TitlesCount", 100, nil, []int{4, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := table{cols: cols}
			var rows []row
			for _, c := range tt.cells {
				rows = append(rows, row{key: c[0], cells: c})
			}
			tb.setRows(rows)
			tb.setSize(tt.width, 5)
			if d := cmp.Diff(tt.want, tb.widths()); d != "" {
				t.Errorf("widths (-want +got):\n%s", d)
			}
			for _, l := range strings.Split(tb.view(newStyles(asciiRenderer())), "\n") {
				if w := len([]rune(l)); w > tt.width {
					t.Errorf("line %q is %d wide", l, w)
				}
			}
		})
	}
	t.Run("SortMark", func(t *testing.T) {
		tb := table{cols: cols, sorted: 2}
		tb.setSize(40, 5)
		if got := tb.view(newStyles(asciiRenderer())); !strings.HasPrefix(got, "  NAME") || !strings.Contains(got, " N▼ ") {
			t.Errorf("sorted by N, descending: %q", got)
		}
		tb.ascending = true
		if got := tb.view(newStyles(asciiRenderer())); !strings.Contains(got, " N▲ ") {
			t.Errorf("sorted by N, ascending: %q", got)
		}
	})
}
