package rules_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/tandemproxy/tandem/rules"
)

// XML and form patterns are ignored through ignore: like JSON ones; a text
// line inside a multipart part is not a path.
func TestAddIgnore_XMLAndForms(t *testing.T) {
	for _, pattern := range []string{"/Envelope/Body/order/items/item/price", "/order/@id", "form:state", "form:'a:b'", "form:meta:$.items[*].id", "form:file:header:Content-Disposition"} {
		t.Run(pattern, func(t *testing.T) {
			ed, err := rules.AddIgnore("rules.yaml", []byte("version: 1\n"), "POST /soap", pattern)
			if err != nil {
				t.Fatal(err)
			}
			s := MustParse(t, string(ed.Data))
			if ep := s.Lookup("POST /soap"); !slices.Contains(ep.Config.Ignore, pattern) {
				t.Errorf("ignore = %q, want it to hold %q\n%s", ep.Config.Ignore, pattern, ed.Data)
			}
		})
	}
	if _, err := rules.AddIgnore("rules.yaml", []byte("version: 1\n"), "POST /up", "form:note:text"); !errors.Is(err, rules.ErrNotIgnorable) {
		t.Errorf("form:note:text: err = %v, want ErrNotIgnorable", err)
	}
}
