package rules_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/demo"
	"github.com/tandemproxy/tandem/rules"
)

func TestAddIgnore(t *testing.T) {
	tests := []struct {
		name              string
		in                string
		endpoint, pattern string
		want              string
		unchanged         bool
		newRule           bool
		line              int
	}{
		{
			name:     "FlowList",
			endpoint: "GET /api/users/{id}", pattern: "$.items[*].price",
			in: `# users
version: 1
endpoints:
  - match: GET /api/users/{id}   # the main one
    ignore: ["$.updatedAt", '$..etag']  # keep these
    sample: 1.0
`,
			want: `# users
version: 1
endpoints:
  - match: GET /api/users/{id}   # the main one
    ignore: ["$.updatedAt", '$..etag', "$.items[*].price"]  # keep these
    sample: 1.0
`,
			line: 5,
		},
		{
			name:     "EmptyFlowList",
			endpoint: "GET /a", pattern: "$.x",
			in:   "version: 1\nendpoints:\n  - match: GET /a\n    ignore: []\n",
			want: "version: 1\nendpoints:\n  - match: GET /a\n    ignore: [\"$.x\"]\n",
			line: 4,
		},
		{
			name:     "MultiLineFlowListWithTrailingComma",
			endpoint: "GET /a", pattern: "$.x",
			in:   "version: 1\nendpoints:\n  - match: GET /a\n    ignore: [\n      \"$.a\",  # why\n    ]\n",
			want: "version: 1\nendpoints:\n  - match: GET /a\n    ignore: [\n      \"$.a\", \"$.x\",  # why\n    ]\n",
			line: 5,
		},
		{
			name:     "BlockList",
			endpoint: "GET /a", pattern: "$.items[*].id",
			in: `version: 1
endpoints:
  - match: GET /a
    ignore:
      - "$.a"      # first
      - $.b[*].c   # plain, with brackets

    sample: 0.5
  - match: GET /b
`,
			want: `version: 1
endpoints:
  - match: GET /a
    ignore:
      - "$.a"      # first
      - $.b[*].c   # plain, with brackets
      - "$.items[*].id"

    sample: 0.5
  - match: GET /b
`,
			line: 7,
		},
		{
			name:     "NoIgnoreKeyInBlockRule",
			endpoint: "GET /repos/{owner}/{repo}/labels", pattern: "$[*].color",
			in: `version: 1
endpoints:
  - match: GET /
  - match: GET /repos/{owner}/{repo}/labels
    unordered: ["$"]        # sorted the other way
    # a note at the end of the rule

  # the next rule
  - match: GET /c
`,
			want: `version: 1
endpoints:
  - match: GET /
  - match: GET /repos/{owner}/{repo}/labels
    unordered: ["$"]        # sorted the other way
    ignore: ["$[*].color"]
    # a note at the end of the rule

  # the next rule
  - match: GET /c
`,
			line: 6,
		},
		{
			name:     "OneKeyRuleLastInFileWithoutNewline",
			endpoint: "GET /", pattern: "$.x",
			in:   "version: 1\nendpoints:\n  - match: GET /",
			want: "version: 1\nendpoints:\n  - match: GET /\n    ignore: [\"$.x\"]\n",
			line: 4,
		},
		{
			name:     "FlowRule",
			endpoint: "GET /a", pattern: "header:X-Trace",
			in:   "version: 1\nendpoints:\n  - {match: GET /a, sample: 1}   # flow\n",
			want: "version: 1\nendpoints:\n  - {match: GET /a, sample: 1, ignore_headers: [X-Trace]}   # flow\n",
			line: 3,
		},
		{
			name:     "FlowEndpoints",
			endpoint: "* /static/{path...}", pattern: "$.x",
			in:      "version: 1\nendpoints: [{match: GET /a}]\n",
			want:    "version: 1\nendpoints: [{match: GET /a}, {match: \"* /static/{path...}\", ignore: [\"$.x\"]}]\n",
			newRule: true,
			line:    2,
		},
		{
			name:     "MissingEndpointAppended",
			endpoint: "GET /api/users/{id}", pattern: "$.updatedAt",
			in: `version: 1
endpoints:
  - match: GET /a
    ignore: ["$.x"]

  # trailing comment about the list

defaults:
  ignore: ["$..traceId"]
`,
			want: `version: 1
endpoints:
  - match: GET /a
    ignore: ["$.x"]
  - match: GET /api/users/{id}
    ignore: ["$.updatedAt"]

  # trailing comment about the list

defaults:
  ignore: ["$..traceId"]
`,
			newRule: true,
			line:    5,
		},
		{
			name:     "MissingEndpointAppendedAtEOF",
			endpoint: "* /x", pattern: "status",
			in:      "version: 1\nendpoints:\n    - match: GET /a\n# end\n",
			want:    "version: 1\nendpoints:\n    - match: GET /a\n    - match: \"* /x\"\n      ignore_status: true\n# end\n",
			newRule: true,
			line:    4,
		},
		{
			name:     "MissingEndpointsKey",
			endpoint: "GET /a", pattern: "$.x",
			in:      "# only defaults\nversion: 1\ndefaults:\n  ignore_headers: [Date]  # noisy\n",
			want:    "# only defaults\nversion: 1\ndefaults:\n  ignore_headers: [Date]  # noisy\nendpoints:\n  - match: GET /a\n    ignore: [\"$.x\"]\n",
			newRule: true,
			line:    6,
		},
		{
			name:     "NullEndpoints",
			endpoint: "GET /a", pattern: "$.x",
			in:      "version: 1\nendpoints:   # none yet\ndefaults: {}\n",
			want:    "version: 1\nendpoints:   # none yet\n  - match: GET /a\n    ignore: [\"$.x\"]\ndefaults: {}\n",
			newRule: true,
			line:    3,
		},
		{
			name:     "EmptyFile",
			endpoint: "GET /a", pattern: "$.x",
			in:      "",
			want:    "version: 1\nendpoints:\n  - match: GET /a\n    ignore: [\"$.x\"]\n",
			newRule: true,
			line:    3,
		},
		{
			name:     "NullIgnore",
			endpoint: "GET /a", pattern: "$.x",
			in:   "version: 1\nendpoints:\n  - match: GET /a\n    ignore: ~  # later\n",
			want: "version: 1\nendpoints:\n  - match: GET /a\n    ignore: [\"$.x\"]  # later\n",
			line: 4,
		},
		{
			name:     "EmptyIgnore",
			endpoint: "GET /a", pattern: "$.x",
			in:   "version: 1\nendpoints:\n  - match: GET /a\n    ignore:\n    sample: 1\n",
			want: "version: 1\nendpoints:\n  - match: GET /a\n    ignore: [\"$.x\"]\n    sample: 1\n",
			line: 4,
		},
		{
			name:     "IgnoreStatusFalse",
			endpoint: "GET /a", pattern: "status",
			in:   "version: 1\nendpoints:\n  - match: GET /a\n    ignore_status: false # for now\n",
			want: "version: 1\nendpoints:\n  - match: GET /a\n    ignore_status: true # for now\n",
			line: 4,
		},
		{
			name:     "HeaderBlockList",
			endpoint: "GET /a", pattern: "header:Etag",
			in:   "version: 1\nendpoints:\n  - match: GET /a\n    ignore_headers:\n    - Date\n",
			want: "version: 1\nendpoints:\n  - match: GET /a\n    ignore_headers:\n    - Date\n    - Etag\n",
			line: 6,
		},
		{
			name:     "AlreadyIgnored",
			endpoint: "GET  /a", pattern: "$.x",
			in:        "version: 1\nendpoints:\n  - match: \"GET /a\"\n    ignore: ['$.x']\n",
			want:      "version: 1\nendpoints:\n  - match: \"GET /a\"\n    ignore: ['$.x']\n",
			unchanged: true,
			line:      4,
		},
		{
			name:     "HeaderAlreadyIgnoredOtherCase",
			endpoint: "GET /a", pattern: "header:etag",
			in:        "version: 1\nendpoints:\n  - match: GET /a\n    ignore_headers: [ETag]\n",
			want:      "version: 1\nendpoints:\n  - match: GET /a\n    ignore_headers: [ETag]\n",
			unchanged: true,
			line:      4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ed, err := rules.AddIgnore("rules.yaml", []byte(tt.in), tt.endpoint, tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, string(ed.Data)); d != "" {
				t.Errorf("file (-want +got):\n%s", d)
			}
			if ed.Changed == tt.unchanged || ed.NewRule != tt.newRule || ed.Line != tt.line {
				t.Errorf("changed %v, new rule %v, line %d; want %v, %v, %d", ed.Changed, ed.NewRule, ed.Line, !tt.unchanged, tt.newRule, tt.line)
			}
			// The result loads, and its rule ignores the pattern.
			s := MustParse(t, string(ed.Data))
			ep := s.Lookup(strings.Join(strings.Fields(tt.endpoint), " "))
			if ep.Name == "" {
				t.Fatalf("no rule named %q in the result", tt.endpoint)
			}
			switch {
			case strings.HasPrefix(tt.pattern, "$"):
				if !slices.Contains(ep.Config.Ignore, tt.pattern) {
					t.Errorf("ignore = %q, want it to hold %q", ep.Config.Ignore, tt.pattern)
				}
			case tt.pattern == "status":
				if ep.Config.IgnoreStatus == nil || !*ep.Config.IgnoreStatus {
					t.Error("ignore_status is not true")
				}
			default:
				h := strings.TrimPrefix(tt.pattern, "header:")
				if !slices.ContainsFunc(ep.Config.IgnoreHeaders, func(s string) bool { return strings.EqualFold(s, h) }) {
					t.Errorf("ignore_headers = %q, want it to hold %q", ep.Config.IgnoreHeaders, h)
				}
			}
		})
	}
}

func TestAddIgnore_Errors(t *testing.T) {
	tests := []struct {
		name, in, endpoint, pattern, err string
	}{
		{"TextBody", "version: 1\n", "GET /a", "text", "normalize"},
		{"OpaqueBody", "version: 1\n", "GET /a", "body", "normalize"},
		{"BadEndpoint", "version: 1\n", "get /a", "$.x", "not an HTTP method"},
		{"BrokenFile", "version: 1\nendpoints:\n  - matchh: GET /a\n", "GET /a", "$.x", `rules.yaml:3:5: unknown key "matchh"`},
		{"FlowTopLevel", "{version: 1}\n", "GET /a", "$.x", "not a block mapping"},
		// The appended rule would never match: the loader says why.
		{"Shadowed", "version: 1\nendpoints:\n  - match: \"* /{rest...}\"\n", "GET /a/{id}", "$.x", "line 3 (* /{rest...}) matches GET /a/{id} first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.AddIgnore("rules.yaml", []byte(tt.in), tt.endpoint, tt.pattern)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.err)
			}
			if tt.name == "TextBody" && !errors.Is(err, rules.ErrNotIgnorable) {
				t.Errorf("err = %v, want ErrNotIgnorable", err)
			}
		})
	}
}

func TestAddIgnoreFile(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		src, err := os.ReadFile("testdata/example.yaml")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "rules.yaml")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		ed, err := rules.AddIgnoreFile(path, "GET /api/users/{id}", "$.items[*].price")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		want := strings.Replace(string(src), `"$..etag"]`, `"$..etag", "$.items[*].price"]`, 1)
		if d := cmp.Diff(want, string(got)); d != "" {
			t.Errorf("file (-want +got):\n%s", d)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want the file's 0600 kept", st.Mode().Perm())
		}
		if !slices.Contains(ed.Set.Lookup("GET /api/users/{id}").Config.Ignore, "$.items[*].price") {
			t.Error("the returned rules lack the new ignore")
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("%d files in the directory, want only the rules (no temporary file left)", len(entries))
		}
	})
	t.Run("NewFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "new.yaml")
		if _, err := rules.AddIgnoreFile(path, "GET /a", "header:Date"); err != nil {
			t.Fatal(err)
		}
		MustLoad(t, path)
		got, _ := os.ReadFile(path)
		if want := "version: 1\nendpoints:\n  - match: GET /a\n    ignore_headers: [Date]\n"; string(got) != want {
			t.Errorf("new file:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("ErrBrokenFileUntouched", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.yaml")
		bad := "version: 2\n"
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := rules.AddIgnoreFile(path, "GET /a", "$.x"); err == nil {
			t.Fatal("no error")
		}
		if got, _ := os.ReadFile(path); string(got) != bad {
			t.Errorf("a broken file was changed to %q", got)
		}
	})
}

// TestAddIgnore_DemoRules edits the demo's commented rules file, as the
// triage UI does on the demo's results.
func TestAddIgnore_DemoRules(t *testing.T) {
	ed, err := rules.AddIgnore("tandem-demo.yaml", demo.Rules, "GET /orgs/{org}", "$.archived")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(demo.Rules), "  - match: GET /orgs/{org}\n", "  - match: GET /orgs/{org}\n    ignore: [\"$.archived\"]\n", 1)
	if d := cmp.Diff(want, string(ed.Data)); d != "" {
		t.Errorf("file (-want +got):\n%s", d)
	}
	// The labels rule carries a comment on its last line.
	ed, err = rules.AddIgnore("tandem-demo.yaml", demo.Rules, "GET /repos/{owner}/{repo}/labels", "header:Etag")
	if err != nil {
		t.Fatal(err)
	}
	want = strings.Replace(string(demo.Rules), "order is not a bug here\n", "order is not a bug here\n    ignore_headers: [Etag]\n", 1)
	if d := cmp.Diff(want, string(ed.Data)); d != "" {
		t.Errorf("file (-want +got):\n%s", d)
	}
}
