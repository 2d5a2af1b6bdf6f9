// Package demo holds what `tandem demo` runs: a sample legacy service that
// answers with real recorded GitHub API traffic, a candidate rewrite of it
// with realistic deliberate differences, and the traffic to send through
// the proxy.
package demo

import (
	"bytes"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tandemproxy/tandem"
)

//go:embed fixtures/*.json
var fixtureFS embed.FS

// Rules is the demo's rules file.
//
//go:embed rules.yaml
var Rules []byte

// Recorded is one exchange of the fixtures.
type Recorded struct {
	Scenario  string
	Method    string // upper case
	Path      string // with query
	ReqBody   string
	ReqHeader tandem.Headers
	Status    int
	Header    tandem.Headers
	Body      []byte
}

type nockExchange struct {
	Method           string          `json:"method"`
	Path             string          `json:"path"`
	Body             json.RawMessage `json:"body"`
	Status           int             `json:"status"`
	Response         json.RawMessage `json:"response"`
	RawHeaders       []string        `json:"rawHeaders"`
	ReqHeaders       map[string]any  `json:"reqheaders"`
	ResponseIsBinary bool            `json:"responseIsBinary"`
}

// Fixtures returns every recorded exchange, in file and recording order.
func Fixtures() ([]Recorded, error) {
	names, err := fixtureFS.ReadDir("fixtures")
	if err != nil {
		return nil, err
	}
	var out []Recorded
	for _, n := range names {
		if !strings.HasSuffix(n.Name(), ".json") {
			continue
		}
		data, err := fixtureFS.ReadFile("fixtures/" + n.Name())
		if err != nil {
			return nil, err
		}
		var exs []nockExchange
		if err := json.Unmarshal(data, &exs); err != nil {
			return nil, fmt.Errorf("fixture %s: %w", n.Name(), err)
		}
		for i, e := range exs {
			r := Recorded{Scenario: strings.TrimSuffix(n.Name(), ".json"), Method: strings.ToUpper(e.Method), Path: e.Path, Status: e.Status}
			r.ReqBody = rawString(e.Body)
			for k, v := range e.ReqHeaders {
				r.ReqHeader = append(r.ReqHeader, tandem.Header{Name: k, Value: fmt.Sprint(v)})
			}
			sort.Slice(r.ReqHeader, func(a, b int) bool { return r.ReqHeader[a].Name < r.ReqHeader[b].Name })
			for k := 0; k+1 < len(e.RawHeaders); k += 2 {
				r.Header = append(r.Header, tandem.Header{Name: e.RawHeaders[k], Value: e.RawHeaders[k+1]})
			}
			switch {
			case e.ResponseIsBinary:
				var s string
				json.Unmarshal(e.Response, &s)
				if r.Body, err = hex.DecodeString(s); err != nil {
					return nil, fmt.Errorf("fixture %s #%d: binary body: %w", n.Name(), i, err)
				}
			case len(e.Response) > 0 && e.Response[0] == '"':
				r.Body = []byte(rawString(e.Response))
			default:
				var b bytes.Buffer
				if err := json.Compact(&b, e.Response); err != nil {
					return nil, fmt.Errorf("fixture %s #%d: %w", n.Name(), i, err)
				}
				r.Body = b.Bytes()
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// rawString returns a JSON string's value, or the raw JSON of anything else.
func rawString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Role says which service to build.
type Role int

// Roles. Legacy and Secondary answer alike (apart from what legacy itself
// varies per request); Candidate is the rewrite under test.
const (
	Legacy Role = iota
	Secondary
	Candidate
)

// Service is a demo upstream.
type Service struct {
	role    Role
	routes  map[string]Recorded
	counter atomic.Int64
	now     func() time.Time
}

// NewService builds a service answering the recorded GET requests (and
// POST /markdown) as the role dictates.
func NewService(role Role) (*Service, error) {
	recs, err := Fixtures()
	if err != nil {
		return nil, err
	}
	s := &Service{role: role, routes: map[string]Recorded{}, now: time.Now}
	for _, r := range recs {
		if r.Method == http.MethodGet || r.Path == "/markdown" {
			s.routes[r.Method+" "+r.Path] = r
		}
	}
	return s, nil
}

var updatedAt = regexp.MustCompile(`"updated_at":"[^"]*"`)

// skipHeaders are recorded headers a live service would set itself.
var skipHeaders = []string{"Content-Length", "Connection", "Transfer-Encoding"}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.counter.Add(1)
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet // net/http sends the headers only
	}
	rec, ok := s.routes[method+" "+r.URL.RequestURI()]
	if !ok {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`))
		return
	}
	body := rec.Body
	route := routeOf(rec.Path)
	// Legacy stamps repositories with the time it served them: the value
	// differs between any two answers, legacy's own included. That is noise.
	if route == "repository" || route == "repositoryByID" {
		body = updatedAt.ReplaceAll(body, []byte(`"updated_at":"`+s.now().UTC().Format(time.RFC3339Nano)+`"`))
	}
	if s.role == Candidate {
		var drop bool
		seq, err := strconv.ParseInt(r.Header.Get(seqHeader), 10, 64)
		if err != nil {
			seq = -1 // not the demo's traffic: never dropped
		}
		body, drop = candidateChanges(route, body, seq)
		if drop {
			// A candidate bug that kills the connection: a candidate error.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
	}
	for _, h := range rec.Header {
		if slices.ContainsFunc(skipHeaders, func(s string) bool { return strings.EqualFold(s, h.Name) }) {
			continue
		}
		w.Header().Add(h.Name, h.Value)
	}
	w.Header().Set("X-GitHub-Request-Id", fmt.Sprintf("%04X:%04X:%07X", rand.IntN(1<<16), rand.IntN(1<<16), n))
	w.WriteHeader(rec.Status)
	w.Write(body)
}

// routeOf names the demo's routes.
func routeOf(p string) string {
	p, _, _ = strings.Cut(p, "?")
	switch {
	case p == "/repos/octokit-fixture-org/hello-world":
		return "repository"
	case strings.HasPrefix(p, "/repositories/") && strings.Count(p, "/") == 2:
		return "repositoryByID"
	case strings.HasPrefix(p, "/orgs/") && strings.Count(p, "/") == 2:
		return "organization"
	case strings.HasSuffix(p, "/labels"):
		return "labels"
	case strings.HasPrefix(p, "/repositories/") && strings.HasSuffix(p, "/issues"):
		return "issues"
	case strings.HasSuffix(p, "/contents/"):
		return "contents"
	}
	return path.Base(p)
}

// candidateChanges are the rewrite's deliberate differences:
//   - a real bug: the repository's open_issues_count becomes a string;
//   - another: page 2 of the issues loses its last issue;
//   - a reordered list: labels come sorted the other way;
//   - an added field: organizations gain "archived";
//   - a directory listing drops the connection for every fifth request of
//     the demo's traffic (by its sequence number, seqHeader, so that runs
//     are repeatable).
func candidateChanges(route string, body []byte, seq int64) ([]byte, bool) {
	edit := func(f func(v any) any) []byte {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return body
		}
		out, err := json.Marshal(f(v))
		if err != nil {
			return body
		}
		return out
	}
	switch route {
	case "repository":
		return edit(func(v any) any {
			if m, ok := v.(map[string]any); ok {
				m["open_issues_count"] = fmt.Sprint(m["open_issues_count"])
			}
			return v
		}), false
	case "organization":
		return edit(func(v any) any {
			if m, ok := v.(map[string]any); ok {
				m["archived"] = false
			}
			return v
		}), false
	case "labels":
		return edit(func(v any) any {
			if a, ok := v.([]any); ok {
				slices.Reverse(a)
			}
			return v
		}), false
	case "issues":
		return edit(func(v any) any {
			if a, ok := v.([]any); ok && len(a) > 0 {
				if first, ok := a[0].(map[string]any); ok && fmt.Sprint(first["number"]) == "10" {
					return a[:len(a)-1]
				}
			}
			return v
		}), false
	case "contents":
		return body, seq%5 == 4
	}
	return body, false
}

// seqHeader numbers the demo's requests.
const seqHeader = "X-Demo-Seq"

// Request is one request of the demo traffic.
type Request struct {
	Method string
	Path   string
	Body   string
	Header tandem.Headers
}

// Traffic returns n requests drawn (deterministically, from seed) from the
// recorded GET requests, with a few POSTs that must not be mirrored.
func Traffic(n int, seed uint64) ([]Request, error) {
	recs, err := Fixtures()
	if err != nil {
		return nil, err
	}
	var gets []Recorded
	seen := map[string]bool{}
	for _, r := range recs {
		if r.Method == http.MethodGet && !seen[r.Path] {
			seen[r.Path] = true
			gets = append(gets, r)
		}
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Request, 0, n)
	for i := 0; i < n; i++ {
		h := tandem.Headers{
			{Name: "Accept", Value: "application/vnd.github.v3+json"},
			{Name: "Authorization", Value: "token 0000000000000000000000000000000000000001"},
			{Name: seqHeader, Value: strconv.Itoa(i)},
		}
		if i%10 == 9 {
			out = append(out, Request{Method: http.MethodPost, Path: "/markdown", Body: `{"text":"# hello","mode":"markdown"}`, Header: h})
			continue
		}
		r := gets[rng.IntN(len(gets))]
		out = append(out, Request{Method: r.Method, Path: r.Path, Header: h})
	}
	return out, nil
}
