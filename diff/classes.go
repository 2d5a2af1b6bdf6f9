package diff

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
)

var stringType = reflect.TypeOf("")

// Class is a built-in value class: a kind of value that legitimately
// differs from response to response (generated ids, times, tokens). A rule
// ignore_values: {"$..id": uuid} ignores a difference at a matching location
// only when both values are of the class, so a candidate that sends null, an
// integer or an empty string there is still caught.
type Class string

// The value classes.
const (
	// ClassUUID is an RFC 9562 UUID in its 8-4-4-4-12 hex form, any case.
	ClassUUID Class = "uuid"
	// ClassTimestamp is an RFC 3339 date-time, or a Unix time in seconds
	// (optionally with a fraction) or milliseconds between 2000 and 2100.
	// Both values must be in the same one of these three forms: a candidate
	// that sends milliseconds where legacy sends seconds is a difference.
	ClassTimestamp Class = "timestamp"
	// ClassDate is an RFC 3339 full-date (2024-02-29), a real calendar day.
	ClassDate Class = "date"
	// ClassJWT is a JSON Web Token (RFC 7519, compact form). Two tokens are
	// compared by their decoded claims and header, without the claims that
	// change with each issue (JWTVolatileClaims), the header's key id and
	// the signature.
	ClassJWT Class = "jwt"
	// ClassHexID is a string of at least MinHexID hexadecimal digits (trace
	// ids, object ids, digests), any case.
	ClassHexID Class = "hex-id"
)

// Classes lists the value classes, in the order the documentation gives.
var Classes = []Class{ClassUUID, ClassTimestamp, ClassDate, ClassJWT, ClassHexID}

// Bounds of the value classes.
const (
	// MinHexID is the shortest hex-id; it is also the length from which the
	// automatic endpoint names (rules.Template) take a hex segment for an id.
	MinHexID = 16
	// epochMin and epochMax bound the Unix times taken for timestamps: a
	// small integer such as 42 is a count, not a time.
	epochMin = 946684800  // 2000-01-01T00:00:00Z
	epochMax = 4102444800 // 2100-01-01T00:00:00Z
)

// JWTVolatileClaims are the claims left out when two tokens are compared:
// they change with every token issued (RFC 7519 §4.1.4–4.1.7; nbf is set
// from the issue time as iat is).
var JWTVolatileClaims = []string{"iat", "exp", "nbf", "jti"}

// jwtVolatileHeader are the header parameters left out: the key id changes
// when keys rotate, and legacy and candidate may sign with different keys.
var jwtVolatileHeader = []string{"kid"}

// JWTHeaderKey is the key under which a token's header parameters appear in
// the paths of differences: $.token['#header'].alg (the claims themselves
// are at $.token.sub, …). '#' cannot clash with a registered claim name.
const JWTHeaderKey = "#header"

// ParseClass returns the class named s, or an error that lists the classes.
func ParseClass(s string) (Class, error) {
	for _, c := range Classes {
		if string(c) == s {
			return c, nil
		}
	}
	names := make([]string, len(Classes))
	for i, c := range Classes {
		names[i] = string(c)
	}
	return "", fmt.Errorf("unknown value class %q (the classes are %s)", s, strings.Join(names, ", "))
}

// ValueClass ignores differences at Path between two values of Class.
type ValueClass struct {
	Path  Path
	Class Class
}

// Timestamp forms (see ClassTimestamp).
const (
	formNone = iota
	formMember
	tsRFC3339
	tsEpochSeconds
	tsEpochMillis
)

// form returns formNone when v is not of class k, and otherwise the form
// it has: two values are equal under k when their forms are equal.
func (k Class) form(v string) int {
	switch k {
	case ClassUUID:
		if isUUID(v) {
			return formMember
		}
	case ClassTimestamp:
		return timestampForm(v)
	case ClassDate:
		if len(v) == len("2006-01-02") {
			if _, err := time.Parse(time.DateOnly, v); err == nil {
				return formMember
			}
		}
	case ClassJWT:
		if _, _, ok := decodeJWT(v); ok {
			return formMember
		}
	case ClassHexID:
		if len(v) >= MinHexID && isHex(v) {
			return formMember
		}
	}
	return formNone
}

// Pattern returns a regular expression for the values of class k inside
// text (for normalize rules that name a class): the shape of the values,
// without the checks Is makes (a real calendar day, a JWT that decodes).
// Unix times are 10-digit seconds or 13-digit milliseconds.
func (k Class) Pattern() string {
	switch k {
	case ClassUUID:
		return `\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b`
	case ClassTimestamp:
		return `\b\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})|\b\d{10}(\d{3})?\b`
	case ClassDate:
		return `\b\d{4}-\d{2}-\d{2}\b`
	case ClassJWT:
		return `\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`
	case ClassHexID:
		return `\b[0-9a-fA-F]{16,}\b`
	}
	return `$^`
}

// numeric reports whether JSON numbers can be of class k: only Unix
// times are; 1234567890123456 is a number, not a hex-id.
func (k Class) numeric() bool { return k == ClassTimestamp }

// Is reports whether v is a value of class k (for tests and tools).
func (k Class) Is(v string) bool { return k.form(v) != formNone }

// Equal reports whether a and b count as equal under class k: both are of
// the class (in the same form, for timestamps), and for JWTs their claims
// and header agree apart from the volatile ones.
func (k Class) Equal(a, b string) bool {
	if a == b {
		return true
	}
	if k == ClassJWT {
		ja, jb, ok := jwtPair(a, b)
		return ok && bytes.Equal(ja, jb)
	}
	fa := k.form(a)
	return fa != formNone && fa == k.form(b)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexByte(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHexByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func timestampForm(v string) int {
	if len(v) >= len("2006-01-02T15:04:05Z") && (v[10] == 'T' || v[10] == 't') {
		if _, err := time.Parse(time.RFC3339Nano, strings.ToUpper(v)); err == nil {
			return tsRFC3339
		}
		return formNone
	}
	// A Unix time: digits, perhaps a fraction (JSON numbers and strings
	// alike; an exponent form such as 1.7e9 is a float encoder's seconds).
	if v == "" || v[0] == '-' || v[0] == '+' {
		return formNone
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return formNone
	}
	switch {
	case f >= epochMin && f < epochMax:
		return tsEpochSeconds
	case f >= epochMin*1000 && f < epochMax*1000:
		return tsEpochMillis
	}
	return formNone
}

// decodeJWT decodes a compact JWS: header.payload.signature, the first two
// base64url JSON objects (the header naming its alg).
func decodeJWT(s string) (header, claims map[string]any, ok bool) {
	h, rest, ok1 := strings.Cut(s, ".")
	p, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(sig, ".") || h == "" || p == "" {
		return nil, nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sig, "=")); err != nil {
		return nil, nil, false
	}
	header, ok = decodeJWTPart(h)
	if !ok {
		return nil, nil, false
	}
	if _, alg := header["alg"].(string); !alg {
		return nil, nil, false
	}
	claims, ok = decodeJWTPart(p)
	return header, claims, ok
}

func decodeJWTPart(s string) (map[string]any, bool) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || m == nil || dec.More() {
		return nil, false
	}
	return m, true
}

// jwtJSON is what of a token is compared, as JSON: its claims without the
// volatile ones, with the header (without kid) under JWTHeaderKey.
func jwtJSON(s string) ([]byte, bool) {
	h, c, ok := decodeJWT(s)
	if !ok {
		return nil, false
	}
	for _, k := range JWTVolatileClaims {
		delete(c, k)
	}
	for _, k := range jwtVolatileHeader {
		delete(h, k)
	}
	c[JWTHeaderKey] = h
	b, err := json.Marshal(c) // sorted keys: equal tokens give equal bytes
	return b, err == nil
}

func jwtPair(a, b string) ([]byte, []byte, bool) {
	ja, ok1 := jwtJSON(a)
	jb, ok2 := jwtJSON(b)
	return ja, jb, ok1 && ok2
}

// sub returns a Comparer for values found at the location steps: the same
// options, with each rule's path cut to what remains to match below that
// location. It compares the decoded claims of JWTs and the parts of
// multipart bodies, so that every rule keeps applying inside them.
func (c *Comparer) sub(steps []step) *Comparer {
	states := c.sel.root(nil)
	lo, hi := 0, len(states)
	for _, st := range steps {
		states = c.sel.advance(states, lo, hi, st)
		lo, hi = hi, len(states)
	}
	s := &Comparer{opts: c.opts, compareAll: c.compareAll, compareHeaders: c.compareHeaders, ignoreHeaders: c.ignoreHeaders}
	for _, x := range states[lo:hi] {
		sel := c.sel[x.sel]
		sel.segs = sel.segs[x.pos:]
		s.sel = append(s.sel, sel)
	}
	return s
}

// classDiffs compares two scalar values at steps under class k. ok is false
// when the class does not decide (a value is not of the class): the caller
// then compares them as usual. For two JWTs whose claims differ, the
// differences name the claims: $.token.sub, $.token['#header'].alg.
func (c *Comparer) classDiffs(k Class, steps []step, a, b string) (diffs []tandem.Difference, ok bool) {
	if k != ClassJWT {
		return nil, k.Equal(a, b)
	}
	ja, jb, both := jwtPair(a, b)
	if !both {
		return nil, false
	}
	if bytes.Equal(ja, jb) {
		return nil, true
	}
	// The rules below the token's location apply to its claims (an ignore
	// of $.token.sub may leave nothing to report).
	inner, handled, err := c.sub(steps).compareJSON(nil, ja, jb, true)
	if err != nil || !handled {
		return nil, false // cannot happen for two marshalled objects
	}
	path, pattern := formatPath(steps)
	for i := range inner {
		inner[i].Path = path + strings.TrimPrefix(inner[i].Path, "$")
		inner[i].Pattern = pattern + strings.TrimPrefix(inner[i].Pattern, "$")
	}
	return inner, true
}

// classEqual is the fast walker's hook for value classes: it decides the
// pair (an, bn) under class k, reporting JWT claim differences itself. ok
// is false when the class does not decide.
func (w *walker) classEqual(k Class, an, bn *jnode) (eq, ok bool) {
	if an.kind != bn.kind || (an.kind != kString && !(an.kind == kNumber && k.numeric())) {
		return false, false
	}
	a, b := w.scalarText(w.a, an), w.scalarText(w.b, bn)
	diffs, ok := w.c.classDiffs(k, w.steps, a, b)
	if !ok {
		return false, false
	}
	for _, d := range diffs {
		if w.quiet > 0 || w.full {
			break
		}
		if len(w.diffs) >= w.c.opts.MaxDiffs {
			w.full = true
			break
		}
		w.diffs = append(w.diffs, d)
	}
	return len(diffs) == 0, true
}

// scalarText is a string's decoded value or a number's literal.
func (w *walker) scalarText(d *document, n *jnode) string {
	raw := w.raw(d, n)
	if n.kind == kNumber {
		return string(raw)
	}
	if n.esc {
		return string(unquote(nil, raw))
	}
	return string(raw[1 : len(raw)-1])
}

// classOptions are the go-cmp options of the value classes: one Comparer
// per class in use, behind a filter that selects the locations where that
// class is in force (the number Comparers of cmpOptions stand aside there,
// so that no two options apply to one value).
func (c *Comparer) classOptions(at func(cmp.Path) flags) []cmp.Option {
	var opts []cmp.Option
	seen := map[Class]bool{}
	for i := range c.sel {
		k := c.sel[i].class
		if c.sel[i].act != actClass || seen[k] {
			continue
		}
		seen[k] = true
		opts = append(opts,
			cmp.FilterPath(func(p cmp.Path) bool { return at(p).class == k },
				cmp.Comparer(func(x, y string) bool { return x == y || k.Equal(x, y) })),
			cmp.FilterPath(func(p cmp.Path) bool { f := at(p); return f.class == k && f.tolerance == nil },
				cmp.Comparer(func(x, y json.Number) bool {
					return numbersEqual([]byte(x), []byte(y)) || k.numeric() && k.Equal(string(x), string(y))
				})))
		for j := range c.sel {
			if c.sel[j].act != actTolerance {
				continue
			}
			t := &c.sel[j].tol
			opts = append(opts, cmp.FilterPath(func(p cmp.Path) bool { f := at(p); return f.class == k && f.tolerance == t },
				cmp.Comparer(func(x, y json.Number) bool {
					return numbersEqual([]byte(x), []byte(y)) || withinTolerance([]byte(x), []byte(y), t.abs, t.rel) || k.numeric() && k.Equal(string(x), string(y))
				})))
		}
	}
	return opts
}

// reportClass reports the differences of two JWTs at a jwt location claim
// by claim, as the fast engine does; it returns false when the values are
// reported as usual.
func (r *reporter) reportClass(vx, vy reflect.Value) bool {
	ex, ey := unwrap(vx), unwrap(vy)
	if ex.Type() != stringType || ey.Type() != stringType {
		return false
	}
	steps := cmpSteps(r.path)
	k := r.c.flagsAt(steps).class
	if k != ClassJWT {
		return false
	}
	diffs, ok := r.c.classDiffs(k, steps, ex.String(), ey.String())
	if !ok {
		return false
	}
	for _, d := range diffs {
		if len(r.diffs) >= r.c.opts.MaxDiffs {
			break
		}
		r.diffs = append(r.diffs, d)
	}
	return true
}
