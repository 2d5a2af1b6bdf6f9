package diff_test

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
)

// checkDiffs: a comparison never fails, and every difference's pattern is
// its path's pattern and parses as a rule path (text, body and status
// aside).
func checkDiffs(t *testing.T, c *diff.Comparer, a, b *tandem.Response) []tandem.Difference {
	t.Helper()
	ds, err := c.Compare(a, b)
	if err != nil {
		t.Fatalf("Compare(%q, %q): %v", a.Body, b.Body, err)
	}
	for _, d := range ds {
		if p := diff.PatternOf(d.Path); p != d.Pattern {
			t.Fatalf("pattern of %q = %q, want %q", d.Path, d.Pattern, p)
		}
		if strings.HasPrefix(d.Pattern, "/") || strings.HasPrefix(d.Pattern, "form:") && !strings.Contains(d.Pattern, ":text") {
			if _, err := diff.ParsePath(d.Pattern); err != nil {
				t.Fatalf("pattern %q does not parse: %v", d.Pattern, err)
			}
		}
	}
	return ds
}

// FuzzXML: XML bodies never fail a comparison; a document compared with
// itself followed by a newline (still the same document) has no
// differences, or only text ones when it is not XML.
func FuzzXML(f *testing.F) {
	order, err := os.ReadFile("testdata/order.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(order, order)
	f.Add([]byte(`<a x="1"><b>t</b><b/></a>`), []byte(`<a x="2"><b/><c/></a>`))
	f.Add([]byte(`<p:a xmlns:p="urn:x"><p:b p:c="1"/></p:a>`), []byte(`<a xmlns="urn:x"><b xmlns:q="urn:x" q:c="1"/></a>`))
	f.Add([]byte(`<a><![CDATA[x]]></a>`), []byte(`<a>x<!-- c --></a>`))
	f.Add([]byte(`<a>`), []byte(`<a/><b/>`))
	opts := []diff.Options{{}, {Unordered: paths("//*")}, {Ignore: paths("//@*")}}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, o := range opts {
			c := diff.New(o)
			checkDiffs(t, c, xmlResp("application/xml", string(a)), xmlResp("application/xml", string(b)))
			self := checkDiffs(t, c, xmlResp("application/xml", string(a)), xmlResp("application/xml", string(a)+"\n"))
			for _, d := range self {
				if d.Pattern != "text" && d.Pattern != "body" && d.Pattern != "/" {
					t.Fatalf("%q differs from itself at %s", a, d.Path)
				}
			}
		}
	})
}

// FuzzForm: form bodies never fail a comparison, and an urlencoded body is
// equal to itself with its fields in reverse order.
func FuzzForm(f *testing.F) {
	f.Add("a=1&b=2&b=3", "b=3&a=1&b=2")
	f.Add("user%5Bname%5D=x&q=a+b", "q=a%20b")
	f.Add("a=%zz", "a=;")
	mp := "--x\r\nContent-Disposition: form-data; name=\"m\"\r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--x--\r\n"
	f.Add(mp, strings.Replace(mp, "1", "2", 1))
	f.Fuzz(func(t *testing.T, a, b string) {
		c := diff.New(diff.Options{})
		checkDiffs(t, c, formResp(a), formResp(b))
		multi := func(s string) *tandem.Response {
			return xmlResp("multipart/form-data; boundary=x", s)
		}
		checkDiffs(t, c, multi(a), multi(b))
		if _, err := url.ParseQuery(a); err == nil {
			fields := strings.Split(a, "&")
			slices.Reverse(fields)
			if ds := checkDiffs(t, c, formResp(a), formResp(strings.Join(fields, "&"))); len(ds) != 0 {
				t.Fatalf("%q reordered differs: %v", a, summary(ds))
			}
		}
	})
}
