package rules_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tandemproxy/tandem"
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

// A rules file's XML, form and value-class settings reach the comparison
// of an exchange judged under it.
func TestSet_Judge_XMLAndForms(t *testing.T) {
	s := MustParse(t, `version: 1
endpoints:
  - match: POST /soap/orders
    ignore: ["/Envelope/Header", "//@stamp"]
    unordered: ["/Envelope/Body/order/items"]
    ignore_values: {"/Envelope/Body/order/@id": uuid}
  - match: POST /oauth/token
    ignore: ["form:access_token"]
`)
	resp := func(ct, body string) tandem.Response {
		return tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: ct}}, Body: []byte(body)}
	}
	const soap = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><t>%s</t></s:Header><s:Body><order id="%s" stamp="%s"><items>%s</items></order></s:Body></s:Envelope>`
	tests := []struct {
		name, path, ct, legacy, candidate string
		want                              tandem.Outcome
	}{
		{"SOAPNoise", "/soap/orders", "text/xml",
			fmt.Sprintf(soap, "1", "123e4567-e89b-12d3-a456-426614174000", "a", "<i>1</i><i>2</i>"),
			fmt.Sprintf(soap, "2", "223e4567-e89b-12d3-a456-426614174000", "b", "<i>2</i><i>1</i>"), tandem.Match},
		{"SOAPRegression", "/soap/orders", "text/xml",
			fmt.Sprintf(soap, "1", "123e4567-e89b-12d3-a456-426614174000", "a", "<i>1</i><i>2</i>"),
			fmt.Sprintf(soap, "1", "", "a", "<i>1</i><i>2</i>"), tandem.Mismatch},
		{"TokenNoise", "/oauth/token", "application/x-www-form-urlencoded", "access_token=a&scope=repo", "scope=repo&access_token=b", tandem.Match},
		{"TokenRegression", "/oauth/token", "application/x-www-form-urlencoded", "access_token=a&scope=repo", "access_token=b&scope=user", tandem.Mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := &tandem.Exchange{Request: tandem.Request{Method: "POST", URL: tt.path}, Legacy: resp(tt.ct, tt.legacy), Candidate: resp(tt.ct, tt.candidate)}
			s.Apply(ex)
			if ex.Outcome != tt.want {
				t.Errorf("outcome %s, want %s (%+v)", ex.Outcome, tt.want, ex.Differences)
			}
		})
	}
}
