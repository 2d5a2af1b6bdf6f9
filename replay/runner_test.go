package replay_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/demo"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

// service is a real HTTP server on loopback that records what it got.
type service struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

func serve(t *testing.T, h http.Handler) *service {
	t.Helper()
	s := &service{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.got = append(s.got, r.Clone(context.Background()))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *service) url(t *testing.T) *url.URL {
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (s *service) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.got {
		out = append(out, r.Method+" "+r.URL.RequestURI())
	}
	return out
}

// demoService is one of the demo's services (real recorded GitHub answers),
// answering HEAD as GET without the body, as a real server would.
func demoService(t *testing.T, role demo.Role) *service {
	t.Helper()
	svc, err := demo.NewService(role)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			r.Method = http.MethodGet // net/http drops the body of a HEAD answer
		}
		svc.ServeHTTP(w, r)
	}))
}

// mustDB opens a temporary database whose Writer is the runner's recorder.
func mustDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "replay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// run replays a file into a fresh database and returns the result and the
// stored exchanges by "METHOD URL".
func run(t *testing.T, path string, cfg replay.Config) (replay.Result, map[string]*tandem.Exchange, *store.DB) {
	t.Helper()
	db := mustDB(t)
	w := db.NewWriter(store.WriterConfig{Record: store.RecordAll, Source: "replay"})
	cfg.Recorder = w
	r, err := replay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := replay.Detect(path)
	if err != nil {
		t.Fatal(err)
	}
	src, err := replay.OpenFile(path, f, replay.Options{MaxBody: cfg.MaxBody})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res, err := r.Run(context.Background(), src)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	w.Close()
	got := map[string]*tandem.Exchange{}
	if err := db.Exchanges(context.Background(), store.Filter{}, func(ex *tandem.Exchange) error {
		got[ex.Request.Method+" "+ex.Request.URL] = ex
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return res, got, db
}

func outcomes(exs map[string]*tandem.Exchange) map[string]string {
	out := map[string]string{}
	for k, ex := range exs {
		var ps []string
		for _, d := range ex.Differences {
			if !d.Noise {
				ps = append(ps, d.Pattern)
			}
		}
		out[k] = strings.TrimSpace(string(ex.Outcome) + " " + strings.Join(ps, ","))
	}
	return out
}

// goldenRules are the demo's rules with legacy's own timestamp ignored:
// the demo's repository answers carry the time they were served, and in
// golden mode the recording is compared with an answer made at another
// time.
func goldenRules(t *testing.T) *rules.Set {
	t.Helper()
	rs, err := rules.Parse("golden.yaml", []byte(strings.Replace(string(demo.Rules),
		"compare_headers: [Content-Type, Location]", "compare_headers: [Content-Type, Location]\n  ignore: [\"$.updated_at\"]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestRunner_Golden replays a GoReplay capture of real GitHub traffic in
// golden mode: against the same service (everything matches) and against
// the demo's candidate rewrite (its deliberate bugs show).
func TestRunner_Golden(t *testing.T) {
	const searchURL = "GET /search/issues?q=sesame%20repo%3Aoctokit-fixture-org%2Ftmp-scenario-search-issues-20220719044045959-jlcli"
	tests := []struct {
		name string
		role demo.Role
		want map[string]string
	}{
		{name: "Equal", role: demo.Legacy, want: map[string]string{
			"GET /repos/octokit-fixture-org/hello-world": "match",
			"GET /orgs/octokit-fixture-org":              "match",
			searchURL:                                    "match",
			"HEAD /repos/octokit-fixture-org/hello-world/contents/README.md": "match",
		}},
		{name: "Changed", role: demo.Candidate, want: map[string]string{
			"GET /repos/octokit-fixture-org/hello-world": "mismatch $.open_issues_count",
			"GET /orgs/octokit-fixture-org":              "mismatch $.archived",
			searchURL:                                    "match",
			"HEAD /repos/octokit-fixture-org/hello-world/contents/README.md": "match",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand := demoService(t, tt.role)
			res, got, db := run(t, "testdata/github.gor", replay.Config{Candidate: cand.url(t), Rules: goldenRules(t)})
			if d := cmp.Diff(tt.want, outcomes(got)); d != "" {
				t.Errorf("outcomes (-want +got):\n%s", d)
			}
			if res.Get(tandem.Requests) != 6 || res.Get(tandem.Skipped) != 1 || res.Get(tandem.Unrecorded) != 1 || res.Get(tandem.Comparisons) != 4 {
				t.Errorf("result %+v: want 6 records, 1 POST and 1 unanswered request skipped, 4 compared", res)
			}
			want := map[string]replay.Skips{"POST /markdown": {SideEffects: 1}, "GET /notifications": {Unrecorded: 1}}
			if d := cmp.Diff(want, res.Skipped); d != "" {
				t.Errorf("skipped (-want +got):\n%s", d)
			}
			// A write is never sent without allow_side_effects.
			for _, r := range cand.requests() {
				if strings.HasPrefix(r, "POST") {
					t.Errorf("the candidate got %s", r)
				}
			}
			rep, err := db.Report(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Totals.Requests != 6 || rep.Totals.Skipped != 1 || rep.Totals.Compared != 4 {
				t.Errorf("stored totals %+v: want 6 requests, 1 skipped (the POST), 4 compared", rep.Totals)
			}
		})
	}
}

// TestRunner_Live sends each request of a browser's HAR export to a live
// legacy, a second legacy instance and the candidate.
func TestRunner_Live(t *testing.T) {
	legacy, secondary, cand := demoService(t, demo.Legacy), demoService(t, demo.Secondary), demoService(t, demo.Candidate)
	rs, err := rules.Parse("demo.yaml", demo.Rules)
	if err != nil {
		t.Fatal(err)
	}
	res, got, _ := run(t, "testdata/github.har", replay.Config{Legacy: legacy.url(t), Secondary: secondary.url(t),
		Candidate: cand.url(t), Rules: rs, Concurrency: 1})
	repo := got["GET /repos/octokit-fixture-org/hello-world"]
	if repo == nil || repo.Outcome != tandem.Mismatch || !slices.Contains(repo.NoisePatterns, "$.updated_at") {
		t.Fatalf("repository: %+v; want a mismatch, with legacy's own timestamp as noise", repo)
	}
	if d := cmp.Diff("mismatch $.open_issues_count", outcomes(got)["GET /repos/octokit-fixture-org/hello-world"]); d != "" {
		t.Error(d)
	}
	// Live mode needs no recorded answer: the blocked request is compared too.
	if ex := got["GET /notifications?all=false"]; ex == nil || ex.Outcome != tandem.Match || ex.Legacy.Status != 404 {
		t.Errorf("notifications: %+v; want legacy's live 404, matched", ex)
	}
	if res.Get(tandem.Skipped) != 1 || res.Get(tandem.Unrecorded) != 0 || res.Get(tandem.Comparisons) != 9 {
		t.Errorf("result %+v: want 9 compared and the POST skipped", res)
	}
	for _, s := range []*service{legacy, secondary, cand} {
		if n := len(s.requests()); n != 9 {
			t.Errorf("a service got %d requests, want 9: %q", n, s.requests())
		}
	}
}

// ndjson writes exchanges as an NDJSON file.
func ndjson(t *testing.T, exs ...*tandem.Exchange) string {
	t.Helper()
	var b bytes.Buffer
	for _, ex := range exs {
		if err := replay.WriteNDJSON(&b, ex); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(t.TempDir(), "traffic.ndjson")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func recorded(method, target string, status int, body string, h ...tandem.Header) *tandem.Exchange {
	return &tandem.Exchange{
		Request: tandem.Request{Method: method, URL: target, Host: "api.example.com", Header: h},
		Legacy:  tandem.Response{Status: status, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(body)},
	}
}

func TestRunner_Headers(t *testing.T) {
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{}`)
	}))
	path := ndjson(t, recorded("GET", "/me?page=2", 200, `{}`,
		tandem.Header{Name: "Authorization", Value: store.Redacted},
		tandem.Header{Name: "X-Api-Key", Value: store.Redacted},
		tandem.Header{Name: "Connection", Value: "keep-alive"},
		tandem.Header{Name: "Transfer-Encoding", Value: "chunked"},
		tandem.Header{Name: "Content-Length", Value: "99"},
		tandem.Header{Name: "X-Trace", Value: "t-1"},
	))
	tests := []struct {
		name        string
		rewriteHost bool
		wantHost    string
	}{
		{name: "RecordedHost", wantHost: "api.example.com"},
		{name: "RewriteHost", rewriteHost: true, wantHost: strings.TrimPrefix(cand.URL, "http://")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand.mu.Lock()
			cand.got = nil
			cand.mu.Unlock()
			res, _, _ := run(t, path, replay.Config{Candidate: cand.url(t), RewriteHost: tt.rewriteHost,
				Header: tandem.Headers{{Name: "Authorization", Value: "Bearer real-token"}}})
			if res.Get(tandem.Match) != 1 {
				t.Fatalf("result %+v: want 1 match", res)
			}
			r := cand.got[0]
			want := map[string]string{"Host": tt.wantHost, "Authorization": "Bearer real-token", "X-Api-Key": "",
				"X-Trace": "t-1", "URI": "/me?page=2", "Transfer-Encoding": "", "Content-Length": "0"}
			gotH := map[string]string{"Host": r.Host, "Authorization": r.Header.Get("Authorization"), "X-Api-Key": r.Header.Get("X-Api-Key"),
				"X-Trace": r.Header.Get("X-Trace"), "URI": r.RequestURI, "Transfer-Encoding": strings.Join(r.TransferEncoding, ","),
				"Content-Length": fmt.Sprint(r.ContentLength)}
			if d := cmp.Diff(want, gotH); d != "" {
				t.Errorf("the candidate got (-want +got):\n%s", d)
			}
		})
	}
}

func TestRunner_Bodies(t *testing.T) {
	big := bytes.Repeat([]byte(`{"n":12345678},`), 100) // 1500 bytes, over the 1000-byte cap
	sum := sha256.Sum256(big)
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big", "/big-changed":
			b := big
			if r.URL.Path == "/big-changed" {
				b = bytes.Replace(big, []byte("1"), []byte("9"), 1)
			}
			w.Header()["Content-Type"] = nil // as recorded: none (net/http would sniff one)
			w.Write(b)
		case "/gzip":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write([]byte(`{"a":[1,2,3]}`))
			zw.Close()
		}
	}))
	truncated := func(path string) *tandem.Exchange {
		ex := recorded("GET", path, 200, string(big[:1000]))
		ex.Legacy.Header = nil
		ex.Legacy.Truncated, ex.Legacy.BodySize, ex.Legacy.BodyHash = true, int64(len(big)), hex.EncodeToString(sum[:])
		return ex
	}
	path := ndjson(t, truncated("/big"), truncated("/big-changed"), recorded("GET", "/gzip", 200, `{"a":[1,2,4]}`))
	_, got, _ := run(t, path, replay.Config{Candidate: cand.url(t), MaxBody: 1000})
	want := map[string]string{
		"GET /big":         "match",
		"GET /big-changed": "mismatch body",
		"GET /gzip":        "mismatch $.a[*]",
	}
	if d := cmp.Diff(want, outcomes(got)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	if c := got["GET /big"].Candidate; !c.Truncated || c.BodySize != 1500 || len(c.Body) != 1000 {
		t.Errorf("the candidate's big answer: truncated %v, size %d, %d bytes kept; want true, 1500, 1000", c.Truncated, c.BodySize, len(c.Body))
	}
}

func TestRunner_CandidateDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	u, _ := url.Parse("http://" + addr)
	res, got, _ := run(t, ndjson(t, recorded("GET", "/a", 200, `{}`), recorded("GET", "/b", 200, `{}`)),
		replay.Config{Candidate: u, Timeout: 2 * time.Second})
	if res.Get(tandem.CandidateError) != 2 || got["GET /a"].Candidate.Err == "" {
		t.Errorf("result %+v: want 2 candidate errors", res)
	}
	// Why, for the reports, which only count them.
	want := map[string]string{"GET /a": "connection refused", "GET /b": "connection refused"}
	if d := cmp.Diff(want, res.Errors); d != "" {
		t.Errorf("errors (-want +got):\n%s", d)
	}
}

// TestRunner_Ordered checks that, with Ordered, each endpoint's requests
// reach the candidate in the recorded order, even though the candidate
// answers them after random delays and requests run concurrently.
func TestRunner_Ordered(t *testing.T) {
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		fmt.Fprint(w, `{}`)
	}))
	var exs []*tandem.Exchange
	for i := range 30 {
		for _, ep := range []string{"a", "b", "c", "d"} {
			exs = append(exs, recorded("GET", fmt.Sprintf("/%s?i=%02d", ep, i), 200, `{}`))
		}
	}
	res, _, _ := run(t, ndjson(t, exs...), replay.Config{Candidate: cand.url(t), Ordered: true, Concurrency: 8})
	if res.Get(tandem.Comparisons) != 120 {
		t.Fatalf("compared %d, want 120", res.Get(tandem.Comparisons))
	}
	seen := map[string][]string{}
	for _, r := range cand.requests() {
		ep, _, _ := strings.Cut(r, "?")
		seen[ep] = append(seen[ep], r)
	}
	for ep, rs := range seen {
		if !slices.IsSorted(rs) {
			t.Errorf("%s: requests reached the candidate out of order: %q", ep, rs)
		}
	}
}

func TestRunner_Invalid(t *testing.T) {
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // as recorded: none
		fmt.Fprint(w, "fine")
	}))
	t.Run("SkipInvalid", func(t *testing.T) {
		res, _, _ := run(t, "testdata/bad.ndjson", replay.Config{Candidate: cand.url(t), SkipInvalid: true})
		if res.Invalid != 9 || res.Get(tandem.Requests) != 1 || res.Get(tandem.Match) != 1 {
			t.Errorf("result %+v: want 9 invalid records skipped and 1 matched", res)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		db := mustDB(t)
		w := db.NewWriter(store.WriterConfig{})
		defer w.Close()
		r, err := replay.New(replay.Config{Candidate: cand.url(t), Recorder: w})
		if err != nil {
			t.Fatal(err)
		}
		src, err := replay.OpenFile("testdata/bad.ndjson", replay.NDJSON, replay.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		_, err = r.Run(context.Background(), src)
		var inv *replay.InvalidError
		if !errors.As(err, &inv) || inv.N != 1 {
			t.Errorf("Run error %v, want the invalid line 1", err)
		}
	})
}

func TestNew_Err(t *testing.T) {
	w := mustDB(t).NewWriter(store.WriterConfig{})
	defer w.Close()
	u := func(s string) *url.URL { v, _ := url.Parse(s); return v }
	tests := []struct {
		name string
		cfg  replay.Config
		err  string
	}{
		{"NoCandidate", replay.Config{Recorder: w}, "a candidate is required"},
		{"NoRecorder", replay.Config{Candidate: u("http://127.0.0.1:1")}, "a Recorder is required"},
		{"BadScheme", replay.Config{Candidate: u("ftp://127.0.0.1:1"), Recorder: w}, "want http://host:port"},
		{"BadLegacy", replay.Config{Candidate: u("http://127.0.0.1:1"), Legacy: u("http://"), Recorder: w}, "want http://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := replay.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("New error %v, want %q", err, tt.err)
			}
		})
	}
}

// TestRunner_SideEffects checks that unsafe methods follow the rules: sent
// (with their body) where an endpoint rule sets allow_side_effects, and
// otherwise never sent and counted as skipped.
func TestRunner_SideEffects(t *testing.T) {
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"got":%q}`, body)
	}))
	rs, err := rules.Parse("rules.yaml", []byte("version: 1\nendpoints:\n"+
		"  - match: POST /orders\n    allow_side_effects: true\n"+
		"  - match: DELETE /orders/{id}\n"))
	if err != nil {
		t.Fatal(err)
	}
	post := recorded("POST", "/orders", 200, `{"got":"{\"n\":1}"}`)
	post.Request.Body = []byte(`{"n":1}`)
	override := recorded("GET", "/orders/8", 204, "")
	override.Request.Header = tandem.Headers{{Name: "x-http-method-override", Value: "DELETE"}}
	path := ndjson(t, post, recorded("DELETE", "/orders/7", 204, ""), recorded("PUT", "/carts/1", 200, `{}`),
		recorded("GET", "/orders", 200, `{"got":""}`), override)
	res, got, _ := run(t, path, replay.Config{Candidate: cand.url(t), Rules: rs})
	want := map[string]string{"POST /orders": "match", "GET /orders": "match"}
	if d := cmp.Diff(want, outcomes(got)); d != "" {
		t.Errorf("outcomes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"GET /orders", "POST /orders"}, sorted(cand.requests())); d != "" {
		t.Errorf("the candidate got (-want +got):\n%s", d)
	}
	// The GET that a method-override header makes a DELETE is not sent.
	wantSkipped := map[string]replay.Skips{"DELETE /orders/{id}": {SideEffects: 1}, "PUT /carts/{id}": {SideEffects: 1},
		"GET /orders/{id}": {SideEffects: 1}}
	if d := cmp.Diff(wantSkipped, res.Skipped); d != "" || res.Get(tandem.Skipped) != 3 {
		t.Errorf("skipped %d (-want +got):\n%s", res.Get(tandem.Skipped), d)
	}
}

func sorted(ss []string) []string {
	slices.Sort(ss)
	return ss
}

// TestRunner_Concurrency checks that at most Concurrency requests are in
// flight, and that as many are: the candidate holds every request until
// that many have arrived together.
func TestRunner_Concurrency(t *testing.T) {
	const conc = 4
	var mu sync.Mutex
	inFlight, most := 0, 0
	all := make(chan struct{})
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == conc {
			select {
			case <-all:
			default:
				close(all)
			}
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(10 * time.Second): // fewer in flight than conc: the check below fails
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		fmt.Fprint(w, `{}`)
	}))
	var exs []*tandem.Exchange
	for i := range 3 * conc {
		exs = append(exs, recorded("GET", fmt.Sprintf("/item/%d", i), 200, `{}`))
	}
	res, _, _ := run(t, ndjson(t, exs...), replay.Config{Candidate: cand.url(t), Concurrency: conc})
	if res.Get(tandem.Comparisons) != 3*conc {
		t.Fatalf("compared %d, want %d", res.Get(tandem.Comparisons), 3*conc)
	}
	if most != conc {
		t.Errorf("at most %d requests were in flight at once, want %d", most, conc)
	}
}

// TestRunner_Rate checks that requests start no faster than Rate: n
// requests at r per second take at least (n-1)/r seconds, however fast the
// candidate answers.
func TestRunner_Rate(t *testing.T) {
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{}`) }))
	var exs []*tandem.Exchange
	for i := range 6 {
		exs = append(exs, recorded("GET", fmt.Sprintf("/item/%d", i), 200, `{}`))
	}
	res, _, _ := run(t, ndjson(t, exs...), replay.Config{Candidate: cand.url(t), Concurrency: 8, Rate: 20})
	if res.Get(tandem.Comparisons) != 6 {
		t.Fatalf("compared %d, want 6", res.Get(tandem.Comparisons))
	}
	if res.Elapsed < 250*time.Millisecond {
		t.Errorf("6 requests at 20/s took %s, want at least 250ms", res.Elapsed)
	}
}

// TestRunner_GoldenSecondary checks golden mode with a live secondary:
// where the secondary disagrees with the recording, the candidate's
// differences are noise; elsewhere they are mismatches.
func TestRunner_GoldenSecondary(t *testing.T) {
	answer := func(id, at string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%s,"at":%q}`, id, at)
		})
	}
	secondary := serve(t, answer("1", "t1"))
	tests := []struct {
		name, id, want string
	}{
		{name: "Noise", id: "1", want: "noise"},
		{name: "Mismatch", id: `"1"`, want: "mismatch $.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cand := serve(t, answer(tt.id, "t2"))
			res, got, _ := run(t, ndjson(t, recorded("GET", "/thing", 200, `{"id":1,"at":"t0"}`)),
				replay.Config{Candidate: cand.url(t), Secondary: secondary.url(t)})
			if d := cmp.Diff(map[string]string{"GET /thing": tt.want}, outcomes(got)); d != "" {
				t.Errorf("outcomes (-want +got):\n%s", d)
			}
			if ex := got["GET /thing"]; ex == nil || !slices.Contains(ex.NoisePatterns, "$.at") {
				t.Errorf("noise patterns of %+v: want $.at", ex)
			}
			if res.Get(tandem.Comparisons) != 1 {
				t.Errorf("compared %d, want 1", res.Get(tandem.Comparisons))
			}
		})
	}
}

// TestRunner_LegacyDown checks live mode when legacy gives no answer: the
// proxy's client would have had a 502, so nothing is compared or stored,
// and the failure is counted with its reason.
func TestRunner_LegacyDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down, _ := url.Parse("http://" + ln.Addr().String())
	ln.Close()
	cand := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{}`) }))
	res, got, db := run(t, ndjson(t, recorded("GET", "/a", 200, `{}`), recorded("GET", "/b", 200, `{}`)),
		replay.Config{Candidate: cand.url(t), Legacy: down, Timeout: 2 * time.Second})
	if res.Get(tandem.LegacyError) != 2 || res.Get(tandem.Comparisons) != 0 || len(got) != 0 || res.LegacyError != "connection refused" {
		t.Errorf("result %+v, %d stored: want 2 legacy errors (connection refused), nothing compared or stored", res, len(got))
	}
	rep, err := db.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.LegacyErrors != 2 || rep.Totals.Requests != 2 {
		t.Errorf("stored totals %+v: want 2 requests, 2 legacy errors", rep.Totals)
	}
}
