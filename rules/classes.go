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
		if _, err := diff.ParseClass(name); err != nil {
			known := make([]string, len(diff.Classes))
			for i, c := range diff.Classes {
				known[i] = string(c)
			}
			msg := "ignore_values: " + path + ": unknown value class " + quote(name)
			if s := nearest(name, known); s != "" {
				msg += " (did you mean " + quote(s) + "?)"
			}
			msg += "; the classes are " + strings.Join(known, ", ") + " (for a pattern of your own, write a normalize: rule)"
			l.errAt(kv.Value, "%s", msg)
			continue
		}
		out = append(out, ValueRule{Path: path, Class: name})
	}
	return out
}

func quote(s string) string { return `"` + s + `"` }
