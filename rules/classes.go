package rules

import (
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/tandemproxy/tandem/diff"
)

// valueRules reads ignore_values: a mapping from a path to the name of a
// value class ({"$..id": uuid, "$.token": jwt}).
func (l *loader) valueRules(n ast.Node) []ValueRule {
	kvs, ok := l.mapping(n, `ignore_values (a mapping from a path to a value class, such as {"$..id": uuid})`)
	if !ok {
		return nil
	}
	var out []ValueRule
	for _, kv := range kvs {
		path := l.str(kv.Key, "ignore_values path")
		if path == "" {
			continue
		}
		if _, err := diff.ParsePath(path); err != nil {
			l.errAt(kv.Key, "ignore_values: %s", pathMsg(err))
			continue
		}
		name := l.str(kv.Value, "ignore_values class")
		if name == "" {
			continue
		}
		if !l.class(kv.Value, "ignore_values: "+path, name) {
			continue
		}
		out = append(out, ValueRule{Path: path, Class: name})
	}
	return out
}

func quote(s string) string { return `"` + s + `"` }

// class checks a value class name, reporting an unknown one with the
// nearest class and the list.
func (l *loader) class(n ast.Node, what, name string) bool {
	if _, err := diff.ParseClass(name); err == nil {
		return true
	}
	known := make([]string, len(diff.Classes))
	for i, c := range diff.Classes {
		known[i] = string(c)
	}
	msg := what + ": unknown value class " + quote(name)
	if s := nearest(name, known); s != "" {
		msg += " (did you mean " + quote(s) + "?)"
	}
	msg += "; the classes are " + strings.Join(known, ", ") + " (for a pattern of your own, write a normalize: rule with a pattern)"
	l.errAt(n, "%s", msg)
	return false
}

// classNormalizer finishes a normalize rule that names a class.
func (l *loader) classNormalizer(item, patNode, classNode ast.Node, r NormalizeRule, replaced bool) (NormalizeRule, bool) {
	if patNode != nil {
		l.errAt(patNode, "normalize: give a pattern or a class, not both")
		return r, false
	}
	if r.Class == "" || !l.class(classNode, "normalize", r.Class) {
		return r, false
	}
	if !replaced {
		r.Replace = "<" + r.Class + ">"
	}
	return r, true
}
