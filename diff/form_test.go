package diff_test

import (
	"bytes"
	"mime/multipart"
	"net/textproto"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
)

func formResp(body string) *tandem.Response {
	return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}}, Body: []byte(body)}
}

func TestComparer_Compare_Form(t *testing.T) {
	tests := []struct {
		name string
		opts diff.Options
		a, b string
		want []string
	}{
		{name: "FieldOrder", a: "a=1&b=2&c=3", b: "c=3&a=1&b=2", want: []string{}},
		{name: "Escapes", a: "q=a+b&r=%C3%A9", b: "r=é&q=a%20b", want: []string{}},
		{name: "RepeatedKeysInAnyOrder", a: "tag=x&tag=y&tag=y", b: "tag=y&tag=x&tag=y", want: []string{}},
		{name: "RepeatedKeysCount", a: "tag=x&tag=y&tag=y", b: "tag=x&tag=y", want: []string{"removed form:tag"}},
		{name: "ValueChanged", a: "a=1&b=2", b: "a=1&b=3", want: []string{"changed form:b"}},
		{name: "FieldAdded", a: "a=1", b: "a=1&scope=repo", want: []string{"added form:scope"}},
		{name: "OddName", a: "user[name]=a&x%3Ay=1", b: "user[name]=b&x%3Ay=2", want: []string{"changed form:'x:y'", "changed form:user[name]"}},
		{name: "Ignore", opts: diff.Options{Ignore: paths("form:state")}, a: "code=1&state=abc", b: "code=1&state=xyz", want: []string{}},
		{name: "IgnoreAll", opts: diff.Options{Ignore: paths("form:*")}, a: "code=1", b: "code=2&x=1", want: []string{}},
		{name: "Tolerance", opts: diff.Options{Tolerances: []diff.Tolerance{{Path: diff.MustParsePath("form:amount"), Absolute: 0.01}}}, a: "amount=10.00", b: "amount=10.005", want: []string{}},
		{name: "ValueClass", opts: diff.Options{IgnoreValues: []diff.ValueClass{{Path: diff.MustParsePath("form:request_id"), Class: diff.ClassUUID}}},
			a: "request_id=123e4567-e89b-12d3-a456-426614174000&tag=a", b: "request_id=00000000-0000-4000-8000-000000000000&tag=a", want: []string{}},
		{name: "ValueClassCatchesEmpty", opts: diff.Options{IgnoreValues: []diff.ValueClass{{Path: diff.MustParsePath("form:request_id"), Class: diff.ClassUUID}}},
			a: "request_id=123e4567-e89b-12d3-a456-426614174000", b: "request_id=", want: []string{"changed form:request_id"}},
		// GitHub's OAuth access_token endpoint answers in this format by default.
		{name: "OAuthToken", opts: diff.Options{Ignore: paths("form:access_token")},
			a: "access_token=gho_16C7e42F292c6912E7710c838347Ae178B4a&scope=repo%2Cgist&token_type=bearer",
			b: "token_type=bearer&scope=repo%2Cgist&access_token=gho_xxxxe42F292c6912E7710c838347Ae178B4a", want: []string{}},
		{name: "BadEscapeIsText", a: "a=%zz", b: "a=%zy", want: []string{"changed text:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := diff.New(tt.opts).Compare(formResp(tt.a), formResp(tt.b))
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
				if p, err := diff.ParsePath(d.Pattern); d.Pattern != "text" && (err != nil || !p.Match(d.Path)) {
					t.Errorf("pattern %s does not select its path %s (%v)", d.Pattern, d.Path, err)
				}
			}
		})
	}
}

type testPart struct {
	name, filename, ct, body string
}

// multipartResp writes parts with a boundary of its own, as every sender
// does.
func multipartResp(tb testing.TB, boundary string, parts ...testPart) *tandem.Response {
	tb.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if err := w.SetBoundary(boundary); err != nil {
		tb.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := `form-data; name="` + p.name + `"`
		if p.filename != "" {
			cd += `; filename="` + p.filename + `"`
		}
		h.Set("Content-Disposition", cd)
		if p.ct != "" {
			h.Set("Content-Type", p.ct)
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			tb.Fatal(err)
		}
		pw.Write([]byte(p.body))
	}
	w.Close()
	return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: w.FormDataContentType()}}, Body: b.Bytes()}
}

func TestComparer_Compare_Multipart(t *testing.T) {
	meta := testPart{name: "meta", ct: "application/json", body: `{"id":1,"items":[{"sku":"a"},{"sku":"b"}]}`}
	doc := testPart{name: "doc", ct: "application/xml", body: `<order id="7"><item>1</item></order>`}
	note := testPart{name: "note", body: "line one\nline two\n"}
	file := testPart{name: "file", filename: "a.bin", ct: "application/octet-stream", body: "\x00\x01\x02"}
	with := func(p testPart, f func(*testPart)) testPart { f(&p); return p }
	base := []testPart{meta, doc, note, file}
	tests := []struct {
		name  string
		opts  diff.Options
		parts []testPart
		want  []string
	}{
		{name: "SamePartsOtherBoundary", parts: base, want: []string{}},
		{name: "PartOrderDoesNotCount", parts: []testPart{file, note, doc, meta}, want: []string{}},
		{name: "JSONInside", parts: []testPart{with(meta, func(p *testPart) { p.body = `{"id":1,"items":[{"sku":"a"},{"sku":"c"}]}` }), doc, note, file},
			want: []string{"changed form:meta:$.items[1].sku"}},
		{name: "XMLInside", parts: []testPart{meta, with(doc, func(p *testPart) { p.body = `<order id="8"><item>1</item></order>` }), note, file},
			want: []string{"changed form:doc:/order/@id"}},
		{name: "TextInside", parts: []testPart{meta, doc, with(note, func(p *testPart) { p.body = "line one\nline 2\n" }), file},
			want: []string{"changed form:note:text:2"}},
		{name: "BinaryInside", parts: []testPart{meta, doc, note, with(file, func(p *testPart) { p.body = "\x00\x01\x03" })},
			want: []string{"changed form:file"}},
		{name: "PartHeader", parts: []testPart{meta, doc, note, with(file, func(p *testPart) { p.filename = "b.bin" })},
			want: []string{"changed form:file:header:Content-Disposition"}},
		{name: "PartRemoved", parts: []testPart{meta, doc, file}, want: []string{"removed form:note"}},
		{name: "PartAdded", parts: append(append([]testPart{}, base...), testPart{name: "extra", body: "x"}), want: []string{"added form:extra"}},
		{name: "IgnorePart", opts: diff.Options{Ignore: paths("form:file")}, parts: []testPart{meta, doc, note, with(file, func(p *testPart) { p.body = "x"; p.filename = "c" })}, want: []string{}},
		{name: "IgnoreInsidePart", opts: diff.Options{Ignore: paths("form:meta:$.items[*].sku", "form:doc:/order/@id")},
			parts: []testPart{with(meta, func(p *testPart) { p.body = `{"id":1,"items":[{"sku":"x"},{"sku":"y"}]}` }), with(doc, func(p *testPart) { p.body = `<order id="9"><item>1</item></order>` }), note, file}, want: []string{}},
		{name: "IgnorePartHeader", opts: diff.Options{Ignore: paths("form:file:header:content-disposition")}, parts: []testPart{meta, doc, note, with(file, func(p *testPart) { p.filename = "b.bin" })}, want: []string{}},
		{name: "DescendantRuleReachesParts", opts: diff.Options{Ignore: paths("$..sku")},
			parts: []testPart{with(meta, func(p *testPart) { p.body = `{"id":1,"items":[{"sku":"x"},{"sku":"y"}]}` }), doc, note, file}, want: []string{}},
	}
	legacy := multipartResp(t, "legacy-boundary-1234", base...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := diff.New(tt.opts).Compare(legacy, multipartResp(t, "candidate-boundary-9876", tt.parts...))
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
			}
		})
	}
	// A Content-Type that differs in more than its boundary still counts.
	other := multipartResp(t, "b2", base...)
	other.Header[0].Value = "multipart/mixed; boundary=b2"
	got, _ := diff.New(diff.Options{}).Compare(legacy, other)
	if d := cmp.Diff([]string{"changed body", "changed header:Content-Type"}, summary(got)); d != "" {
		t.Errorf("multipart/mixed (-want +got):\n%s", d)
	}
}
