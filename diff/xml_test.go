package diff_test

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
)

func xmlResp(ct, body string) *tandem.Response {
	return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: ct}}, Body: []byte(body)}
}

func loadOrder(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("testdata/order.xml")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// edit applies old→new replacements to s, failing when one does not apply.
func edit(tb testing.TB, s string, pairs ...string) string {
	tb.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			tb.Fatalf("fixture has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

const itemsPath = "/Envelope/Body/GetOrderResponse/order/items"

func TestComparer_Compare_XML(t *testing.T) {
	order := loadOrder(t)
	tol := func(path string, abs float64) []diff.Tolerance {
		return []diff.Tolerance{{Path: diff.MustParsePath(path), Absolute: abs}}
	}
	// Items in another order: the second and third swapped.
	swapped := edit(t, order, `<item sku="PN-017">`, `<item sku="TMP">`, `<item sku="NB-220">`, `<item sku="PN-017">`)
	swapped = edit(t, swapped, `<item sku="TMP">`, `<item sku="NB-220">`,
		"<title>Fountain pen</title>", "<title>X</title>", "<title><![CDATA[Notebook <A5>, dotted]]></title>", "<title>Fountain pen</title>", "<title>X</title>", "<title><![CDATA[Notebook <A5>, dotted]]></title>",
		"<quantity>2</quantity>", "<quantity>Q</quantity>", "<quantity>3</quantity>", "<quantity>2</quantity>", "<quantity>Q</quantity>", "<quantity>3</quantity>",
		`<price currency="EUR">12.50</price>`, `<price currency="EUR">P</price>`, `<price currency="EUR">4.20</price>`, `<price currency="EUR">12.50</price>`, `<price currency="EUR">P</price>`, `<price currency="EUR">4.20</price>`)
	tests := []struct {
		name string
		opts diff.Options
		b    string
		want []string
	}{
		{name: "Reindented", b: strings.NewReplacer("\n", "", "  ", "").Replace(order), want: []string{}},
		{name: "OtherPrefixSameNamespaceDeclared", b: strings.ReplaceAll(strings.ReplaceAll(order, "soap:", "env:"), "xmlns:soap=", "xmlns:env="), want: []string{}},
		{name: "CommentsDoNotCount", b: edit(t, order, "<items>", "<items><!-- three -->"), want: []string{}},
		{name: "CDATAIsText", b: edit(t, order, "<![CDATA[Notebook <A5>, dotted]]>", "Notebook &lt;A5&gt;, dotted"), want: []string{}},
		{name: "AttributeOrderDoesNotCount", b: edit(t, order, `<order id="123e4567-e89b-12d3-a456-426614174000" status="shipped">`, `<order status="shipped" id="123e4567-e89b-12d3-a456-426614174000">`), want: []string{}},
		{name: "Price", b: edit(t, order, "4.20", "4.30"), want: []string{"changed " + itemsPath + "/item[3]/price"}},
		{name: "Attribute", b: edit(t, order, `status="shipped"`, `status="packed"`), want: []string{"changed /Envelope/Body/GetOrderResponse/order/@status"}},
		{name: "AttributeRemoved", b: edit(t, order, ` sampled="1"`, ``), want: []string{"removed /Envelope/Header/trace/@sampled"}},
		{name: "NamespacedAttribute", b: edit(t, order, `xsi:type="Book"`, `xsi:type="Ebook"`), want: []string{"changed " + itemsPath + "/item[1]/@type"}},
		{name: "OtherNamespace", b: edit(t, order, `xmlns="urn:example:orders:v2"`, `xmlns="urn:example:orders:v3"`),
			want: []string{"added /Envelope/Body/{urn:example:orders:v3}GetOrderResponse", "removed /Envelope/Body/{urn:example:orders:v2}GetOrderResponse"}},
		{name: "ItemRemoved", b: edit(t, order, `<item sku="PN-017">
            <title>Fountain pen</title>
            <quantity>2</quantity>
            <price currency="EUR">12.50</price>
          </item>`, ""), want: []string{"removed " + itemsPath + "/item[2]"}},
		{name: "ElementAdded", b: edit(t, order, "<placed>", "<channel>web</channel><placed>"), want: []string{"added /Envelope/Body/GetOrderResponse/order/channel"}},
		{name: "SiblingOrder", b: edit(t, order, "<placed>2024-03-01T09:30:00Z</placed>", "", "<total ", "<placed>2024-03-01T09:30:00Z</placed><total "),
			want: []string{"changed /Envelope/Body/GetOrderResponse/order"}},
		{name: "SiblingOrderUnordered", opts: diff.Options{Unordered: paths("/Envelope/Body/GetOrderResponse/order")},
			b: edit(t, order, "<placed>2024-03-01T09:30:00Z</placed>", "", "<total ", "<placed>2024-03-01T09:30:00Z</placed><total "), want: []string{}},
		{name: "ItemsReordered", b: swapped, want: []string{
			"changed " + itemsPath + "/item[2]/@sku", "changed " + itemsPath + "/item[2]/price", "changed " + itemsPath + "/item[2]/quantity", "changed " + itemsPath + "/item[2]/title",
			"changed " + itemsPath + "/item[3]/@sku", "changed " + itemsPath + "/item[3]/price", "changed " + itemsPath + "/item[3]/quantity", "changed " + itemsPath + "/item[3]/title",
		}},
		{name: "ItemsReorderedUnordered", opts: diff.Options{Unordered: paths(itemsPath)}, b: swapped, want: []string{}},
		{name: "IgnoreWildcardIndex", opts: diff.Options{Ignore: paths(itemsPath + "/item[*]/price")}, b: edit(t, order, "4.20", "4.30", "24.90", "1"), want: []string{}},
		{name: "IgnoreNoIndexIsEveryIndex", opts: diff.Options{Ignore: paths(itemsPath + "/item/price")}, b: edit(t, order, "4.20", "4.30"), want: []string{}},
		{name: "IgnoreOneIndex", opts: diff.Options{Ignore: paths(itemsPath + "/item[3]/price")}, b: edit(t, order, "4.20", "4.30", "24.90", "1"),
			want: []string{"changed " + itemsPath + "/item[1]/price"}},
		{name: "IgnoreDescendantAttribute", opts: diff.Options{Ignore: paths("//@currency")}, b: strings.ReplaceAll(order, "EUR", "USD"), want: []string{}},
		{name: "IgnoreInNamespace", opts: diff.Options{Ignore: paths("/Envelope/Header/{urn:example:trace}trace")}, b: edit(t, order, `sampled="1"`, `sampled="0"`), want: []string{}},
		{name: "IgnoreInOtherNamespace", opts: diff.Options{Ignore: paths("/Envelope/Header/{urn:other}trace")}, b: edit(t, order, `sampled="1"`, `sampled="0"`),
			want: []string{"changed /Envelope/Header/trace/@sampled"}},
		{name: "IgnoreWholeDocument", opts: diff.Options{Ignore: paths("/")}, b: edit(t, order, "Ada", "Bob"), want: []string{}},
		{name: "Tolerance", opts: diff.Options{Tolerances: tol("//price", 0.05)}, b: edit(t, order, "4.20", "4.22", "24.90", "25.00"),
			want: []string{"changed " + itemsPath + "/item[1]/price"}},
		{name: "ToleranceNotText", opts: diff.Options{Tolerances: tol("//title", 1)}, b: edit(t, order, "Fountain pen", "Fountain pens"),
			want: []string{"changed " + itemsPath + "/item[2]/title"}},
		{name: "ValueClass", opts: diff.Options{IgnoreValues: []diff.ValueClass{
			{Path: diff.MustParsePath("/Envelope/Body/GetOrderResponse/order/@id"), Class: diff.ClassUUID},
			{Path: diff.MustParsePath("//trace/@id"), Class: diff.ClassHexID},
			{Path: diff.MustParsePath("//placed"), Class: diff.ClassTimestamp},
		}}, b: edit(t, order, "123e4567-e89b-12d3-a456-426614174000", "9f1c3b3e-0000-4000-8000-000000000001", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "2024-03-01T09:30:00Z", "2024-03-01T09:30:07.5+01:00"),
			want: []string{}},
		{name: "ValueClassCatchesNull", opts: diff.Options{IgnoreValues: []diff.ValueClass{{Path: diff.MustParsePath("//order/@id"), Class: diff.ClassUUID}}},
			b: edit(t, order, "123e4567-e89b-12d3-a456-426614174000", ""), want: []string{"changed /Envelope/Body/GetOrderResponse/order/@id"}},
		{name: "RootRenamed", b: "<Fault/>", want: []string{"added /Fault", "removed /Envelope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := diff.New(tt.opts).Compare(xmlResp("text/xml; charset=utf-8", order), xmlResp("text/xml; charset=utf-8", tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(got)); d != "" {
				t.Errorf("differences (-want +got):\n%s", d)
			}
			for _, d := range got {
				if want := diff.PatternOf(d.Path); d.Pattern != want {
					t.Errorf("pattern of %s = %s, want %s", d.Path, d.Pattern, want)
				}
				p, err := diff.ParsePath(d.Pattern)
				if err != nil {
					t.Errorf("pattern %s does not parse: %v", d.Pattern, err)
				} else if !p.Match(d.Path) && !strings.Contains(d.Path, "{") {
					t.Errorf("pattern %s does not match its path %s", d.Pattern, d.Path)
				}
			}
		})
	}
}

func TestComparer_Compare_XMLValues(t *testing.T) {
	a := `<r><p a="1">x</p><q/></r>`
	b := `<r><p a="2">y</p></r>`
	got, err := diff.New(diff.Options{}).Compare(xmlResp("application/xml", a), xmlResp("application/xml", b))
	if err != nil {
		t.Fatal(err)
	}
	want := []tandem.Difference{
		{Path: "/r/p", Pattern: "/r/p", Kind: tandem.Changed, Legacy: "x", Candidate: "y"},
		{Path: "/r/p/@a", Pattern: "/r/p/@a", Kind: tandem.Changed, Legacy: "1", Candidate: "2"},
		{Path: "/r/q", Pattern: "/r/q", Kind: tandem.Removed, Legacy: "<q/>"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// Repeated elements are indexed from 1, as in XPath; the pattern has no
	// index, so it is the same however many there are.
	got, _ = diff.New(diff.Options{}).Compare(xmlResp("application/xml", `<r><i>1</i><i>2</i></r>`), xmlResp("application/xml", `<r><i>1</i><i>3</i></r>`))
	if d := cmp.Diff([]tandem.Difference{{Path: "/r/i[2]", Pattern: "/r/i", Kind: tandem.Changed, Legacy: "2", Candidate: "3"}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// A reordering is one difference at the parent, listing the children.
	got, _ = diff.New(diff.Options{}).Compare(xmlResp("application/xml", `<r><a/><b/></r>`), xmlResp("application/xml", `<r><b/><a/></r>`))
	if d := cmp.Diff([]tandem.Difference{{Path: "/r", Pattern: "/r", Kind: tandem.Changed, Legacy: "<a> <b>", Candidate: "<b> <a>"}}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// Malformed XML falls back to the text comparison, as invalid JSON does;
// when both sides claim XML and only one parses, that is a type difference.
func TestComparer_Compare_XMLFallback(t *testing.T) {
	tests := []struct {
		name   string
		ca, cb string
		a, b   string
		want   []string
	}{
		{name: "BothMalformed", ca: "application/xml", cb: "application/xml", a: "<a><b></a>\n", b: "<a><c></a>\n", want: []string{"changed text:1"}},
		{name: "OneMalformed", ca: "application/xml", cb: "application/xml", a: "<a/>", b: "<a>", want: []string{"type /"}},
		{name: "TwoRoots", ca: "application/xml", cb: "application/xml", a: "<a/>", b: "<a/><a/>", want: []string{"type /"}},
		{name: "HTMLErrorPage", ca: "application/xml", cb: "text/html", a: "<a/>", b: "<html><body>oops", want: []string{"changed header:Content-Type", "changed text:1"}},
		{name: "SniffedFromOneSide", ca: "text/xml", cb: "text/plain", a: "<a><b>1</b></a>", b: "<a>\n  <b>1</b>\n</a>", want: []string{"changed header:Content-Type"}},
		{name: "NotXMLWithoutAClaim", ca: "text/html", cb: "text/html", a: "<p>1</p>", b: "<p>2</p>", want: []string{"changed text:1"}},
		{name: "PlusXML", ca: "application/atom+xml", cb: "application/atom+xml", a: `<feed xmlns="http://www.w3.org/2005/Atom"><title>a</title></feed>`, b: `<a:feed xmlns:a="http://www.w3.org/2005/Atom"><a:title>b</a:title></a:feed>`, want: []string{"changed /feed/title"}},
		{name: "Latin1", ca: "application/xml", cb: "application/xml", a: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><n>caf\xe9</n>", b: "<n>café</n>", want: []string{}},
		{name: "OtherEncodingIsText", ca: "application/xml", cb: "application/xml", a: "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><n>a</n>", b: "<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><n>b</n>", want: []string{"changed text:1"}},
		{name: "EntityBomb", ca: "application/xml", cb: "application/xml", a: `<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>`, b: `<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;&a;</x>`, want: []string{"changed text:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := diff.New(diff.Options{}).Compare(xmlResp(tt.ca, tt.a), xmlResp(tt.cb, tt.b))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestParsePath_XMLAndForms(t *testing.T) {
	tests := []struct {
		in, concrete string
		want         bool
	}{
		{"/order/items/item[*]/price", "/order/items/item[3]/price", true},
		{"/order/items/item/price", "/order/items/item[3]/price", true},
		{"/order/items/item[3]/price", "/order/items/item[3]/price", true},
		{"/order/items/item[2]/price", "/order/items/item[3]/price", false},
		{"/order/items/item[1]/price", "/order/items/item/price", true},
		{"/order/@id", "/order/@id", true},
		{"/order/@*", "/order/@id", true},
		{"/order/*", "/order/@id", false},
		{"//price", "/order/items/item[3]/price", true},
		{"//@id", "/order/items/item[3]/@id", true},
		{"/order", "/order/items", false},
		{"$.order", "/order", false},
		{"$..order", "/order", false},
		{"form:name", "form:name", true},
		{"form:*", "form:name", true},
		{"form:name", "form:other", false},
		{"form:'a:b'", "form:'a:b'", true},
		{"form:user[name]", "form:user[name]", true},
		{"form:meta:$.items[*].id", "form:meta:$.items[2].id", true},
		{"form:meta:$..id", "form:meta:$.items[2].id", true},
		{"form:doc:/order/@id", "form:doc:/order/@id", true},
		{"form:f:header:content-type", "form:f:header:Content-Type", true},
	}
	for _, tt := range tests {
		t.Run(tt.in+" "+tt.concrete, func(t *testing.T) {
			p, err := diff.ParsePath(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.in {
				t.Errorf("String() = %q", p.String())
			}
			if got := p.Match(tt.concrete); got != tt.want {
				t.Errorf("%s.Match(%s) = %v, want %v", tt.in, tt.concrete, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"/", "//", "/a/", "/a[0]", "/a[x]", "/@a/b", "/@a[1]", "/p:a", "/{urn:x", "form:", "form:a:b", "form:a:header:", "form:a:header: Content-Type", "form:a:header:Content-Type ", "form:a:header:a:b"} {
		if bad == "/" {
			continue // the whole document: valid
		}
		if _, err := diff.ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) succeeded", bad)
		}
	}
	for concrete, pattern := range map[string]string{
		"/order/items/item[3]/price":   "/order/items/item/price",
		"/{urn:a[1]}x[2]/@y":           "/{urn:a[1]}x/@y",
		"form:meta:$.items[2].id":      "form:meta:$.items[*].id",
		"form:'a:b'":                   "form:'a:b'",
		"form:notes:text:3":            "form:notes:text",
		"form:f:header:Content-Type":   "form:f:header:Content-Type",
		"form:doc:/order/item[2]/@sku": "form:doc:/order/item/@sku",
	} {
		if got := diff.PatternOf(concrete); got != pattern {
			t.Errorf("PatternOf(%s) = %s, want %s", concrete, got, pattern)
		}
	}
}

// TestComparer_Compare_XMLHostile pins the outcome of bodies built to be
// expensive: nesting under unordered rules stays polynomial, nesting past
// MaxDepth is compared as text.
func TestComparer_Compare_XMLHostile(t *testing.T) {
	nest := func(n int, leaf string) string {
		return strings.Repeat("<a>", n) + leaf + strings.Repeat("</a>", n)
	}
	c := diff.New(diff.Options{Unordered: paths("//*")})
	got, err := c.Compare(xmlResp("application/xml", nest(500, "1")), xmlResp("application/xml", nest(500, "2")))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Kind != tandem.Changed || !strings.HasSuffix(got[0].Path, "/a/a") {
		t.Errorf("deep unordered: %v", summary(got))
	}
	// Lists of other lengths at every level, the change at the bottom.
	grow := func(n int, leaf, extra string) string {
		return strings.Repeat("<a>", n) + leaf + strings.Repeat(extra+"</a>", n)
	}
	got, err = diff.New(diff.Options{}).Compare(xmlResp("application/xml", grow(40, "1", "")), xmlResp("application/xml", grow(40, "2", "<a/>")))
	if err != nil || len(got) == 0 {
		t.Errorf("deep lists of other lengths: %v, %v", summary(got), err)
	}
	got, err = c.Compare(xmlResp("application/xml", nest(diff.MaxDepth+1, "1")), xmlResp("application/xml", nest(diff.MaxDepth+1, "2")))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"changed text:1"}, summary(got)); d != "" {
		t.Errorf("too deep (-want +got):\n%s", d)
	}
}
