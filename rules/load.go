package rules

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/tandemproxy/tandem/diff"
)

// Error is one problem in a rules file, with its position.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Errors is every problem found in a rules file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads and validates a rules file.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	return Parse(path, data)
}

// Parse validates rules given as bytes; name is used in error messages.
// Every problem is reported, not only the first: see Errors.
func Parse(name string, data []byte) (*Set, error) {
	l := &loader{file: name}
	defaults, entries := l.parse(data)
	if len(l.errs) > 0 {
		slices.SortStableFunc(l.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, l.errs
	}
	s, err := build(name, defaults, entries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.sum = sha256.Sum256(data)
	return s, nil
}

type entry struct {
	match  string
	line   int
	route  route
	config Config
}

type loader struct {
	file string
	errs Errors
}

func (l *loader) errAt(n ast.Node, format string, args ...any) {
	line, col := 1, 1
	// A mapping's token is its first ':'; point at its first key instead.
	switch m := n.(type) {
	case *ast.MappingNode:
		if len(m.Values) > 0 {
			n = m.Values[0].Key
		}
	case *ast.MappingValueNode:
		n = m.Key
	}
	if n != nil && n.GetToken() != nil {
		line, col = n.GetToken().Position.Line, n.GetToken().Position.Column
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

var (
	topKeys      = []string{"version", "defaults", "endpoints"}
	settingKeys  = []string{"ignore_headers", "compare_headers", "ignore", "unordered", "tolerance", "normalize", "ignore_values", "redact", "ignore_status", "allow_side_effects", "sample", "sample_by", "compare_streams", "serve", "serve_writes", "fallback_on_5xx", "cutover"}
	endpointKeys = append([]string{"match"}, settingKeys...)
)

func (l *loader) parse(data []byte) (Config, []entry) {
	f, err := parser.ParseBytes(data, parser.ParseComments)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			pos := ye.GetToken().Position
			l.errs = append(l.errs, &Error{File: l.file, Line: pos.Line, Column: pos.Column, Msg: "YAML: " + ye.GetMessage()})
		} else {
			l.errs = append(l.errs, &Error{File: l.file, Line: 1, Column: 1, Msg: "YAML: " + err.Error()})
		}
		return Config{}, nil
	}
	var docs []*ast.DocumentNode
	for _, d := range f.Docs {
		if d.Body != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		l.errs = append(l.errs, &Error{File: l.file, Line: 1, Column: 1, Msg: "empty rules file (it needs at least: version: 1)"})
		return Config{}, nil
	}
	if len(docs) > 1 {
		l.errAt(docs[1].Body, "a rules file holds one YAML document")
	}
	top, ok := l.mapping(docs[0].Body, "the rules file")
	if !ok {
		return Config{}, nil
	}
	var (
		defaults   Config
		entries    []entry
		sawVersion bool
	)
	for _, kv := range top {
		key := l.key(kv, topKeys)
		switch key {
		case "version":
			sawVersion = true
			v := l.value(kv.Value)
			if n, ok := v.(*ast.IntegerNode); !ok || fmt.Sprint(n.Value) != strconv.Itoa(Version) {
				l.errAt(kv.Value, "version: this tandem reads version %d", Version)
			}
		case "defaults":
			defaults = l.settings(kv.Value, false, nil)
		case "endpoints":
			entries = l.endpoints(kv.Value)
		}
	}
	if !sawVersion {
		l.errs = append(l.errs, &Error{File: l.file, Line: 1, Column: 1, Msg: fmt.Sprintf("version: missing (add version: %d)", Version)})
	}
	return defaults, entries
}

// value unwraps tags, and reports anchors and aliases (which rules files do
// not use: every setting is written where it applies).
func (l *loader) value(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.TagNode:
			n = x.Value
		case *ast.AnchorNode:
			l.errAt(x, "anchors (&) are not supported in rules files")
			return x.Value
		case *ast.AliasNode:
			l.errAt(x, "aliases (*) are not supported in rules files")
			return nil
		default:
			return n
		}
	}
}

func (l *loader) mapping(n ast.Node, what string) ([]*ast.MappingValueNode, bool) {
	switch x := l.value(n).(type) {
	case *ast.MappingNode:
		return x.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{x}, true
	case *ast.NullNode, nil:
		return nil, true
	default:
		l.errAt(n, "%s must be a mapping (key: value)", what)
		return nil, false
	}
}

// key returns the entry's key if it is one of known, and reports it
// otherwise (with the nearest known key as a suggestion).
func (l *loader) key(kv *ast.MappingValueNode, known []string) string {
	k := kv.Key.GetToken().Value
	if slices.Contains(known, k) {
		return k
	}
	msg := fmt.Sprintf("unknown key %q", k)
	if s := nearest(k, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (known keys: " + strings.Join(known, ", ") + ")"
	}
	l.errAt(kv.Key, "%s", msg)
	return ""
}

func (l *loader) endpoints(n ast.Node) []entry {
	seq, ok := l.value(n).(*ast.SequenceNode)
	if !ok {
		if _, null := l.value(n).(*ast.NullNode); !null {
			l.errAt(n, "endpoints must be a list of endpoint rules (- match: …)")
		}
		return nil
	}
	var out []entry
	first := map[string]int{}
	for _, item := range seq.Values {
		var en entry
		en.line = item.GetToken().Position.Line
		var matchNode ast.Node
		en.config = l.settings(item, true, func(kv *ast.MappingValueNode) {
			matchNode = kv.Value
			en.match = l.str(kv.Value, "match")
			en.line = kv.Key.GetToken().Position.Line
		})
		if matchNode == nil {
			l.errAt(item, "endpoint rule without match: (write match: METHOD /path/{param})")
			continue
		}
		if en.match == "" {
			continue // reported by str
		}
		t, msg := parseRoute(en.match)
		if msg != "" {
			l.errAt(matchNode, "%s", msg)
			continue
		}
		en.route = t
		canon := strings.Join(strings.Fields(en.match), " ")
		if line, dup := first[canon]; dup {
			l.errAt(matchNode, "match %q repeats the rule at line %d, which always wins (first match wins)", en.match, line)
			continue
		}
		shadowed := false
		for _, e := range out {
			if e.route.shadows(&en.route) {
				l.errAt(matchNode, "match %q never applies: the rule at line %d (%q) matches every request it does, and the first match wins (put the narrower rule first)",
					en.match, e.line, e.match)
				shadowed = true
				break
			}
		}
		if shadowed {
			continue
		}
		first[canon] = en.line
		out = append(out, en)
	}
	return out
}

// settings reads a defaults: block or an endpoint rule; onMatch handles the
// match: key of endpoint rules.
func (l *loader) settings(n ast.Node, endpoint bool, onMatch func(*ast.MappingValueNode)) Config {
	var c Config
	what, known := "defaults", settingKeys
	if endpoint {
		what, known = "an endpoint rule", endpointKeys
	}
	kvs, ok := l.mapping(n, what)
	if !ok {
		return c
	}
	for _, kv := range kvs {
		switch l.key(kv, known) {
		case "match":
			onMatch(kv)
		case "ignore_headers":
			c.IgnoreHeaders = l.headerList(kv.Value, "ignore_headers")
		case "compare_headers":
			c.CompareHeaders = l.headerList(kv.Value, "compare_headers")
		case "ignore":
			c.Ignore = l.pathList(kv.Value, "ignore")
		case "unordered":
			c.Unordered = l.pathList(kv.Value, "unordered")
		case "redact":
			c.Redact = l.strList(kv.Value, "redact")
		case "tolerance":
			c.Tolerance = l.tolerances(kv.Value)
		case "normalize":
			c.Normalize = l.normalizers(kv.Value)
		case "ignore_values":
			c.IgnoreValues = l.valueRules(kv.Value) // classes.go
		case "ignore_status":
			c.IgnoreStatus = l.boolean(kv.Value, "ignore_status")
		case "allow_side_effects":
			c.AllowSideEffects = l.boolean(kv.Value, "allow_side_effects")
		case "compare_streams":
			c.CompareStreams = l.boolean(kv.Value, "compare_streams")
		case "sample":
			c.Sample = l.fraction(kv.Value, "sample")
		case "serve", "serve_writes", "fallback_on_5xx", "cutover":
			l.serving(kv, kv.Key.GetToken().Value, &c) // cutover.go
		case "sample_by":
			s := l.str(kv.Value, "sample_by")
			kind, name, ok := strings.Cut(s, ":")
			if s != "" && (!ok || name == "" || (kind != "header" && kind != "query")) {
				l.errAt(kv.Value, "sample_by: %q: want header:NAME or query:NAME", s)
			} else {
				c.SampleBy = s
			}
		}
	}
	return c
}

func (l *loader) str(n ast.Node, what string) string {
	switch x := l.value(n).(type) {
	case *ast.StringNode:
		if x.Value == "" {
			l.errAt(n, "%s: empty string", what)
		}
		return x.Value
	case *ast.LiteralNode:
		return strings.TrimRight(x.Value.Value, "\n")
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return x.GetToken().Value
	default:
		l.errAt(n, "%s: expected a string", what)
		return ""
	}
}

func (l *loader) strList(n ast.Node, what string) []string {
	v := l.value(n)
	if _, null := v.(*ast.NullNode); null || v == nil {
		return nil
	}
	seq, ok := v.(*ast.SequenceNode)
	if !ok {
		l.errAt(n, "%s: expected a list, such as [a, b]", what)
		return nil
	}
	var out []string
	for _, item := range seq.Values {
		if s := l.str(item, what); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

func (l *loader) headerList(n ast.Node, what string) []string {
	list := l.strList(n, what)
	seq, _ := l.value(n).(*ast.SequenceNode)
	for i, h := range list {
		if h != "*" && !tokenRE.MatchString(h) {
			var at ast.Node = n
			if seq != nil && i < len(seq.Values) {
				at = seq.Values[i]
			}
			l.errAt(at, "%s: %q is not a header name", what, h)
		}
	}
	return list
}

func (l *loader) pathList(n ast.Node, what string) []string {
	v := l.value(n)
	seq, ok := v.(*ast.SequenceNode)
	if !ok {
		if _, null := v.(*ast.NullNode); !null && v != nil {
			l.errAt(n, "%s: expected a list of paths, such as [\"$.updatedAt\"]", what)
		}
		return nil
	}
	var out []string
	for _, item := range seq.Values {
		s := l.str(item, what)
		if s == "" {
			continue
		}
		if _, err := diff.ParsePath(s); err != nil {
			l.errAt(item, "%s: %s", what, pathMsg(err))
			continue
		}
		out = append(out, s)
	}
	return out
}

func pathMsg(err error) string {
	var pe *diff.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("bad path %q: %s (at character %d)", pe.Path, pe.Msg, pe.Offset+1)
	}
	return err.Error()
}

func (l *loader) boolean(n ast.Node, what string) *bool {
	b, ok := l.value(n).(*ast.BoolNode)
	if !ok {
		l.errAt(n, "%s: expected true or false", what)
		return nil
	}
	v := b.Value
	return &v
}

func (l *loader) number(n ast.Node, what string) *float64 {
	var f float64
	switch x := l.value(n).(type) {
	case *ast.IntegerNode:
		v, err := strconv.ParseFloat(x.GetToken().Value, 64)
		if err != nil {
			l.errAt(n, "%s: %q is not a number", what, x.GetToken().Value)
			return nil
		}
		f = v
	case *ast.FloatNode:
		f = x.Value
	default:
		l.errAt(n, "%s: expected a number", what)
		return nil
	}
	return &f
}

// eachMapping calls f with each item of the list n and its entries; an
// item that is not a mapping is reported as "what must be a mapping", and
// n itself, when it is not a list, with notList.
func (l *loader) eachMapping(n ast.Node, what, notList string, f func(item ast.Node, kvs []*ast.MappingValueNode)) {
	seq, ok := l.value(n).(*ast.SequenceNode)
	if !ok {
		l.errAt(n, "%s", notList)
		return
	}
	for _, item := range seq.Values {
		if kvs, ok := l.mapping(item, what); ok {
			f(item, kvs)
		}
	}
}

func (l *loader) tolerances(n ast.Node) []ToleranceRule {
	var out []ToleranceRule
	l.eachMapping(n, "a tolerance", "tolerance: expected a list of {path: …, absolute: …} or {path: …, relative: …}", func(item ast.Node, kvs []*ast.MappingValueNode) {
		var t ToleranceRule
		valid, bounded := true, false
		for _, kv := range kvs {
			switch l.key(kv, []string{"path", "absolute", "relative"}) {
			case "path":
				t.Path = l.str(kv.Value, "tolerance path")
				if _, err := diff.ParsePath(t.Path); t.Path != "" && err != nil {
					l.errAt(kv.Value, "tolerance: %s", pathMsg(err))
					valid = false
				}
			case "absolute":
				bounded = true
				if t.Absolute = l.bound(kv.Value, "absolute"); t.Absolute == nil {
					valid = false
				}
			case "relative":
				bounded = true
				if t.Relative = l.bound(kv.Value, "relative"); t.Relative == nil {
					valid = false
				}
			case "":
				valid = false
			}
		}
		switch {
		case t.Path == "":
			l.errAt(item, "tolerance without a path")
		case !bounded:
			l.errAt(item, "tolerance for %s without a bound (give absolute: or relative:)", t.Path)
		case valid:
			out = append(out, t)
		}
	})
	return out
}

// fraction reads a number between 0 and 1; nil when it is not one.
func (l *loader) fraction(n ast.Node, what string) *float64 {
	f := l.number(n, what)
	if f != nil && (*f < 0 || *f > 1) {
		l.errAt(n, "%s: %v is not a fraction between 0 and 1", what, *f)
		return nil
	}
	return f
}

func (l *loader) bound(n ast.Node, what string) *float64 {
	f := l.number(n, what)
	if f != nil && *f < 0 {
		l.errAt(n, "%s: a tolerance cannot be negative", what)
		return nil
	}
	return f
}

func (l *loader) normalizers(n ast.Node) []NormalizeRule {
	var out []NormalizeRule
	l.eachMapping(n, "a normalize rule", "normalize: expected a list of {pattern: …, replace: …}", func(item ast.Node, kvs []*ast.MappingValueNode) {
		var r NormalizeRule
		var patNode, classNode ast.Node
		replaced := false
		for _, kv := range kvs {
			switch l.key(kv, []string{"pattern", "class", "replace"}) {
			case "pattern":
				patNode = kv.Value
				r.Pattern = l.str(kv.Value, "pattern")
			case "class": // classes.go
				classNode = kv.Value
				r.Class = l.str(kv.Value, "class")
			case "replace":
				replaced = true
				if _, null := l.value(kv.Value).(*ast.NullNode); !null {
					if s, ok := l.value(kv.Value).(*ast.StringNode); ok {
						r.Replace = s.Value // may be empty: delete the match
					} else {
						r.Replace = l.str(kv.Value, "replace")
					}
				}
			}
		}
		if classNode != nil {
			if rr, ok := l.classNormalizer(item, patNode, classNode, r, replaced); ok {
				out = append(out, rr)
			}
			return
		}
		if patNode == nil {
			l.errAt(item, "normalize rule without a pattern")
			return
		}
		if r.Pattern == "" {
			return
		}
		if _, err := regexp.Compile(r.Pattern); err != nil {
			l.errAt(patNode, "normalize: bad pattern %q: %s", r.Pattern, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return
		}
		out = append(out, r)
	})
	return out
}

// nearest returns the known key closest to k (edit distance ≤ 2), or "".
func nearest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
