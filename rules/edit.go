package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// ErrNotIgnorable is returned by AddIgnore for patterns that no ignore
// setting can name: text bodies ("text") and opaque ones ("body") differ as
// a whole; a normalize rule is the tool for those.
var ErrNotIgnorable = errors.New("a text or binary body cannot be ignored by pattern; write a normalize: rule")

// Edit is the result of AddIgnore.
type Edit struct {
	Data []byte // the new file
	Set  *Set   // the rules it holds
	// Changed is false when the rules already ignored the pattern for the
	// endpoint (Data is then the file as it was).
	Changed bool
	// NewRule is set when no rule had the endpoint's name and one was
	// appended: requests that no rule matched before may now match it, so
	// every stored exchange, not only the endpoint's, should be re-judged.
	NewRule bool
	Line    int // the line of the edited or added setting
}

// AddIgnore returns the rules file src (named name, for messages) changed
// so that the endpoint rule named endpoint ignores the difference pattern:
// a JSON pattern ("$.items[*].price") is added to the rule's ignore: list,
// "header:Name" to its ignore_headers: list, and "status" sets its
// ignore_status: to true. A rule is appended to endpoints: when none has
// that name, and endpoints: is added when the file has none.
//
// The file is edited as text, at the positions its YAML syntax tree gives,
// so that every comment, blank line, quoting style and the order of keys
// stay as they were; flow ([a, b], {k: v}) and block (- a) lists are both
// extended in their own style. src must be a valid rules file (an empty one
// counts as "version: 1"), and the result is checked with Parse.
func AddIgnore(name string, src []byte, endpoint, pattern string) (*Edit, error) {
	key, item, err := ignoreSetting(pattern)
	if err != nil {
		return nil, err
	}
	endpoint = strings.Join(strings.Fields(endpoint), " ")
	if _, msg := parseRoute(endpoint); msg != "" {
		return nil, fmt.Errorf("cannot add a rule: %s", msg)
	}
	if len(bytes.TrimSpace(src)) == 0 {
		src = fmt.Appendf(nil, "version: %d\n", Version)
	}
	before, err := Parse(name, src)
	if err != nil {
		return nil, fmt.Errorf("%s has errors; fix them first:\n%w", name, err)
	}
	f, err := parser.ParseBytes(src, parser.ParseComments)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	e := &editor{src: src, lines: splitLines(src)}
	edit, err := e.addIgnore(f, endpoint, key, item)
	if err != nil {
		return nil, fmt.Errorf("edit %s: %w", name, err)
	}
	if !edit.Changed {
		edit.Data = src
	}
	if edit.NewRule {
		// Said before the edited file is loaded, which would refuse the
		// new rule too, but without saying what to do instead.
		if by := shadowing(before, endpoint); by != nil {
			return nil, fmt.Errorf("edit %s: the rule at line %d (%s) matches %s first, so a new rule after it would never apply; add the ignore there, or move a rule for %s above it",
				name, by.Line, by.Name, endpoint, endpoint)
		}
	}
	s, err := Parse(name, edit.Data)
	if err != nil {
		return nil, fmt.Errorf("edit %s: the edited rules do not load:\n%w", name, err)
	}
	edit.Set = s
	return edit, nil
}

// shadowing returns the rule of s that takes every request of a rule
// named endpoint appended after them (first match wins), if any.
func shadowing(s *Set, endpoint string) *Endpoint {
	t, msg := parseRoute(endpoint)
	if msg != "" {
		return nil
	}
	for _, e := range s.endpoints {
		if e.route.shadows(&t) {
			return e
		}
	}
	return nil
}

// AddIgnoreFile applies AddIgnore to the file at path (created, holding
// version: 1, when it does not exist) and replaces it atomically, keeping
// its permissions: a proxy watching the file sees the old or the new rules,
// never half of them.
func AddIgnoreFile(path, endpoint, pattern string) (*Edit, error) {
	src, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	edit, err := AddIgnore(path, src, endpoint, pattern)
	if err != nil {
		return nil, err
	}
	if edit.Changed || len(src) == 0 {
		if err := WriteFile(path, edit.Data); err != nil {
			return nil, err
		}
	}
	return edit, nil
}

// WriteFile replaces the rules file at path with data through a rename,
// keeping the file's mode (0644 for a new file).
func WriteFile(path string, data []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write rules: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write rules: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	return nil
}

// ignoreSetting maps a difference pattern to the setting that ignores it:
// the key, and the list item to add (or, for ignore_status, the value).
func ignoreSetting(pattern string) (key, item string, err error) {
	switch {
	case isPathPattern(pattern): // JSON, XML and form patterns (paths.go)
		return "ignore", yamlString(pattern), nil
	case strings.HasPrefix(pattern, "header:"):
		h := strings.TrimPrefix(pattern, "header:")
		if !tokenRE.MatchString(h) {
			return "", "", fmt.Errorf("%q is not a header name", h)
		}
		return "ignore_headers", h, nil
	case pattern == "status":
		return "ignore_status", "true", nil
	case pattern == "text" || pattern == "body" || strings.HasPrefix(pattern, "form:") && strings.HasSuffix(pattern, ":text"):
		return "", "", ErrNotIgnorable
	}
	return "", "", fmt.Errorf("%q is not a difference pattern", pattern)
}

// plainRE matches match strings that can be written without quotes in
// block context.
var plainRE = regexp.MustCompile(`^[A-Z]+ /[A-Za-z0-9/{}._~-]*$`)

func matchScalar(endpoint string, flow bool) string {
	if !flow && plainRE.MatchString(endpoint) {
		return endpoint
	}
	return yamlString(endpoint)
}

type editor struct {
	src   []byte
	lines []int // byte offset of the start of each line; lines[len] is len(src)
}

func splitLines(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' && i+1 < len(src) {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// offset returns the byte offset of a 1-based line and column (columns
// count runes, as the YAML scanner does).
func (e *editor) offset(line, col int) int {
	if line > len(e.lines) {
		return len(e.src)
	}
	off := e.lines[line-1]
	for c := 1; c < col && off < len(e.src) && e.src[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(e.src[off:])
		off += size
	}
	return off
}

func (e *editor) pos(n ast.Node) int {
	p := n.GetToken().Position
	return e.offset(p.Line, p.Column)
}

// lineEnd returns the offset just past the newline of the line holding off
// (or the end of the file).
func (e *editor) lineEnd(off int) int {
	if i := bytes.IndexByte(e.src[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(e.src)
}

// insert returns the file with text inserted at off, and the line where
// the text starts.
func (e *editor) insert(off int, text string) ([]byte, int) {
	out := make([]byte, 0, len(e.src)+len(text)+1)
	out = append(out, e.src[:off]...)
	out = append(out, text...)
	return append(out, e.src[off:]...), 1 + bytes.Count(e.src[:off], []byte("\n"))
}

// insertLines inserts whole lines at off, which is the start of a line or
// the end of a file that may lack its final newline.
func (e *editor) insertLines(off int, text string) ([]byte, int) {
	if off == len(e.src) && off > 0 && e.src[off-1] != '\n' {
		data, line := e.insert(off, "\n"+text)
		return data, line + 1
	}
	return e.insert(off, text)
}

func edited(data []byte, line int) (*Edit, error) {
	return &Edit{Data: data, Changed: true, Line: line}, nil
}

func added(data []byte, line int) (*Edit, error) {
	return &Edit{Data: data, Changed: true, NewRule: true, Line: line}, nil
}

// replace returns the file with src[from:to] replaced by text.
func (e *editor) replace(from, to int, text string) []byte {
	out := make([]byte, 0, len(e.src)+len(text))
	out = append(out, e.src[:from]...)
	out = append(out, text...)
	return append(out, e.src[to:]...)
}

// mappingOf returns the entries of a mapping node (goccy represents a
// one-key block mapping as a bare MappingValueNode), its node when it is a
// flow mapping, and whether it is one.
func mappingOf(n ast.Node) ([]*ast.MappingValueNode, *ast.MappingNode, bool) {
	switch x := unwrap(n).(type) {
	case *ast.MappingNode:
		return x.Values, x, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{x}, nil, true
	}
	return nil, nil, false
}

func unwrap(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.TagNode:
			n = x.Value
		case *ast.AnchorNode:
			n = x.Value
		default:
			return n
		}
	}
}

func keyName(kv *ast.MappingValueNode) string { return kv.Key.GetToken().Value }

func find(kvs []*ast.MappingValueNode, key string) (int, *ast.MappingValueNode) {
	for i, kv := range kvs {
		if keyName(kv) == key {
			return i, kv
		}
	}
	return -1, nil
}

func (e *editor) addIgnore(f *ast.File, endpoint, key, item string) (*Edit, error) {
	var body ast.Node
	for _, d := range f.Docs {
		if d.Body != nil {
			body = d.Body
			break
		}
	}
	top, topNode, ok := mappingOf(body)
	if !ok || (topNode != nil && topNode.IsFlowStyle) {
		return nil, errors.New("the top level is not a block mapping (key: value lines)")
	}
	ei, eps := find(top, "endpoints")
	if eps == nil {
		// endpoints: goes at the end of the file.
		data, line := e.insertLines(len(e.src), "endpoints:\n"+newEntry("  ", endpoint, key, item))
		return added(data, line+1)
	}
	// The end of the endpoints: value is where the next top-level key
	// starts (its head comments and the blank lines before it excluded).
	bound := len(e.src)
	if ei+1 < len(top) {
		bound = e.lines[top[ei+1].Key.GetToken().Position.Line-1]
	}
	switch v := unwrap(eps.Value).(type) {
	case *ast.NullNode:
		keyCol := eps.Key.GetToken().Position.Column
		return added(e.insertLines(e.lineEnd(e.pos(eps.Key)), newEntry(strings.Repeat(" ", keyCol+1), endpoint, key, item)))
	case *ast.SequenceNode:
		for i, it := range v.Values {
			kvs, mnode, ok := mappingOf(it)
			if !ok {
				continue
			}
			_, m := find(kvs, "match")
			if m == nil || strings.Join(strings.Fields(scalarValue(m.Value)), " ") != endpoint {
				continue
			}
			end := bound
			if i+1 < len(v.Values) {
				end = e.lines[seqItemLine(v, i+1)-1]
			}
			return e.addToRule(kvs, mnode, end, key, item)
		}
		return e.appendRule(v, bound, endpoint, key, item)
	}
	return nil, errors.New("endpoints: is not a list")
}

// seqItemLine returns the line of a block sequence's item i (its "-").
func seqItemLine(seq *ast.SequenceNode, i int) int {
	if i < len(seq.Entries) && seq.Entries[i].Start != nil {
		return seq.Entries[i].Start.Position.Line
	}
	return seq.Values[i].GetToken().Position.Line
}

func newEntry(indent, endpoint, key, item string) string {
	return fmt.Sprintf("%s- match: %s\n%s  %s\n", indent, matchScalar(endpoint, false), indent, setting(key, item))
}

func setting(key, item string) string {
	if key == "ignore_status" {
		return key + ": " + item
	}
	return key + ": [" + item + "]"
}

func scalarValue(n ast.Node) string {
	switch x := unwrap(n).(type) {
	case *ast.StringNode:
		return x.Value
	case *ast.LiteralNode:
		return x.Value.Value
	case nil:
		return ""
	default:
		return x.GetToken().Value
	}
}

// appendRule adds a new endpoint rule at the end of the endpoints: list.
func (e *editor) appendRule(seq *ast.SequenceNode, bound int, endpoint, key, item string) (*Edit, error) {
	if seq.IsFlowStyle {
		return added(e.appendFlow(seq, fmt.Sprintf("{match: %s, %s}", matchScalar(endpoint, true), setting(key, item))))
	}
	indent := strings.Repeat(" ", seq.Start.Position.Column-1)
	return added(e.insertLines(e.blockEnd(bound), newEntry(indent, endpoint, key, item)))
}

// blockEnd returns where lines can be added at the end of a block whose
// next sibling starts at bound: after its last line of content, before
// the blank lines and comments that lead to the sibling.
func (e *editor) blockEnd(bound int) int {
	line := e.lineOf(bound) // 0-based index of the line holding bound
	if bound == len(e.src) {
		line = len(e.lines)
	}
	for line > 0 {
		start := e.lines[line-1]
		end := len(e.src)
		if line < len(e.lines) {
			end = e.lines[line]
		}
		t := bytes.TrimSpace(e.src[start:end])
		if len(t) != 0 && t[0] != '#' {
			break
		}
		line--
	}
	if line == len(e.lines) {
		return len(e.src)
	}
	return e.lines[line]
}

// lineOf returns the 0-based index of the line holding off.
func (e *editor) lineOf(off int) int {
	i := 0
	for i+1 < len(e.lines) && e.lines[i+1] <= off {
		i++
	}
	return i
}

// addToRule adds the setting to an existing endpoint rule whose block ends
// before bound.
func (e *editor) addToRule(kvs []*ast.MappingValueNode, m *ast.MappingNode, bound int, key, item string) (*Edit, error) {
	_, kv := find(kvs, key)
	if kv == nil {
		if m != nil && m.IsFlowStyle {
			return edited(e.insert(e.nodeEnd(kvs[len(kvs)-1].Value, true), ", "+setting(key, item)))
		}
		indent := strings.Repeat(" ", kvs[0].Key.GetToken().Position.Column-1)
		return edited(e.insertLines(e.blockEnd(bound), indent+setting(key, item)+"\n"))
	}
	line := kv.Key.GetToken().Position.Line
	if key == "ignore_status" {
		if b, ok := unwrap(kv.Value).(*ast.BoolNode); ok && b.Value {
			return &Edit{Line: line}, nil
		}
		return edited(e.replaceValue(kv, "true"), line)
	}
	switch v := unwrap(kv.Value).(type) {
	case *ast.NullNode:
		return edited(e.replaceValue(kv, "["+item+"]"), line)
	case *ast.SequenceNode:
		for _, it := range v.Values {
			if sameItem(key, scalarValue(it), item) {
				return &Edit{Line: it.GetToken().Position.Line}, nil
			}
		}
		if v.IsFlowStyle {
			return edited(e.appendFlow(v, item))
		}
		last := v.Values[len(v.Values)-1]
		indent := strings.Repeat(" ", v.Start.Position.Column-1)
		return edited(e.insertLines(e.lineEnd(e.nodeEnd(last, false)), indent+"- "+item+"\n"))
	}
	return nil, fmt.Errorf("%s: is not a list", key)
}

func sameItem(key, have, item string) bool {
	if key == "ignore_headers" {
		return strings.EqualFold(have, item)
	}
	return yamlString(have) == item
}

// replaceValue replaces the scalar value of kv (possibly empty, as in
// "ignore:") with text, keeping a comment that follows on the line.
func (e *editor) replaceValue(kv *ast.MappingValueNode, text string) []byte {
	colon := kv.Start.Position
	from := e.offset(colon.Line, colon.Column) + 1
	to := from
	if _, null := unwrap(kv.Value).(*ast.NullNode); !null {
		to = e.nodeEnd(kv.Value, kv.IsFlowStyle)
	} else {
		// An explicit null (~, null) is replaced; an empty value is not
		// there to replace.
		rest := e.src[from:e.lineEnd(from)]
		trimmed := bytes.TrimLeft(rest, " \t")
		for _, w := range []string{"~", "null", "Null", "NULL"} {
			if bytes.HasPrefix(trimmed, []byte(w)) {
				to = from + (len(rest) - len(trimmed)) + len(w)
			}
		}
	}
	return e.replace(from, to, " "+text)
}

// appendFlow adds text as the last item of a flow sequence, after the
// current last item (so that a trailing comma or comment stays where it
// is). It returns the new file and the line of the insertion.
func (e *editor) appendFlow(seq *ast.SequenceNode, text string) ([]byte, int) {
	if len(seq.Values) == 0 {
		return e.insert(e.offset(seq.Start.Position.Line, seq.Start.Position.Column)+1, text)
	}
	return e.insert(e.nodeEnd(seq.Values[len(seq.Values)-1], true), ", "+text)
}

// nodeEnd returns the offset just past a scalar or flow collection in the
// source; flow says whether n is inside a flow collection.
func (e *editor) nodeEnd(n ast.Node, flow bool) int {
	n = unwrap(n)
	switch x := n.(type) {
	case *ast.SequenceNode:
		if x.IsFlowStyle && x.End != nil {
			return e.offset(x.End.Position.Line, x.End.Position.Column) + 1
		}
		if len(x.Values) > 0 {
			return e.nodeEnd(x.Values[len(x.Values)-1], flow)
		}
	case *ast.MappingNode:
		if x.IsFlowStyle && x.End != nil {
			return e.offset(x.End.Position.Line, x.End.Position.Column) + 1
		}
		if len(x.Values) > 0 {
			return e.nodeEnd(x.Values[len(x.Values)-1].Value, flow)
		}
	case *ast.MappingValueNode:
		return e.nodeEnd(x.Value, flow)
	}
	return scalarEnd(e.src, e.pos(n), flow)
}

// scalarEnd returns the offset just past the scalar starting at off:
// a quoted string up to its closing quote, a plain one up to a comment,
// the end of the line or (in flow context) a flow indicator, trailing
// blanks excluded.
func scalarEnd(src []byte, off int, flow bool) int {
	if off >= len(src) {
		return len(src)
	}
	switch q := src[off]; q {
	case '"', '\'':
		for i := off + 1; i < len(src); i++ {
			switch {
			case q == '"' && src[i] == '\\':
				i++
			case q == '\'' && src[i] == '\'' && i+1 < len(src) && src[i+1] == '\'':
				i++
			case src[i] == q:
				return i + 1
			}
		}
		return len(src)
	}
	end := off
	for i := off; i < len(src); i++ {
		c := src[i]
		if c == '\n' || (flow && (c == ',' || c == ']' || c == '}')) || (c == '#' && i > off && (src[i-1] == ' ' || src[i-1] == '\t')) {
			break
		}
		if c != ' ' && c != '\t' && c != '\r' {
			end = i + 1
		}
	}
	return end
}
