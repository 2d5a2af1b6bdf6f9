// Package diff compares two HTTP responses (status, chosen headers and body)
// and names every difference by a concrete path ($.items[3].price) and a
// pattern ($.items[*].price). JSON, XML and form bodies are compared as
// structure, other text line by line, anything else as bytes. Byte-identical bodies are
// recognised without parsing.
package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tandemproxy/tandem"
)

// Defaults for Options.
const (
	DefaultMaxDiffs = 100 // differences kept per exchange
	DefaultMaxValue = 256 // bytes kept of each differing value
)

// Tolerance lets two numbers at Path differ by up to Absolute, or by up to
// Relative times the larger magnitude. A zero bound is not used.
type Tolerance struct {
	Path     Path
	Absolute float64
	Relative float64
}

// Normalizer rewrites string values and text bodies on both sides before
// they are compared: every match of Pattern becomes Replace (with $1-style
// expansion, as regexp.ReplaceAll).
type Normalizer struct {
	Pattern *regexp.Regexp
	Replace string
}

// Options say what counts as a difference. The zero value compares status,
// Content-Type and the whole body.
type Options struct {
	Ignore     []Path // locations whose differences do not count
	Unordered  []Path // arrays compared as multisets
	Tolerances []Tolerance
	Normalize  []Normalizer
	// IgnoreValues ignores differences between two values of a class
	// (classes.go) at its path.
	IgnoreValues []ValueClass
	// CompareHeaders lists the response headers compared (case-insensitive).
	// nil means just Content-Type; "*" means every header not in
	// IgnoreHeaders.
	CompareHeaders []string
	IgnoreHeaders  []string
	// IgnoreStatus leaves the status code out of the comparison.
	IgnoreStatus bool
	MaxDiffs     int // 0 means DefaultMaxDiffs
	// MinWork is the least number of value pairs a comparison may visit
	// before it gives up with ErrBudget (more for large bodies: 64 per
	// value). 0 means DefaultMinWork.
	MinWork  int
	MaxValue int // 0 means DefaultMaxValue
}

// Comparer compares responses under fixed options. It is safe for
// concurrent use and meant to be built once per rule set and endpoint.
type Comparer struct {
	opts           Options
	sel            selectors
	compareAll     bool
	compareHeaders []string // canonical names
	ignoreHeaders  map[string]bool
	inPart         bool // comparing a part of a multipart body (multipart.go)
	// viaCmp compares JSON through github.com/google/go-cmp instead: the
	// oracle the fast comparison is tested against (export_test.go).
	viaCmp bool
}

// New compiles options into a Comparer.
func New(opts Options) *Comparer {
	if opts.MaxDiffs <= 0 {
		opts.MaxDiffs = DefaultMaxDiffs
	}
	if opts.MaxValue <= 0 {
		opts.MaxValue = DefaultMaxValue
	}
	if opts.MinWork <= 0 {
		opts.MinWork = DefaultMinWork
	}
	c := &Comparer{opts: opts, ignoreHeaders: map[string]bool{}}
	for _, p := range opts.Ignore {
		c.sel = append(c.sel, selector{segs: p.segs, act: actIgnore})
	}
	for _, p := range opts.Unordered {
		c.sel = append(c.sel, selector{segs: p.segs, act: actUnordered})
	}
	for _, t := range opts.Tolerances {
		c.sel = append(c.sel, selector{segs: t.Path.segs, act: actTolerance, tol: tolerance{abs: t.Absolute, rel: t.Relative}})
	}
	for _, v := range opts.IgnoreValues {
		c.sel = append(c.sel, selector{segs: v.Path.segs, act: actClass, class: v.Class})
	}
	for _, h := range opts.IgnoreHeaders {
		c.ignoreHeaders[http.CanonicalHeaderKey(h)] = true
	}
	hs := opts.CompareHeaders
	if hs == nil {
		hs = []string{"Content-Type"}
	}
	for _, h := range hs {
		if h == "*" {
			c.compareAll = true
			continue
		}
		h = http.CanonicalHeaderKey(h)
		if !c.ignoreHeaders[h] {
			c.compareHeaders = append(c.compareHeaders, h)
		}
	}
	return c
}

// Options returns the options c was built with (defaults filled in).
func (c *Comparer) Options() Options { return c.opts }

// Compare returns the differences between legacy's and the candidate's
// answers (nil when they match). An error means the comparison itself failed
// (a bug or a pathological input): the exchange is then a diff error, not a
// match. Neither response may be an error response.
func (c *Comparer) Compare(legacy, candidate *tandem.Response) (diffs []tandem.Difference, err error) {
	defer func() {
		// go-cmp documents that it may panic on some inputs, and a walker bug
		// must not take the proxy down: either becomes a diff error.
		if r := recover(); r != nil {
			diffs = nil
			if r == ErrBudget {
				err = ErrBudget
				return
			}
			// Where it panicked, not the whole stack: the error is stored
			// with the exchange and shown to people triaging it.
			err = fmt.Errorf("diff error: %v (at %s)", r, panicSite())
		}
	}()
	if !c.opts.IgnoreStatus && legacy.Status != candidate.Status {
		diffs = append(diffs, tandem.Difference{
			Path: "status", Pattern: "status", Kind: tandem.Changed,
			Legacy: strconv.Itoa(legacy.Status), Candidate: strconv.Itoa(candidate.Status),
		})
	}
	diffs = c.compareHeaderFields(diffs, legacy.Header, candidate.Header)
	return c.compareBodies(diffs, legacy, candidate)
}

// panicSite returns the file and line that panicked, called from a deferred
// recover: the first frame outside the runtime.
func panicSite() string {
	var pcs [32]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return fmt.Sprintf("%s:%d", path.Base(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

func (c *Comparer) compareHeaderFields(diffs []tandem.Difference, a, b tandem.Headers) []tandem.Difference {
	names := c.compareHeaders
	if c.compareAll {
		seen := map[string]bool{}
		names = nil
		for _, hs := range []tandem.Headers{a, b} {
			for _, h := range hs {
				n := http.CanonicalHeaderKey(h.Name)
				if !seen[n] && !c.ignoreHeaders[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
	}
	for _, name := range names {
		av, bv := a.Values(name), b.Values(name)
		if slices.Equal(av, bv) || (name == "Content-Type" && sameMediaType(av, bv)) { // form.go: boundaries differ
			continue
		}
		diffs = append(diffs, c.headerDifference("header:"+name, av, bv))
	}
	return diffs
}

// headerDifference describes a header whose values differ, at path (its
// pattern too): added when legacy had none, removed when the candidate has
// none.
func (c *Comparer) headerDifference(path string, av, bv []string) tandem.Difference {
	d := tandem.Difference{Path: path, Pattern: path, Kind: tandem.Changed,
		Legacy: truncate(strings.Join(av, ", "), c.opts.MaxValue), Candidate: truncate(strings.Join(bv, ", "), c.opts.MaxValue)}
	switch {
	case av == nil:
		d.Kind = tandem.Added
	case bv == nil:
		d.Kind = tandem.Removed
	}
	return d
}

func (c *Comparer) compareBodies(diffs []tandem.Difference, a, b *tandem.Response) ([]tandem.Difference, error) {
	if a.Truncated || b.Truncated {
		// Bodies over the cap are compared by length and hash.
		if a.BodySize == b.BodySize && a.BodyHash != "" && a.BodyHash == b.BodyHash {
			return diffs, nil
		}
		return append(diffs, tandem.Difference{Path: "body", Pattern: "body", Kind: tandem.Changed,
			Legacy: bodySummary(a), Candidate: bodySummary(b)}), nil
	}
	if bytes.Equal(a.Body, b.Body) {
		return diffs, nil // the hot path: most bodies match byte for byte
	}
	if d, handled := c.compareFormats(diffs, a, b); handled { // XML and forms: form.go
		return d, nil
	}
	claimA, claimB := claimsJSON(a), claimsJSON(b)
	if claimA || claimB || (LooksJSON(a.Body) && LooksJSON(b.Body)) {
		d, handled, err := c.compareJSON(diffs, a.Body, b.Body, claimA && claimB)
		if handled || err != nil {
			return d, err
		}
	}
	if isText(a.Body) && isText(b.Body) {
		return c.compareText(diffs, string(a.Body), string(b.Body))
	}
	return append(diffs, tandem.Difference{Path: "body", Pattern: "body", Kind: tandem.Changed,
		Legacy: bodySummary(a), Candidate: bodySummary(b)}), nil
}

// compareJSON compares bodies as JSON. handled is false when neither side
// is JSON (the caller then compares them as text). When only one side
// parses and both claim to be JSON, that is a difference at $ of kind type.
func (c *Comparer) compareJSON(diffs []tandem.Difference, a, b []byte, bothClaim bool) ([]tandem.Difference, bool, error) {
	if c.viaCmp {
		d, err := c.compareJSONCmp(a, b)
		switch {
		case err == nil:
			return append(diffs, d...), true, nil
		case err == errNotJSON:
			return diffs, false, nil
		}
	}
	da, db := getDocument(), getDocument()
	defer putDocument(da)
	defer putDocument(db)
	// The candidate is parsed against legacy: where it has legacy's bytes
	// it is not parsed again (see parseAgainst).
	errA := da.parse(a)
	var errB error
	if errA == nil {
		errB = db.parseAgainst(b, da)
	} else {
		errB = db.parse(b)
	}
	switch {
	case errA == nil && errB == nil:
		return append(diffs, c.compareDocs(da, db)...), true, nil
	case errA == errDepth || errB == errDepth:
		return diffs, false, nil // too deep to compare as structure: compare as text
	case (errA == nil) != (errB == nil) && bothClaim:
		return append(diffs, tandem.Difference{Path: "$", Pattern: "$", Kind: tandem.Type,
			Legacy: c.valueText(a), Candidate: c.valueText(b)}), true, nil
	}
	return diffs, false, nil
}

// claimsJSON reports whether a response's Content-Type is a JSON type
// (application/json, or any type ending in +json or /json).
func claimsJSON(r *tandem.Response) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	// The common spellings skip mime.ParseMediaType, which allocates a map
	// on every call (6% of comparing two reordered 1 KiB bodies).
	if ct == "application/json" || ct == "application/json; charset=utf-8" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json"))
}

// LooksJSON sniffs a body: it starts, after JSON whitespace, with an object
// or an array. Legacy systems often send JSON as text/plain or text/html,
// and such bodies are still best compared (and shown) as structure.
func LooksJSON(b []byte) bool {
	i := skipSpace(b, 0)
	return i < len(b) && (b[i] == '{' || b[i] == '[')
}

// isText reports whether a body is UTF-8 text without NUL bytes.
func isText(b []byte) bool {
	return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0
}

func bodySummary(r *tandem.Response) string {
	size, hash := r.BodySize, r.BodyHash
	if !r.Truncated {
		size = int64(len(r.Body))
		sum := sha256.Sum256(r.Body)
		hash = hex.EncodeToString(sum[:])
	}
	s := fmt.Sprintf("%d bytes, sha256:%.16s", size, hash)
	if r.Truncated {
		s += ", truncated"
	}
	return s
}

// normalize applies the normalizers to s; it returns s itself when there
// are none.
func (c *Comparer) normalize(s []byte) []byte {
	for _, n := range c.opts.Normalize {
		s = n.Pattern.ReplaceAll(s, []byte(n.Replace))
	}
	return s
}
