package store

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tandemproxy/tandem"
)

// Redacted is what stands in for a secret.
const Redacted = "[REDACTED]"

// Redact replaces secrets in an exchange before it is stored: the values of
// the standard secret headers (tandem.SecretHeaders) and of every header,
// query parameter and JSON field named in names. All names match
// case-insensitively (a rule for password also redacts Password).
// Differences at those places lose their values too, and secrets inside
// other differences' values (an added object, a text line) are redacted.
func Redact(ex *tandem.Exchange, names []string) {
	all := make([]string, 0, len(tandem.SecretHeaders)+len(names))
	all = append(all, tandem.SecretHeaders...)
	all = append(all, names...)
	redactHeaders(ex.Request.Header, all)
	redactHeaders(ex.Legacy.Header, all)
	redactHeaders(ex.Candidate.Header, all)
	if ex.Secondary != nil {
		redactHeaders(ex.Secondary.Header, all)
	}
	ex.Request.URL = redactQuery(ex.Request.URL, all)
	ex.Request.Body = redactForm(redactJSON(ex.Request.Body, all), ex.Request.Header, all)
	ex.Legacy.Body = redactForm(redactJSON(ex.Legacy.Body, all), ex.Legacy.Header, all)
	ex.Candidate.Body = redactForm(redactJSON(ex.Candidate.Body, all), ex.Candidate.Header, all)
	if ex.Secondary != nil {
		ex.Secondary.Body = redactForm(redactJSON(ex.Secondary.Body, all), ex.Secondary.Header, all)
	}
	redactDifferences(ex.Differences, all)
}

// redactDiffs redacts only an exchange's differences: for exchanges that are
// counted but not stored, whose differences still feed the per-pattern
// examples.
func redactDiffs(ex *tandem.Exchange, names []string) {
	all := make([]string, 0, len(tandem.SecretHeaders)+len(names))
	all = append(all, tandem.SecretHeaders...)
	redactDifferences(ex.Differences, append(all, names...))
}

// redactDifferences replaces the values of differences at a secret's path,
// and redacts secrets inside the others' values: a difference at $.user
// whose value is the whole added object holds $.user.password too, and a
// text line may hold a JSON member.
func redactDifferences(diffs []tandem.Difference, names []string) {
	for i := range diffs {
		d := &diffs[i]
		if secretPath(d.Path, names) {
			if d.Legacy != "" {
				d.Legacy = Redacted
			}
			if d.Candidate != "" {
				d.Candidate = Redacted
			}
			continue
		}
		d.Legacy = redactValue(d.Legacy, names)
		d.Candidate = redactValue(d.Candidate, names)
	}
}

// redactValue redacts the named members of a difference's value (JSON,
// possibly cut at its 256 bytes). A value that names a secret in a form
// that is not a JSON member (a text line: "password": x, password=x) is
// replaced whole.
func redactValue(v string, names []string) string {
	if v == "" || v == Redacted {
		return v
	}
	if out := redactJSON([]byte(v), names); string(out) != v {
		return string(out)
	}
	lv := strings.ToLower(v)
	for _, n := range names {
		n = strings.ToLower(n)
		for rest := lv; ; {
			i := strings.Index(rest, n)
			if i < 0 {
				break
			}
			rest = strings.TrimLeft(rest[i+len(n):], `"' `)
			if strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "=") {
				return Redacted
			}
		}
	}
	return v
}

func redactHeaders(h tandem.Headers, names []string) {
	for i := range h {
		for _, n := range names {
			if strings.EqualFold(h[i].Name, n) {
				h[i].Value = Redacted
				break
			}
		}
	}
}

// redactForm redacts the named fields of an urlencoded form body (a login
// POST's password=…), as redactQuery does a URL's: a form is a query
// string in the body, and its secrets are as much secrets there.
func redactForm(body []byte, h tandem.Headers, names []string) []byte {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	if len(body) == 0 || !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return body
	}
	if r := redactQuery("?"+string(body), names); r != "?"+string(body) {
		return []byte(r[1:])
	}
	return body
}

func redactQuery(u string, names []string) string {
	path, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	parts := strings.Split(query, "&")
	changed := false
	for i, p := range parts {
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		for _, n := range names {
			if strings.EqualFold(k, n) {
				parts[i] = p[:strings.IndexByte(p+"=", '=')] + "=" + url.QueryEscape(Redacted)
				changed = true
				break
			}
		}
	}
	if !changed {
		return u
	}
	return path + "?" + strings.Join(parts, "&")
}

// secretPath reports whether a difference's path ends at a redacted header
// or JSON field.
func secretPath(p string, names []string) bool {
	if h, ok := strings.CutPrefix(p, "header:"); ok {
		for _, n := range names {
			if strings.EqualFold(h, n) {
				return true
			}
		}
		return false
	}
	lp := strings.ToLower(p)
	for _, n := range names {
		n = strings.ToLower(n)
		if secretFormOrXMLPath(lp, n) {
			return true
		}
		if strings.HasSuffix(lp, "."+n) || strings.HasSuffix(lp, "['"+n+"']") || strings.Contains(lp, "."+n+"[") || strings.Contains(lp, "."+n+".") {
			return true
		}
	}
	return false
}

// secretFormOrXMLPath reports whether a lower-cased difference path names
// the secret n as a form field (form:password, form:creds:$.password is
// JSON's) or as an XML element or attribute (/login/password,
// /login/user[2]/@password, /{urn:x}password).
func secretFormOrXMLPath(lp, n string) bool {
	if f, ok := strings.CutPrefix(lp, "form:"); ok {
		return f == n || f == "'"+n+"'" || strings.HasPrefix(f, n+":")
	}
	if !strings.HasPrefix(lp, "/") {
		return false
	}
	for _, step := range strings.Split(lp, "/") {
		step = strings.TrimPrefix(step, "@")
		if i := strings.IndexByte(step, '['); i >= 0 {
			step = step[:i]
		}
		if i := strings.LastIndexByte(step, '}'); i >= 0 {
			step = step[i+1:]
		}
		if step == n {
			return true
		}
	}
	return false
}

// redactJSON replaces the values of the named members anywhere in a JSON
// body, keeping every other byte as it was. Bodies that do not mention a
// name are returned unchanged; in a body that stops being JSON somewhere,
// the members before that point are redacted, and a secret value that does
// not end takes the rest of the body with it.
func redactJSON(body []byte, names []string) []byte {
	hits := mentioned(body, names)
	if len(hits) == 0 {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct{ object, wantKey bool }
	var stack []frame
	var spans [][2]int64
	for {
		tok, err := dec.Token()
		if err != nil {
			// The end, or a body that is not JSON from here on (one cut at
			// --max-body, say): the members found so far are redacted
			// all the same.
			break
		}
		top := len(stack) - 1
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top >= 0 && stack[top].object {
					stack[top].wantKey = true
				}
				stack = append(stack, frame{object: d == '{', wantKey: d == '{'})
			default:
				stack = stack[:top]
			}
			continue
		}
		if top < 0 || !stack[top].object {
			continue
		}
		if !stack[top].wantKey {
			stack[top].wantKey = true
			continue
		}
		stack[top].wantKey = false
		key, _ := tok.(string)
		secret := false
		for _, n := range hits {
			if strings.EqualFold(key, n) {
				secret = true
			}
		}
		if !secret {
			continue
		}
		// The value starts after the ':' that follows the key.
		start := dec.InputOffset()
		for start < int64(len(body)) && body[start] != ':' {
			start++
		}
		start++
		for start < int64(len(body)) && isSpace(body[start]) {
			start++
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			// The secret's value does not end (the body was cut inside
			// it) or is not JSON: everything from it on goes.
			spans = append(spans, [2]int64{start, int64(len(body))})
			break
		}
		stack[top].wantKey = true
		spans = append(spans, [2]int64{start, dec.InputOffset()})
	}
	if len(spans) == 0 {
		return body
	}
	out := make([]byte, 0, len(body))
	prev := int64(0)
	for _, s := range spans {
		out = append(out, body[prev:s[0]]...)
		out = append(out, `"`+Redacted+`"`...)
		prev = s[1]
	}
	return append(out, body[prev:]...)
}

// mentioned returns the names that a JSON string in body spells, in any
// case: the members redactJSON must look for. It runs on every stored body,
// so it only scans (no decoding, no allocation but the result). A string
// with an escape sequence counts as every name: its decoded form, which is
// what a member's name is, cannot be seen without decoding it.
func mentioned(body []byte, names []string) []string {
	var hits []string
	// Bit k: names[k] was found; names[k] is ASCII. Names beyond the 64th
	// are looked for the slow way.
	var found, ascii uint64
	// lens has bit L set when an ASCII name of length L is looked for; in an
	// all-ASCII body (most bodies) only strings of those lengths can spell
	// a name, so most strings are passed over with one test.
	var lens uint64
	quick := len(names) <= 64
	for k, n := range names[:min(len(names), 64)] {
		if isASCII(n) && len(n) < 64 {
			ascii |= 1 << k
			lens |= 1 << len(n)
		} else {
			quick = false
		}
	}
	pure := isASCII(body)
	quick = quick && pure
	for i := 0; i < len(body); {
		q := bytes.IndexByte(body[i:], '"')
		if q < 0 {
			break
		}
		start := i + q + 1
		end, esc := start, false
		for end < len(body) && body[end] != '"' {
			if body[end] == '\\' {
				esc = true
				end++
			}
			end++
		}
		s := body[start:min(end, len(body))]
		if quick && !esc && (len(s) >= 64 || lens&(1<<len(s)) == 0) {
			i = end + 1
			continue
		}
		for k, n := range names {
			if k < 64 && found&(1<<k) != 0 || k >= 64 && slices.Contains(hits, n) {
				continue
			}
			if esc || foldEqual(s, n, k < 64 && ascii&(1<<k) != 0, pure) {
				if k < 64 {
					found |= 1 << k
				}
				hits = append(hits, n)
			}
		}
		i = end + 1
	}
	return hits
}

// foldEqual is strings.EqualFold with a shortcut for ASCII names (all of
// them, in practice): folding keeps an ASCII string's length, and only two
// runes (K and ſ, both longer than the letters they fold to) make a longer
// string equal to one. pure says s is all ASCII.
func foldEqual(s []byte, name string, ascii, pure bool) bool {
	if ascii && len(s) != len(name) && (len(s) < len(name) || pure || isASCII(s)) {
		return false
	}
	return strings.EqualFold(string(s), name)
}

func isASCII[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
