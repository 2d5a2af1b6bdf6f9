// Package rules loads the user's rules file and answers, for each request,
// which endpoint rule applies: how it is named, whether it is mirrored
// (sampling, side effects) and what counts as a difference (ignored fields
// and headers, unordered arrays, tolerances, normalisation, redaction).
package rules

import (
	"cmp"
	"crypto/sha256"
	"hash/fnv"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/diff"
)

// Version is the rules file format version this package reads.
const Version = 1

// DefaultRedact lists the headers whose values are never stored.
var DefaultRedact = tandem.SecretHeaders

// Config is one block of settings, as written under defaults: or in an
// endpoints: entry. Lists add to the defaults; scalars replace them.
type Config struct {
	IgnoreHeaders    []string        `json:"ignore_headers,omitempty"`
	CompareHeaders   []string        `json:"compare_headers,omitempty"`
	Ignore           []string        `json:"ignore,omitempty"`
	Unordered        []string        `json:"unordered,omitempty"`
	Tolerance        []ToleranceRule `json:"tolerance,omitempty"`
	Normalize        []NormalizeRule `json:"normalize,omitempty"`
	IgnoreValues     []ValueRule     `json:"ignore_values,omitempty"`
	Redact           []string        `json:"redact,omitempty"`
	IgnoreStatus     *bool           `json:"ignore_status,omitempty"`
	AllowSideEffects *bool           `json:"allow_side_effects,omitempty"`
	Sample           *float64        `json:"sample,omitempty"`
	SampleBy         string          `json:"sample_by,omitempty"`
	// CompareStreams compares answers that are streams (text/event-stream,
	// or long without a length), which are otherwise only counted.
	CompareStreams *bool `json:"compare_streams,omitempty"`
	Serving              // cutover.go
}

// ToleranceRule lets numbers at Path differ by Absolute or Relative.
type ToleranceRule struct {
	Path     string   `json:"path"`
	Absolute *float64 `json:"absolute,omitempty"`
	Relative *float64 `json:"relative,omitempty"`
}

// NormalizeRule rewrites matches of Pattern to Replace before comparing.
// With Class (a value class, instead of a Pattern), the values of that
// class are rewritten (to "<class>" unless Replace says otherwise).
type NormalizeRule struct {
	Pattern string `json:"pattern"`
	Class   string `json:"class,omitempty"`
	Replace string `json:"replace"`
}

// ValueRule ignores differences at Path between two values of Class (a
// built-in value class: uuid, timestamp, date, jwt, hex-id).
type ValueRule struct {
	Path  string `json:"path"`
	Class string `json:"class"`
}

// merge returns the defaults d with the endpoint's settings e added.
func merge(d, e Config) Config {
	m := Config{
		IgnoreHeaders:  concat(d.IgnoreHeaders, e.IgnoreHeaders),
		CompareHeaders: concat(d.CompareHeaders, e.CompareHeaders),
		Ignore:         concat(d.Ignore, e.Ignore),
		Unordered:      concat(d.Unordered, e.Unordered),
		Tolerance:      concat(d.Tolerance, e.Tolerance),
		Normalize:      concat(d.Normalize, e.Normalize),
		IgnoreValues:   concat(d.IgnoreValues, e.IgnoreValues),
		Redact:         concat(d.Redact, e.Redact),
		// A setting the endpoint gives (non-nil, non-empty) wins.
		IgnoreStatus:     cmp.Or(e.IgnoreStatus, d.IgnoreStatus),
		AllowSideEffects: cmp.Or(e.AllowSideEffects, d.AllowSideEffects),
		Sample:           cmp.Or(e.Sample, d.Sample),
		SampleBy:         cmp.Or(e.SampleBy, d.SampleBy),
		CompareStreams:   cmp.Or(e.CompareStreams, d.CompareStreams),
		Serving:          mergeServing(d.Serving, e.Serving),
	}
	return m
}

func concat[T any](a, b []T) []T {
	if len(b) == 0 {
		return a
	}
	return append(slices.Clip(a), b...)
}

// Set is a loaded rules file. It is immutable, and safe for concurrent use.
type Set struct {
	File      string // "" for the built-in defaults
	Defaults  Config
	sum       [sha256.Size]byte // of the file's content, for Watch
	endpoints []*Endpoint
	fallback  *Endpoint
}

// Endpoint is the compiled rule for one endpoint (or, for requests no rule
// matches, the defaults).
type Endpoint struct {
	// Name is the match string ("GET /api/users/{id}"); "" for the
	// defaults, whose requests are named by Template.
	Name string
	Line int // where the rule is in the file; 0 for the defaults
	// Config holds the merged settings (defaults plus the endpoint's own).
	Config   Config
	Comparer *diff.Comparer
	sampleBy sampleKey
	route    route
	redact   []string // canonical header names and JSON field names
}

type sampleKey struct {
	header, query string
}

// Default returns the rules in force when no rules file is given: every
// difference counts, Content-Type is the only header compared, side effects
// are not mirrored, and the standard secret headers are redacted.
func Default() *Set {
	s, err := build("", Config{}, nil)
	if err != nil {
		panic(err) // the empty configuration is always valid
	}
	return s
}

// Endpoints returns the endpoint rules in file order.
func (s *Set) Endpoints() []*Endpoint { return s.endpoints }

// Match returns the first endpoint rule whose match string matches the
// request, or the defaults. It does not allocate.
func (s *Set) Match(method, path []byte) *Endpoint {
	for _, e := range s.endpoints {
		if e.route.match(method, path) {
			return e
		}
	}
	return s.fallback
}

// Lookup returns the endpoint rule with the given name, or the defaults.
func (s *Set) Lookup(name string) *Endpoint {
	for _, e := range s.endpoints {
		if e.Name == name {
			return e
		}
	}
	return s.fallback
}

// EndpointName names a request's endpoint: the rule's match string, or the
// automatic name (Template) for requests no rule matches.
func (e *Endpoint) EndpointName(method, path string) string {
	if e.Name != "" {
		return e.Name
	}
	return Template(method, path)
}

// SafeMethod reports whether a method has no side effects by definition
// (RFC 9110 §9.2.1: GET, HEAD, OPTIONS, TRACE).
func SafeMethod(method []byte) bool {
	switch string(method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// MethodOverrideHeaders name the headers with which many frameworks (Rails,
// Laravel, Express's method-override, Google's APIs) let a request act as
// another method: a GET carrying "X-HTTP-Method-Override: DELETE" deletes.
var MethodOverrideHeaders = []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"}

// ActingMethod returns the method a request acts as, for its side effects:
// the method named by a method-override header (override, empty when there
// is none) unless that is a safe one, and the request's own otherwise. An
// override in an odd case ("delete") is not safe: when in doubt, a request
// has side effects.
func ActingMethod(method, override []byte) []byte {
	if len(override) > 0 && !SafeMethod(override) {
		return override
	}
	return method
}

// MirrorsMethod reports whether requests with this method may be mirrored:
// safe methods always, any other (POST, PUT, PATCH, DELETE, …) only where
// the rule sets allow_side_effects.
func (e *Endpoint) MirrorsMethod(method []byte) bool {
	if SafeMethod(method) {
		return true
	}
	return e.Config.AllowSideEffects != nil && *e.Config.AllowSideEffects
}

// CompareStreams reports whether answers that are streams are compared
// (bounded by the body cap) rather than only counted.
func (e *Endpoint) CompareStreams() bool {
	return e.Config.CompareStreams != nil && *e.Config.CompareStreams
}

// SampleRate returns the fraction of this endpoint's requests to mirror:
// the rule's sample, or global when the rule sets none.
func (e *Endpoint) SampleRate(global float64) float64 {
	if e.Config.Sample != nil {
		return *e.Config.Sample
	}
	return global
}

// SampleBy returns the header or query parameter whose value decides
// consistent sampling ("" when sampling is random).
func (e *Endpoint) SampleBy() (header, query string) {
	return e.sampleBy.header, e.sampleBy.query
}

// Hash01 maps a sampling key to [0, 1): a request is mirrored when the hash
// of its key is below the sample rate, so every request with the same key
// gets the same answer, in every process and across restarts.
func Hash01(key []byte) float64 {
	h := fnv.New64a()
	h.Write(key)
	// FNV's high bits barely move when only the last byte changes (user-1,
	// user-2, …); MurmurHash3's finaliser spreads every bit over all.
	return mix01(h.Sum64())
}

func mix01(x uint64) float64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return float64(x>>11) / (1 << 53)
}

// Redact returns the header names and JSON field names whose values are
// replaced before anything is stored or shown: the standard secret headers
// and those named in redact: rules.
func (e *Endpoint) Redact() []string { return e.redact }

func build(file string, defaults Config, entries []entry) (*Set, error) {
	s := &Set{File: file, Defaults: defaults}
	fb, err := compile(defaults)
	if err != nil {
		return nil, err
	}
	s.fallback = fb
	for _, en := range entries {
		e, err := compile(merge(defaults, en.config))
		if err != nil {
			return nil, err
		}
		e.Name = strings.Join(strings.Fields(en.match), " ")
		e.Line = en.line
		e.route = en.route
		s.endpoints = append(s.endpoints, e)
	}
	return s, nil
}

// compile turns merged settings into an Endpoint. Its inputs have been
// validated by the loader; errors here are for configurations built in code.
func compile(c Config) (*Endpoint, error) {
	e := &Endpoint{Config: c}
	var o diff.Options
	for _, p := range c.Ignore {
		pp, err := diff.ParsePath(p)
		if err != nil {
			return nil, err
		}
		o.Ignore = append(o.Ignore, pp)
	}
	for _, p := range c.Unordered {
		pp, err := diff.ParsePath(p)
		if err != nil {
			return nil, err
		}
		o.Unordered = append(o.Unordered, pp)
	}
	for _, t := range c.Tolerance {
		pp, err := diff.ParsePath(t.Path)
		if err != nil {
			return nil, err
		}
		dt := diff.Tolerance{Path: pp}
		if t.Absolute != nil {
			dt.Absolute = *t.Absolute
		}
		if t.Relative != nil {
			dt.Relative = *t.Relative
		}
		o.Tolerances = append(o.Tolerances, dt)
	}
	for _, n := range c.Normalize {
		pattern := n.Pattern
		if n.Class != "" {
			k, err := diff.ParseClass(n.Class)
			if err != nil {
				return nil, err
			}
			pattern = k.Pattern()
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return nil, err
		}
		o.Normalize = append(o.Normalize, diff.Normalizer{Pattern: re, Replace: n.Replace})
	}
	for _, v := range c.IgnoreValues {
		pp, err := diff.ParsePath(v.Path)
		if err != nil {
			return nil, err
		}
		k, err := diff.ParseClass(v.Class)
		if err != nil {
			return nil, err
		}
		o.IgnoreValues = append(o.IgnoreValues, diff.ValueClass{Path: pp, Class: k})
	}
	o.IgnoreHeaders = c.IgnoreHeaders
	if len(c.CompareHeaders) > 0 {
		o.CompareHeaders = c.CompareHeaders
	}
	if c.IgnoreStatus != nil {
		o.IgnoreStatus = *c.IgnoreStatus
	}
	e.Comparer = diff.New(o)
	if c.SampleBy != "" {
		kind, name, _ := strings.Cut(c.SampleBy, ":")
		if kind == "header" {
			e.sampleBy.header = name
		} else {
			e.sampleBy.query = name
		}
	}
	e.redact = append(slices.Clone(DefaultRedact), c.Redact...)
	return e, nil
}

// Apply names an exchange's endpoint and judges it under these rules: the
// one place where "what would these rules say of this exchange" is
// answered, for the proxy's history (rediff), the triage UI and replay.
// It returns the names to redact before the exchange is stored.
func (s *Set) Apply(ex *tandem.Exchange) []string {
	ep := s.Match([]byte(ex.Request.Method), []byte(ex.Request.Path()))
	ex.Endpoint = ep.EndpointName(ex.Request.Method, ex.Request.Path())
	ep.Comparer.Judge(ex)
	return ep.Redact()
}
