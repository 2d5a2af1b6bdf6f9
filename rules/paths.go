package rules

import "github.com/tandemproxy/tandem/diff"

// isPathPattern reports whether a difference pattern is a path an ignore:
// rule can name: JSON ($…), XML (/…) and form (form:…) patterns, but not
// text and body patterns, nor a text line inside a multipart part.
func isPathPattern(p string) bool {
	_, err := diff.ParsePath(p)
	return err == nil
}
