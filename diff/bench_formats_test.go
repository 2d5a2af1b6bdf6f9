package diff_test

import (
	"os"
	"strings"
	"testing"

	"github.com/tandemproxy/tandem/diff"
)

// BenchmarkCompareXML: the SOAP fixture against itself with one price
// changed, and with its items reordered under an unordered rule.
func BenchmarkCompareXML(b *testing.B) {
	src, err := os.ReadFile("testdata/order.xml")
	if err != nil {
		b.Fatal(err)
	}
	order := string(src)
	cases := []struct {
		name string
		opts diff.Options
		b    string
	}{
		{"OneField", diff.Options{}, strings.Replace(order, "4.20", "4.30", 1)},
		{"Reindented", diff.Options{}, strings.NewReplacer("\n", "", "  ", "").Replace(order)},
		{"Unordered", diff.Options{Unordered: paths("//items")}, strings.Replace(order, `sku="BK-001"`, `sku="BK-002"`, 1)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := diff.New(tc.opts)
			legacy, candidate := xmlResp("text/xml", order), xmlResp("text/xml", tc.b)
			b.SetBytes(int64(len(order)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Compare(legacy, candidate); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompareForm: an urlencoded body of 20 fields, reordered, one
// value changed.
func BenchmarkCompareForm(b *testing.B) {
	var fa, fb []string
	for i := range 20 {
		f := "field" + string(rune('a'+i)) + "=value+" + string(rune('a'+i))
		fa = append(fa, f)
		fb = append([]string{f}, fb...)
	}
	fb[0] = "fieldt=other"
	c := diff.New(diff.Options{})
	legacy, candidate := formResp(strings.Join(fa, "&")), formResp(strings.Join(fb, "&"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Compare(legacy, candidate); err != nil {
			b.Fatal(err)
		}
	}
}
