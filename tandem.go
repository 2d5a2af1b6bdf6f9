// Package tandem holds the vocabulary shared by every part of tandem: an
// exchange (one request and the answers of legacy, candidate and secondary),
// its differences and its outcome. The packages below it (mirror, diff, rules,
// store, …) produce and consume these types; this package depends on none of
// them.
package tandem

import (
	"strings"
	"time"
)

// Outcome is the verdict on one request.
type Outcome string

// Outcomes. Match, Mismatch, Noise, CandidateError and DiffError are verdicts
// on a compared exchange; Skipped and Dropped count requests that were never
// compared; LegacyError counts requests whose client got a 502.
const (
	Match          Outcome = "match"
	Mismatch       Outcome = "mismatch"
	Noise          Outcome = "noise"
	CandidateError Outcome = "candidate_error"
	DiffError      Outcome = "diff_error"
	Skipped        Outcome = "skipped"
	Dropped        Outcome = "dropped"
	LegacyError    Outcome = "legacy_error"
)

// Compared reports whether o is the verdict of a comparison (as opposed to a
// count of requests that never reached one).
func (o Outcome) Compared() bool {
	switch o {
	case Match, Mismatch, Noise, CandidateError, DiffError:
		return true
	}
	return false
}

// SecretHeaders are the headers whose values are never stored or shown:
// they are replaced before an exchange reaches the store.
var SecretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// Kind says how a value differs.
type Kind string

// Difference kinds.
const (
	Changed Kind = "changed" // same type, other value
	Added   Kind = "added"   // only the candidate has it
	Removed Kind = "removed" // only legacy has it
	Type    Kind = "type"    // both have it, with different JSON types
)

// Difference is one place where legacy and candidate disagree.
type Difference struct {
	// Path is concrete: "$.items[3].price", "status", "header:Content-Type",
	// "text:12" (line 12 of a text body) or "body" (opaque bytes).
	Path string `json:"path"`
	// Pattern is Path with every array index replaced by [*] (and text line
	// numbers dropped), so that differences can be grouped.
	Pattern string `json:"pattern"`
	Kind    Kind   `json:"kind"`
	// Legacy and Candidate are the two values, as compact JSON for JSON bodies
	// and as text otherwise, truncated for storage. Empty when absent.
	Legacy    string `json:"legacy,omitempty"`
	Candidate string `json:"candidate,omitempty"`
	// Noise is set when a secondary legacy instance disagreed with legacy at
	// the same pattern: legacy differs from itself there.
	Noise bool `json:"noise,omitempty"`
}

// Header is one header field as it appeared on the wire (order and
// duplicates are kept).
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Headers is a header list in wire order.
type Headers []Header

// Get returns the first value of the named header (case-insensitive).
func (h Headers) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns all values of the named header (case-insensitive).
func (h Headers) Values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// Request is the client's request as tandem received it.
type Request struct {
	Method string  `json:"method"`
	URL    string  `json:"url"` // path and query, as in the request line
	Host   string  `json:"host,omitempty"`
	Header Headers `json:"headers,omitempty"`
	Body   []byte  `json:"body,omitempty"`
}

// Path returns the URL without its query string.
func (r *Request) Path() string {
	if i := strings.IndexByte(r.URL, '?'); i >= 0 {
		return r.URL[:i]
	}
	return r.URL
}

// Response is one upstream's answer (or the error that stood in for it).
type Response struct {
	Status  int           `json:"status"`
	Header  Headers       `json:"headers,omitempty"`
	Body    []byte        `json:"body,omitempty"`
	Latency time.Duration `json:"latency_ns"`
	// Err is set when no answer came (connection refused, timeout, a reply
	// that is not HTTP, …); Status, Header and Body are then empty.
	Err string `json:"error,omitempty"`
	// BodySize is the size of the full body. When it exceeds the body cap,
	// Body holds only its first bytes, Truncated is set and BodyHash is the
	// SHA-256 of the whole body, which is what is compared.
	BodySize  int64  `json:"body_size,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	BodyHash  string `json:"body_hash,omitempty"`
}

// Exchange is one mirrored (or replayed) request with every answer and the
// verdict on them.
type Exchange struct {
	ID       int64     `json:"id,omitempty"`
	Time     time.Time `json:"time"`
	Endpoint string    `json:"endpoint"` // "GET /api/users/{id}"
	Request  Request   `json:"request"`
	Legacy   Response  `json:"legacy"`
	// Candidate is the new service's answer.
	Candidate Response `json:"candidate"`
	// Secondary is a second legacy instance's answer, nil when there is none.
	Secondary *Response `json:"secondary,omitempty"`
	Outcome   Outcome   `json:"outcome"`
	// Differences between legacy and candidate (Noise marks those where
	// legacy and secondary disagree too).
	Differences []Difference `json:"differences,omitempty"`
	// NoisePatterns are the patterns at which secondary disagreed with
	// legacy: what noise detection learns from.
	NoisePatterns []string `json:"noise_patterns,omitempty"`
	// Error explains DiffError and CandidateError outcomes.
	Error string `json:"error_detail,omitempty"`
	// ServedBy is the side whose answer the client got (ServedByLegacy,
	// ServedByCandidate) on an endpoint in cutover; empty elsewhere.
	ServedBy string `json:"served_by,omitempty"`
	// Instance names the tandem that recorded it (its host by default).
	Instance string `json:"instance,omitempty"`
}

// The sides that serve a client (Exchange.ServedBy).
const (
	ServedByLegacy    = "legacy"
	ServedByCandidate = "candidate"
)

// Count adds N to a process-wide counter ("requests", "dropped", …).
type Count struct {
	Name string
	N    int64
}
