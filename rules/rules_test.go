package rules_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/rules"
)

var update = flag.Bool("update", false, "rewrite golden files")

func MustLoad(tb testing.TB, path string) *rules.Set {
	tb.Helper()
	s, err := rules.Load(path)
	if err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
	return s
}

func MustParse(tb testing.TB, src string) *rules.Set {
	tb.Helper()
	s, err := rules.Parse("test.yaml", []byte(src))
	if err != nil {
		tb.Fatalf("parse: %v", err)
	}
	return s
}

// TestLoad_Errors checks the messages for broken files against golden
// files: each names file, line, column and the problem.
func TestLoad_Errors(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no broken rules files in testdata/bad")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := rules.Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./rules -update)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestLoad_Example(t *testing.T) {
	s := MustLoad(t, "testdata/example.yaml")
	if got := len(s.Endpoints()); got != 3 {
		t.Fatalf("%d endpoints, want 3", got)
	}
	e := s.Endpoints()[0]
	if e.Name != "GET /api/users/{id}" || e.Line != 7 {
		t.Errorf("endpoint %q at line %d", e.Name, e.Line)
	}
	// Lists add to the defaults.
	if d := cmp.Diff([]string{"$..traceId", "$.updatedAt", "$.items[*].cursor", "$..etag"}, e.Config.Ignore); d != "" {
		t.Errorf("ignore (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"Date", "Server", "X-Request-Id"}, e.Config.IgnoreHeaders); d != "" {
		t.Errorf("ignore_headers (-want +got):\n%s", d)
	}
	if e.SampleRate(0.1) != 1.0 {
		t.Errorf("sample = %v, want the rule's 1.0", e.SampleRate(0.1))
	}
	if h, q := e.SampleBy(); h != "X-User-Id" || q != "" {
		t.Errorf("sample_by = %q %q", h, q)
	}
	if e.MirrorsMethod([]byte("POST")) {
		t.Error("allow_side_effects: false must not mirror POST")
	}
	orders := s.Endpoints()[1]
	if !orders.MirrorsMethod([]byte("POST")) || orders.SampleRate(1) != 0.5 {
		t.Error("POST /api/orders: side effects allowed at sample 0.5")
	}
	// The compiled comparer applies the merged rules.
	legacy := tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Date", Value: "1"}},
		Body: []byte(`{"updatedAt":"x","price":10.00,"tags":["a","b"],"traceId":"t1","at":"2024-01-01T00:00:00Z","name":"n"}`)}
	candidate := tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Date", Value: "2"}},
		Body: []byte(`{"updatedAt":"y","price":10.004,"tags":["b","a"],"traceId":"t2","at":"2025-05-05T10:10:10.5Z","name":"m"}`)}
	diffs, err := e.Comparer.Compare(&legacy, &candidate)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 1 || diffs[0].Path != "$.name" {
		t.Errorf("differences %+v, want only $.name", diffs)
	}
}

func TestSet_Match(t *testing.T) {
	s := MustParse(t, `
version: 1
endpoints:
  - match: GET /api/users/me
  - match: GET /api/users/{id}
  - match: "* /api/users/{id}/posts"
  - match: GET /files/{path...}
  - match: GET /
`)
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/api/users/me", "GET /api/users/me"}, // first match wins
		{"GET", "/api/users/42", "GET /api/users/{id}"},
		{"GET", "/api/users/", ""}, // {id} needs a non-empty segment
		{"GET", "/api/users/42/extra", ""},
		{"DELETE", "/api/users/42/posts", "* /api/users/{id}/posts"},
		{"POST", "/api/users/42", ""},
		{"GET", "/files/a/b/c.txt", "GET /files/{path...}"},
		{"GET", "/files/", "GET /files/{path...}"},
		{"GET", "/files", ""},
		{"GET", "/", "GET /"},
		{"GET", "", ""},
	}
	for _, tt := range tests {
		e := s.Match([]byte(tt.method), []byte(tt.path))
		if e.Name != tt.want {
			t.Errorf("Match(%s %s) = %q, want %q", tt.method, tt.path, e.Name, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { s.Match([]byte("GET"), []byte("/files/a/b")) }); n != 0 {
		t.Errorf("Match allocates %v times per call; it runs on the client path", n)
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"GET", "/api/users/42", "GET /api/users/{id}"},
		{"GET", "/api/users/42?x=1", "GET /api/users/{id}"},
		{"GET", "/repos/octokit/hello-world/issues/7/comments", "GET /repos/octokit/hello-world/issues/{id}/comments"},
		{"GET", "/orgs/12/teams/34", "GET /orgs/{id}/teams/{id2}"},
		{"PUT", "/o/3fa85f64-5717-4562-b3fc-2c963f66afa6", "PUT /o/{id}"},
		{"GET", "/commits/6dcb09b5b57875f334f61aebed695e2e4193db5e", "GET /commits/{id}"},
		{"GET", "/short/abcdef12", "GET /short/abcdef12"}, // short hex stays
		{"GET", "/v1/users", "GET /v1/users"},
		{"GET", "", "GET /"},
		{"GET", "/", "GET /"},
	}
	for _, tt := range tests {
		got := rules.Template(tt.method, tt.path)
		if got != tt.want {
			t.Errorf("Template(%s, %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
		// Every automatic name is a valid match string that matches its request.
		s, err := rules.Parse("t.yaml", []byte("version: 1\nendpoints:\n  - match: \""+got+"\"\n"))
		if err != nil {
			t.Errorf("%q is not a valid match string: %v", got, err)
			continue
		}
		path := tt.path
		if path == "" {
			path = "/"
		}
		path, _, _ = strings.Cut(path, "?")
		if e := s.Match([]byte(tt.method), []byte(path)); e.Name != got {
			t.Errorf("rule %q does not match %s %s", got, tt.method, path)
		}
	}
}

func TestDefault(t *testing.T) {
	s := rules.Default()
	e := s.Match([]byte("GET"), []byte("/x/1"))
	if e.Name != "" || e.EndpointName("GET", "/x/1") != "GET /x/{id}" {
		t.Errorf("default endpoint name %q / %q", e.Name, e.EndpointName("GET", "/x/1"))
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "PROPFIND"} {
		if e.MirrorsMethod([]byte(m)) {
			t.Errorf("%s mirrored by default", m)
		}
	}
	for _, m := range []string{"GET", "HEAD", "OPTIONS"} {
		if !e.MirrorsMethod([]byte(m)) {
			t.Errorf("%s not mirrored by default", m)
		}
	}
	if e.SampleRate(0.25) != 0.25 {
		t.Error("without a rule, the global sample rate applies")
	}
	if d := cmp.Diff(rules.DefaultRedact, e.Redact()); d != "" {
		t.Errorf("redact (-want +got):\n%s", d)
	}
}

func TestDefaultsMerge(t *testing.T) {
	s := MustParse(t, `
version: 1
defaults:
  ignore: ["$.a"]
  sample: 0.5
  allow_side_effects: true
  redact: [X-Api-Key]
endpoints:
  - match: GET /x
    ignore: ["$.b"]
    sample: 0.1
  - match: POST /y
    allow_side_effects: false
    redact: [password]
`)
	x, y := s.Endpoints()[0], s.Endpoints()[1]
	if d := cmp.Diff([]string{"$.a", "$.b"}, x.Config.Ignore); d != "" {
		t.Errorf("x ignore (-want +got):\n%s", d)
	}
	if x.SampleRate(1) != 0.1 || y.SampleRate(1) != 0.5 {
		t.Errorf("samples %v %v, want 0.1 (own) and 0.5 (defaults)", x.SampleRate(1), y.SampleRate(1))
	}
	if !x.MirrorsMethod([]byte("POST")) || y.MirrorsMethod([]byte("POST")) {
		t.Error("allow_side_effects: the endpoint's value must override the default")
	}
	if d := cmp.Diff(append(append([]string{}, rules.DefaultRedact...), "X-Api-Key", "password"), y.Redact()); d != "" {
		t.Errorf("redact (-want +got):\n%s", d)
	}
	// Adding to an endpoint's list must not change the defaults' list.
	if d := cmp.Diff([]string{"$.a"}, s.Defaults.Ignore); d != "" {
		t.Errorf("defaults changed (-want +got):\n%s", d)
	}
}

func TestHash01(t *testing.T) {
	a, b := rules.Hash01([]byte("user-1")), rules.Hash01([]byte("user-1"))
	if a != b || a < 0 || a >= 1 {
		t.Fatalf("Hash01 not stable in [0,1): %v %v", a, b)
	}
	// Roughly uniform: a tenth of 10000 keys fall under 0.1.
	n := 0
	for i := range 10000 {
		if rules.Hash01([]byte("user-"+string(rune('a'+i%26))+strings.Repeat("x", i%97)+string(rune(i)))) < 0.1 {
			n++
		}
	}
	if n < 800 || n > 1200 {
		t.Errorf("%d of 10000 keys under 0.1", n)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	bad, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, p := range append(files, bad...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := rules.Parse("fuzz.yaml", data)
		if err == nil {
			// A file that loads must be usable.
			s.Match([]byte("GET"), []byte("/a/b"))
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "fuzz.yaml:") {
				t.Fatalf("error without file position: %q", line)
			}
		}
	})
}

// TestParse_Shadowing: a rule that an earlier one always takes first (first
// match wins) is refused; a narrower rule before a wider one is not.
func TestParse_Shadowing(t *testing.T) {
	tests := []struct {
		first, then string
		shadowed    bool
	}{
		{"GET /a/{id}", "GET /a/{other}", true},
		{"GET /a/{id}", "GET /a/me", true},
		{"GET /a/me", "GET /a/{id}", false},
		{"* /a/{id}", "DELETE /a/{id}", true},
		{"GET /a/{id}", "* /a/{id}", false},
		{"GET /a/{id}", "POST /a/{id}", false},
		{"GET /a/{id}", "GET /a/", false}, // {id} needs a non-empty segment
		{"GET /a/{id}", "GET /a/{id}/b", false},
		{"GET /a/{id}/b", "GET /a/{id}", false},
		{"GET /a/{rest...}", "GET /a/{id}/b/{c}", true},
		{"GET /a/{rest...}", "GET /a/{more...}", true},
		{"GET /a/{rest...}", "GET /a", false}, // {rest...} needs the slash
		{"GET /a/{id}", "GET /a/{rest...}", false},
		{"GET /{x}/b", "GET /a/{y}", false},
		{"* /{rest...}", "GET /", true},
	}
	for _, tt := range tests {
		t.Run(tt.first+" then "+tt.then, func(t *testing.T) {
			src := "version: 1\nendpoints:\n  - match: \"" + tt.first + "\"\n  - match: \"" + tt.then + "\"\n"
			_, err := rules.Parse("t.yaml", []byte(src))
			if got := err != nil; got != tt.shadowed {
				t.Fatalf("refused = %v (%v), want %v", got, err, tt.shadowed)
			}
			if tt.shadowed && !strings.Contains(err.Error(), "t.yaml:4:12: match \""+tt.then+"\" never applies: the rule at line 3") {
				t.Errorf("message %q", err)
			}
		})
	}
}

// TestRuleKinds: each setting, written in a rules file, changes what counts
// as a difference (merged with the defaults, header names in any case).
func TestRuleKinds(t *testing.T) {
	type resp struct {
		status  int
		headers []string // name, value, …
		body    string
	}
	mk := func(r resp) *tandem.Response {
		out := &tandem.Response{Status: r.status, Body: []byte(r.body)}
		if out.Status == 0 {
			out.Status = 200
		}
		for i := 0; i < len(r.headers); i += 2 {
			out.Header = append(out.Header, tandem.Header{Name: r.headers[i], Value: r.headers[i+1]})
		}
		return out
	}
	js := func(body string, headers ...string) resp {
		return resp{headers: append([]string{"Content-Type", "application/json"}, headers...), body: body}
	}
	tests := []struct {
		name               string
		defaults, endpoint string // YAML settings, indented under defaults: and the rule
		legacy, candidate  resp
		want               []string // difference paths
	}{
		{name: "NoRules", legacy: js(`{"a":1,"b":2}`), candidate: js(`{"a":1,"b":3}`), want: []string{"$.b"}},
		{name: "Ignore", endpoint: `ignore: ["$.b", "$.items[*].cursor", "$..etag"]`,
			legacy:    js(`{"a":1,"b":2,"items":[{"cursor":"x","v":1}],"n":{"etag":"1"}}`),
			candidate: js(`{"a":2,"b":3,"items":[{"cursor":"y","v":1}],"n":{"etag":"2"}}`), want: []string{"$.a"}},
		{name: "IgnoreFromDefaults", defaults: `ignore: ["$..traceId"]`, endpoint: `ignore: ["$.b"]`,
			legacy: js(`{"traceId":"1","b":1,"c":1}`), candidate: js(`{"traceId":"2","b":2,"c":2}`), want: []string{"$.c"}},
		{name: "UnorderedMultiset", endpoint: `unordered: ["$.tags"]`,
			legacy: js(`{"tags":["a","b","b"]}`), candidate: js(`{"tags":["b","a","a"]}`), want: []string{"$.tags[2]"}},
		{name: "UnorderedReordered", endpoint: `unordered: ["$.tags"]`,
			legacy: js(`{"tags":["a","b","b"]}`), candidate: js(`{"tags":["b","a","b"]}`)},
		{name: "ToleranceAbsolute", endpoint: `tolerance: [{path: "$.price", absolute: 0.01}]`,
			legacy: js(`{"price":10.00,"q":1}`), candidate: js(`{"price":10.01,"q":1}`)},
		{name: "ToleranceAbsoluteExceeded", endpoint: `tolerance: [{path: "$.price", absolute: 0.01}]`,
			legacy: js(`{"price":10.00}`), candidate: js(`{"price":10.02}`), want: []string{"$.price"}},
		{name: "ToleranceRelative", endpoint: `tolerance: [{path: "$..ratio", relative: 0.001}]`,
			legacy: js(`{"x":{"ratio":1000},"y":{"ratio":1}}`), candidate: js(`{"x":{"ratio":1000.9},"y":{"ratio":1.01}}`), want: []string{"$.y.ratio"}},
		{name: "NormalizeStrings", endpoint: `normalize: [{pattern: '\d{4}-\d{2}-\d{2}T[0-9:.]+Z', replace: '<time>'}]`,
			legacy: js(`{"at":"on 2024-01-02T10:00:00Z","n":"x"}`), candidate: js(`{"at":"on 2025-03-04T11:12:13.5Z","n":"y"}`), want: []string{"$.n"}},
		{name: "NormalizeText", endpoint: `normalize: [{pattern: 'id=\d+', replace: 'id=N'}]`,
			legacy:    resp{headers: []string{"Content-Type", "text/plain"}, body: "a id=1\nb\n"},
			candidate: resp{headers: []string{"Content-Type", "text/plain"}, body: "a id=2\nc\n"}, want: []string{"text:2"}},
		{name: "ContentTypeByDefault", legacy: js(`{}`, "ETag", "1"), candidate: resp{headers: []string{"Content-Type", "text/json", "ETag", "2"}, body: `{}`},
			want: []string{"header:Content-Type"}},
		{name: "CompareHeaders", defaults: `compare_headers: [Content-Type]`, endpoint: `compare_headers: [etag]`,
			legacy: js(`{}`, "ETag", "1", "X-Other", "1"), candidate: js(`{}`, "etag", "2", "X-Other", "2"), want: []string{"header:Etag"}},
		{name: "CompareAllButIgnored", endpoint: "compare_headers: [\"*\"]\n    ignore_headers: [date, X-Request-Id]",
			legacy: js(`{}`, "Date", "1", "X-Request-Id", "a", "X-Version", "1"), candidate: js(`{}`, "Date", "2", "X-Request-Id", "b", "X-Version", "2"),
			want: []string{"header:X-Version"}},
		{name: "IgnoreHeadersWinsOverCompare", defaults: `ignore_headers: [content-type]`,
			legacy: js(`{}`), candidate: resp{headers: []string{"Content-Type", "text/json"}, body: `{}`}},
		{name: "Status", legacy: resp{status: 200, body: "x"}, candidate: resp{status: 201, body: "x"}, want: []string{"status"}},
		{name: "IgnoreStatus", endpoint: `ignore_status: true`, legacy: resp{status: 200, body: "x"}, candidate: resp{status: 201, body: "x"}},
		{name: "IgnoreStatusReplacedByEndpoint", defaults: `ignore_status: true`, endpoint: `ignore_status: false`,
			legacy: resp{status: 200, body: "x"}, candidate: resp{status: 201, body: "x"}, want: []string{"status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\n"
			if tt.defaults != "" {
				src += "defaults:\n  " + tt.defaults + "\n"
			}
			src += "endpoints:\n  - match: GET /x\n"
			if tt.endpoint != "" {
				src += "    " + tt.endpoint + "\n"
			}
			s := MustParse(t, src)
			e := s.Match([]byte("GET"), []byte("/x"))
			if e.Name != "GET /x" {
				t.Fatalf("matched %q", e.Name)
			}
			diffs, err := e.Comparer.Compare(mk(tt.legacy), mk(tt.candidate))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, d := range diffs {
				got = append(got, d.Path)
			}
			if tt.want == nil {
				tt.want = []string{}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("differences (-want +got):\n%s", d)
			}
		})
	}
}

// TestWriteSuggestions: what `tandem rules suggest` prints loads as a
// rules file, and every rule in it applies (narrower rules first).
func TestWriteSuggestions(t *testing.T) {
	sugg := []rules.Suggestion{
		{Endpoint: "GET /orgs/{id}", Pattern: "$.updated_at", Count: 9, Of: 10},
		{Endpoint: "GET /orgs/{id}", Pattern: "header:X-Request-Id", Count: 10, Of: 10},
		{Endpoint: "GET /orgs/me", Pattern: "status", Count: 2, Of: 10},
		{Endpoint: "GET /orgs/me", Pattern: "$['odd key'].v", Count: 2, Of: 10},
		{Endpoint: "GET /page/{id}", Pattern: "text", Count: 5, Of: 5},
		{Endpoint: "GET /x/{a}", Pattern: "$.a", Count: 3, Of: 3},
		{Endpoint: "GET /x/{b}", Pattern: "$.b", Count: 3, Of: 3},
		{Endpoint: "get /lower", Pattern: "$.a", Count: 3},
	}
	var b strings.Builder
	if err := rules.WriteSuggestions(&b, "tandem.db", sugg); err != nil {
		t.Fatal(err)
	}
	s, err := rules.Parse("suggested.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("the suggestions do not load: %v\n%s", err, b.String())
	}
	var names []string
	for _, e := range s.Endpoints() {
		names = append(names, e.Name)
	}
	if d := cmp.Diff([]string{"GET /orgs/me", "GET /orgs/{id}", "GET /x/{a}"}, names); d != "" {
		t.Errorf("rules (-want +got):\n%s\n%s", d, b.String())
	}
	me, orgs := s.Lookup("GET /orgs/me").Config, s.Lookup("GET /orgs/{id}").Config
	if me.IgnoreStatus == nil || !*me.IgnoreStatus || !slices.Equal(me.Ignore, []string{"$['odd key'].v"}) {
		t.Errorf("GET /orgs/me: %+v", me)
	}
	if !slices.Equal(orgs.Ignore, []string{"$.updated_at"}) || !slices.Equal(orgs.IgnoreHeaders, []string{"X-Request-Id"}) {
		t.Errorf("GET /orgs/{id}: %+v", orgs)
	}
	for _, want := range []string{
		"# GET /page/{id}: its body differs as text or bytes",
		"# GET /x/{b}: the same requests as GET /x/{a}",
		"# get /lower: not a valid match string",
		"in 9 of 10 exchanges (90%)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestActingMethod(t *testing.T) {
	for _, tc := range []struct{ method, override, want string }{
		{"GET", "", "GET"},
		{"GET", "DELETE", "DELETE"},
		{"GET", "delete", "delete"}, // not a safe method as written: a write
		{"GET", "HEAD", "GET"},
		{"POST", "GET", "POST"}, // an override never makes a write safe
		{"POST", "", "POST"},
	} {
		if got := string(rules.ActingMethod([]byte(tc.method), []byte(tc.override))); got != tc.want {
			t.Errorf("ActingMethod(%s, %q) = %s, want %s", tc.method, tc.override, got, tc.want)
		}
	}
}

func TestLoad_CompareStreams(t *testing.T) {
	s := MustParse(t, `
version: 1
defaults:
  compare_streams: true
endpoints:
  - match: GET /events
    compare_streams: false
  - match: GET /progress
`)
	for _, tt := range []struct {
		name string
		e    *rules.Endpoint
		want bool
	}{
		{"own false", s.Endpoints()[0], false},
		{"the defaults' true", s.Endpoints()[1], true},
		{"built-in default", rules.Default().Match([]byte("GET"), []byte("/x")), false},
	} {
		if got := tt.e.CompareStreams(); got != tt.want {
			t.Errorf("%s: CompareStreams() = %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := rules.Parse("r.yaml", []byte("version: 1\ndefaults:\n  compare_streams: yes please\n")); err == nil ||
		!strings.Contains(err.Error(), "compare_streams: expected true or false") {
		t.Errorf("a bad compare_streams: %v", err)
	}
}
