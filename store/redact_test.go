package store_test

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// TestRedact: the value of a named JSON member is replaced wherever the
// body puts it, including bodies that are not whole JSON (cut at --max-body,
// or broken later on) and keys written with escapes; and a difference whose
// value holds a secret loses it even when its path is not the secret's.
func TestRedact(t *testing.T) {
	const r = `"` + store.Redacted + `"`
	bodies := []struct{ name, in, want string }{
		{"Plain", `{"a":1,"password":"hunter2"}`, `{"a":1,"password":` + r + `}`},
		{"CaseInsensitive", `{"PassWord":"hunter2"}`, `{"PassWord":` + r + `}`},
		{"Nested", `{"u":{"password":{"x":"hunter2"}},"b":[{"password":"hunter2"}]}`, `{"u":{"password":` + r + `},"b":[{"password":` + r + `}]}`},
		{"Stream", `{"password":"hunter2"} {"password":"hunter2"}`, `{"password":` + r + `} {"password":` + r + `}`},
		{"CutAfterSecret", `{"a":1,"password":"hunter2","items":[1,2,3`, `{"a":1,"password":` + r + `,"items":[1,2,3`},
		{"CutInsideSecret", `{"a":1,"password":"hunter2-and-mo`, `{"a":1,"password":` + r},
		{"CutInsideNestedSecret", `{"password":{"k":["hunter2",`, `{"password":` + r},
		{"BrokenAfterSecret", `[{"password":"hunter2"}, nope`, `[{"password":` + r + `}, nope`},
		{"EscapedKey", `{"pass\u0077ord":"hunter2"}`, `{"pass\u0077ord":` + r + `}`},
		{"NameAsValueOnly", `{"field":"password","v":"hunter2"}`, `{"field":"password","v":"hunter2"}`},
		{"NotJSON", `password=hunter2`, `password=hunter2`},
	}
	for _, tt := range bodies {
		t.Run(tt.name, func(t *testing.T) {
			ex := &tandem.Exchange{Legacy: tandem.Response{Body: []byte(tt.in)}}
			store.Redact(ex, []string{"password"})
			if got := string(ex.Legacy.Body); got != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
		})
	}

	// An urlencoded form (a login POST) is redacted like a query string;
	// the same bytes under another type are not a form.
	forms := []struct{ name, ct, in, want string }{
		{"Form", "application/x-www-form-urlencoded", "user=a&password=hunter2&x=1", "user=a&password=" + url.QueryEscape(store.Redacted) + "&x=1"},
		{"FormCharset", "Application/X-WWW-Form-Urlencoded; charset=utf-8", "PassWord=hunter2", "PassWord=" + url.QueryEscape(store.Redacted)},
		{"FormEscapedName", "application/x-www-form-urlencoded", "pass%77ord=hunter2", "pass%77ord=" + url.QueryEscape(store.Redacted)},
		{"FormNoSecret", "application/x-www-form-urlencoded", "user=a", "user=a"},
		{"TextIsNotAForm", "text/plain", "password=hunter2", "password=hunter2"},
	}
	for _, tt := range forms {
		t.Run(tt.name, func(t *testing.T) {
			h := tandem.Headers{{Name: "Content-Type", Value: tt.ct}}
			ex := &tandem.Exchange{Request: tandem.Request{Header: h, Body: []byte(tt.in)},
				Candidate: tandem.Response{Header: h, Body: []byte(tt.in)}}
			store.Redact(ex, []string{"password"})
			if got := string(ex.Request.Body); got != tt.want {
				t.Errorf("request body\n got %s\nwant %s", got, tt.want)
			}
			if got := string(ex.Candidate.Body); got != tt.want {
				t.Errorf("candidate body\n got %s\nwant %s", got, tt.want)
			}
		})
	}

	diffs := []struct {
		name string
		in   tandem.Difference
		want [2]string // legacy, candidate
	}{
		{"AtSecret", tandem.Difference{Path: "$.password", Legacy: `"hunter2"`, Candidate: `"hunter3"`}, [2]string{store.Redacted, store.Redacted}},
		{"AtSecretHeader", tandem.Difference{Path: "header:Set-Cookie", Legacy: "sid=hunter2", Candidate: "sid=hunter3"}, [2]string{store.Redacted, store.Redacted}},
		{"ParentAdded", tandem.Difference{Path: "$.user", Kind: tandem.Added, Candidate: `{"name":"a","password":"hunter2"}`},
			[2]string{"", `{"name":"a","password":` + r + `}`}},
		{"ParentTypeChanged", tandem.Difference{Path: "$.user", Kind: tandem.Type, Legacy: `null`, Candidate: `{"Password":"hunter2","n":1}`},
			[2]string{"null", `{"Password":` + r + `,"n":1}`}},
		{"ParentCutAt256", tandem.Difference{Path: "$.user", Kind: tandem.Added, Candidate: `{"password":"hunter2…(300 bytes)`},
			[2]string{"", `{"password":` + r}},
		{"TextLine", tandem.Difference{Path: "text:3", Legacy: `  "password": "hunter2",`, Candidate: `  "password": "hunter3",`},
			[2]string{store.Redacted, store.Redacted}},
		{"Unrelated", tandem.Difference{Path: "$.name", Legacy: `"a"`, Candidate: `"b"`}, [2]string{`"a"`, `"b"`}},
	}
	for _, tt := range diffs {
		t.Run("Difference"+tt.name, func(t *testing.T) {
			ex := &tandem.Exchange{Differences: []tandem.Difference{tt.in}}
			store.Redact(ex, []string{"password"})
			d := ex.Differences[0]
			if got := [2]string{d.Legacy, d.Candidate}; got != tt.want {
				t.Errorf("difference values\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// With --record none (or mismatches, for a match) the exchange is not
// stored, but its differences still feed the per-pattern examples: those
// are redacted too. The raw file and its WAL are read while the database
// is open, before a checkpoint could fold the WAL away.
func TestRedaction_NotStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.db")
	db, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := db.NewWriter(store.WriterConfig{Record: store.RecordNone})
	for range 20 {
		ex := exchange("GET /a", tandem.Mismatch,
			tandem.Difference{Path: "$.password", Pattern: "$.password", Kind: tandem.Changed, Legacy: `"s3cr3t-field"`, Candidate: `"s3cr3t-field2"`},
			tandem.Difference{Path: "header:Set-Cookie", Pattern: "header:Set-Cookie", Kind: tandem.Changed, Legacy: "sid=s3cr3t-cookie", Candidate: "sid=s3cr3t-cookie2"},
			tandem.Difference{Path: "$.user", Pattern: "$.user", Kind: tandem.Added, Candidate: `{"password":"s3cr3t-nested"}`})
		w.Record(ex, []string{"password"})
	}
	w.Close()
	raw := readAll(t, path)
	if !bytes.Contains(raw, []byte("$.user")) {
		t.Fatal("the per-pattern counts were not written")
	}
	for _, secret := range []string{"s3cr3t-field", "s3cr3t-cookie", "s3cr3t-nested"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%q is in the database file or its WAL", secret)
		}
	}
	f, err := db.Fields(context.Background(), "GET /a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range f {
		got = append(got, x.Pattern+"="+x.ExampleCandidate)
	}
	if s := strings.Join(got, " "); !strings.Contains(s, store.Redacted) {
		t.Errorf("fields %s: want the examples redacted", s)
	}
}
