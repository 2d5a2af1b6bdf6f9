package mirror_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
)

// recorder collects what the proxy records. The store's Writer is tested on
// its own and end to end in cmd/tandem.
type recorder struct {
	mu     sync.Mutex
	ex     []*tandem.Exchange
	counts map[string]int64
	got    chan struct{}
}

func newRecorder() *recorder {
	return &recorder{counts: map[string]int64{}, got: make(chan struct{}, 10000)}
}

func (r *recorder) Record(ex *tandem.Exchange, _ []string) {
	r.mu.Lock()
	r.ex = append(r.ex, ex)
	r.mu.Unlock()
	r.got <- struct{}{}
}

// Stores says the recorder keeps everything, as --record all does.
func (r *recorder) Stores(tandem.Outcome) bool { return true }

// CountOnly collects what is only counted with the rest, marked.
func (r *recorder) CountOnly(ex *tandem.Exchange, redact []string) {
	ex.Error = "counted: " + ex.Error
	r.Record(ex, redact)
}

func (r *recorder) Add(counts ...tandem.Count) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range counts {
		r.counts[c.Name] += c.N
	}
}

func (r *recorder) wait(t *testing.T, n int) []*tandem.Exchange {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-r.got:
		case <-time.After(10 * time.Second):
			t.Fatalf("recorded %d exchanges, want %d", i, n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tandem.Exchange(nil), r.ex...)
}

// seen records what an upstream received.
type seen struct {
	mu   sync.Mutex
	reqs []string // "METHOD URI host=HOST body=BODY"
}

func (s *seen) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, fmt.Sprintf("%s %s host=%s body=%s", r.Method, r.RequestURI, r.Host, b))
	s.mu.Unlock()
}

func (s *seen) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.reqs...)
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// start runs a proxy on a loopback port and returns its address.
func start(t *testing.T, cfg mirror.Config) (*mirror.Proxy, string) {
	t.Helper()
	if cfg.Recorder == nil {
		cfg.Recorder = newRecorder()
	}
	p, err := mirror.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Shutdown(ctx)
	})
	return p, "http://" + ln.Addr().String()
}

func get(t *testing.T, method, u, body string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestProxy_ServesLegacyAndMirrors(t *testing.T) {
	var legacySeen, candSeen seen
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		legacySeen.add(r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Legacy", "yes")
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "connection-scoped")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"path":%q,"n":1}`, r.URL.Path)
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		candSeen.add(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"n":2,"path":%q}`, strings.TrimPrefix(r.URL.Path, "/v2"))
	}))
	defer cand.Close()
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL+"/v2"), Sample: 1, Recorder: rec})

	resp, body := get(t, "GET", addr+"/api/users/42?expand=1", "", http.Header{"X-Trace": {"t1"}})
	if resp.StatusCode != 201 || body != `{"path":"/api/users/42","n":1}` {
		t.Errorf("client got %d %q, want legacy's answer", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Legacy") != "yes" || resp.Header.Get("X-Hop") != "" {
		t.Errorf("headers: X-Legacy=%q (want yes), X-Hop=%q (hop-by-hop, want none)", resp.Header.Get("X-Legacy"), resp.Header.Get("X-Hop"))
	}
	exs := rec.wait(t, 1)
	ex := exs[0]
	if ex.Endpoint != "GET /api/users/{id}" || ex.Outcome != tandem.Mismatch {
		t.Errorf("exchange %s %s", ex.Endpoint, ex.Outcome)
	}
	if len(ex.Differences) != 1 || ex.Differences[0].Path != "$.n" {
		t.Errorf("differences %+v, want $.n only (key order does not count)", ex.Differences)
	}
	host := strings.TrimPrefix(addr, "http://")
	if got := candSeen.list(); len(got) != 1 || got[0] != "GET /v2/api/users/42?expand=1 host="+host+" body=" {
		t.Errorf("candidate saw %q", got)
	}
	if got := legacySeen.list(); len(got) != 1 || got[0] != "GET /api/users/42?expand=1 host="+host+" body=" {
		t.Errorf("legacy saw %q", got)
	}
	if s := p.Stats(); s.Requests != 1 || s.Mirrored != 1 || s.Mismatched != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestProxy_SideEffects(t *testing.T) {
	var candSeen seen
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(append([]byte("legacy:"), b...))
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		candSeen.add(r)
		b, _ := io.ReadAll(strings.NewReader("x"))
		w.Write(b)
	}))
	defer cand.Close()
	rs, err := rules.Parse("r.yaml", []byte("version: 1\nendpoints:\n  - match: POST /allowed\n    allow_side_effects: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Rules: rs, Recorder: rec})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		_, body := get(t, m, addr+"/orders", "payload", nil)
		if body != "legacy:payload" {
			t.Errorf("%s: client got %q", m, body)
		}
	}
	// A safe method that a method-override header turns into a write
	// (Rails, Express, Google's APIs honour them) is a write.
	for _, h := range []string{"X-HTTP-Method-Override", "x-http-method", "X-Method-Override"} {
		get(t, "GET", addr+"/orders/7", "", http.Header{h: {"DELETE"}})
	}
	get(t, "GET", addr+"/read", "", http.Header{"X-Http-Method-Override": {"GET"}}) // still a read
	get(t, "POST", addr+"/allowed", "exact body bytes", nil)
	rec.wait(t, 2)
	got := candSeen.list()
	slices.Sort(got)
	if len(got) != 2 || !strings.HasPrefix(got[0], "GET /read ") || !strings.HasPrefix(got[1], "POST /allowed ") || !strings.HasSuffix(got[1], "body=exact body bytes") {
		t.Errorf("candidate saw %q, want only the read and the allowed POST with its body", got)
	}
	if s := p.Stats(); s.Skipped != 7 {
		t.Errorf("skipped = %d, want 7", s.Skipped)
	}
}

func TestProxy_CandidateNeverDelaysClient(t *testing.T) {
	release := make(chan struct{})
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // blocks until the client has every answer
		w.Write([]byte("late"))
	}))
	defer cand.Close()
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free()
	rec := newRecorder()
	// The candidate timeout is far longer than the client's: a client that
	// waited on the candidate would give up (its own timeout is only a guard
	// against hanging the test, not a measure of speed).
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1,
		CandidateTimeout: 10 * time.Minute, Recorder: rec})
	client := &http.Client{Timeout: 30 * time.Second}
	for range 5 {
		resp, err := client.Get(addr + "/x")
		if err != nil {
			t.Fatalf("the client waited on the candidate: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("client got %q", b)
		}
	}
	free()
	// Then the candidate answers, and its late answers are compared.
	for _, ex := range rec.wait(t, 5) {
		if ex.Outcome != tandem.Mismatch || string(ex.Candidate.Body) != "late" {
			t.Errorf("outcome %s (candidate %q), want a mismatch with the late answer", ex.Outcome, ex.Candidate.Body)
		}
	}
}

// TestProxy_CandidateTimeout: a candidate slower than its timeout is a
// candidate_error; the client has legacy's answer regardless.
func TestProxy_CandidateTimeout(t *testing.T) {
	release := make(chan struct{})
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release // longer than the timeout: until the test ends
		w.Write([]byte("late"))
	}))
	defer cand.Close()
	defer close(release)
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1,
		CandidateTimeout: 200 * time.Millisecond, Recorder: rec})
	for range 5 {
		if _, body := get(t, "GET", addr+"/x", "", nil); body != "ok" {
			t.Fatalf("client got %q", body)
		}
	}
	for _, ex := range rec.wait(t, 5) {
		if ex.Outcome != tandem.CandidateError || ex.Candidate.Err != "timeout" {
			t.Errorf("outcome %s (%q), want a candidate timeout", ex.Outcome, ex.Candidate.Err)
		}
	}
	if s := p.Stats(); s.CandidateErrors != 5 {
		t.Errorf("candidate errors = %d, want 5", s.CandidateErrors)
	}
}

func TestProxy_LegacyDown(t *testing.T) {
	legacy := httptest.NewServer(http.NotFoundHandler())
	legacyURL := legacy.URL
	legacy.Close()
	cand := httptest.NewServer(http.NotFoundHandler())
	defer cand.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacyURL), Candidate: mustURL(t, cand.URL), Sample: 1})
	resp, body := get(t, "GET", addr+"/x", "", nil)
	if resp.StatusCode != 502 || !strings.Contains(body, "legacy is unavailable") {
		t.Errorf("client got %d %q, want a clean 502", resp.StatusCode, body)
	}
	if s := p.Stats(); s.LegacyErrors != 1 || s.Mirrored != 0 {
		t.Errorf("stats %+v: want one legacy error and nothing mirrored", s)
	}
}

func TestProxy_QueueFullDrops(t *testing.T) {
	block := make(chan struct{})
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer cand.Close()
	defer close(block)
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1,
		Workers: 1, QueueSize: 2, CandidateTimeout: 10 * time.Second})
	for range 20 {
		if _, body := get(t, "GET", addr+"/x", "", nil); body != "ok" {
			t.Fatalf("client got %q", body)
		}
	}
	s := p.Stats()
	// One copy is with the worker, two wait in the queue: the rest are dropped.
	if s.Dropped < 17 || s.Mirrored+s.Dropped != 20 {
		t.Errorf("mirrored %d, dropped %d: want at most 3 mirrored, every other copy dropped", s.Mirrored, s.Dropped)
	}
}

func TestProxy_NoOpenProxy(t *testing.T) {
	var legacySeen seen
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { legacySeen.add(r); w.Write([]byte("legacy")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.NotFoundHandler())
	defer cand.Close()
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 0})
	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET http://evil.example:1234/steal?x=1 HTTP/1.1\r\nHost: evil.example:1234\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "legacy" {
		t.Errorf("got %q: the request must go to legacy", b)
	}
	if got := legacySeen.list(); len(got) != 1 || !strings.HasPrefix(got[0], "GET /steal?x=1 ") {
		t.Errorf("legacy saw %q, want the origin-form target", got)
	}
}

func TestProxy_Sampling(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer cand.Close()
	rs, err := rules.Parse("r.yaml", []byte("version: 1\nendpoints:\n  - match: GET /by-user\n    sample: 0.5\n    sample_by: header:X-User\n"+
		"  - match: GET /by-tenant\n    sample: 0.5\n    sample_by: query:tenant\n"))
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 0, Rules: rs, Recorder: rec})
	for range 10 {
		get(t, "GET", addr+"/other", "", nil)
	}
	if s := p.Stats(); s.Mirrored != 0 || s.SampledOut != 10 {
		t.Errorf("--sample 0: mirrored %d, sampled out %d", s.Mirrored, s.SampledOut)
	}
	// The same user is always in, or always out, whatever the case of the
	// header's name; the same for a query parameter.
	for _, tt := range []struct {
		name string
		send func(key string, i int)
	}{
		{"header", func(user string, i int) {
			h := http.Header{"X-User": {user}}
			if i%2 == 1 {
				h = http.Header{"x-user": {user}} // sent as is, in lower case
			}
			get(t, "GET", addr+"/by-user", "", h)
		}},
		{"query", func(tenant string, i int) { get(t, "GET", addr+"/by-tenant?a=1&tenant="+tenant, "", nil) }},
	} {
		in := map[string]int{}
		for i := range 40 {
			key := fmt.Sprintf("key-%d", i%8)
			before := p.Stats().Mirrored
			tt.send(key, i/8)
			if p.Stats().Mirrored > before {
				in[key]++
			}
		}
		for key, n := range in {
			if n != 5 {
				t.Errorf("%s %s mirrored %d of 5 times: sampling by %s must be consistent", tt.name, key, n, tt.name)
			}
			if want := rules.Hash01([]byte(key)) < 0.5; !want {
				t.Errorf("%s %s mirrored, but its hash puts it out of the sample", tt.name, key)
			}
		}
		if len(in) == 0 || len(in) == 8 {
			t.Errorf("%d of 8 %s keys sampled at 0.5", len(in), tt.name)
		}
	}
}

// TestProxy_SampleFraction: --sample F mirrors about that fraction of the
// requests no rule samples. The bounds are seven standard deviations wide:
// a proxy that mirrored everything, nothing, or half would fall outside.
func TestProxy_SampleFraction(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer cand.Close()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 0.25})
	const n = 400
	for i := range n {
		get(t, "GET", fmt.Sprintf("%s/items/%d", addr, i), "", nil)
	}
	s := p.Stats()
	if s.Mirrored+s.SampledOut != n || s.Mirrored < 40 || s.Mirrored > 160 {
		t.Errorf("mirrored %d, sampled out %d of %d requests at --sample 0.25", s.Mirrored, s.SampledOut, n)
	}
}

func TestProxy_SecondaryNoise(t *testing.T) {
	n := 0
	var mu sync.Mutex
	id := func() int { mu.Lock(); defer mu.Unlock(); n++; return n }
	h := func(price int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"requestId":"r%d","price":%d}`, id(), price)
		}
	}
	legacy := httptest.NewServer(h(10))
	defer legacy.Close()
	secondary := httptest.NewServer(h(10))
	defer secondary.Close()
	cand := httptest.NewServer(h(10))
	defer cand.Close()
	bug := httptest.NewServer(h(11))
	defer bug.Close()
	for _, tt := range []struct {
		cand string
		want tandem.Outcome
	}{{cand.URL, tandem.Noise}, {bug.URL, tandem.Mismatch}} {
		rec := newRecorder()
		_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, tt.cand), Secondary: mustURL(t, secondary.URL), Sample: 1, Recorder: rec})
		get(t, "GET", addr+"/price", "", nil)
		ex := rec.wait(t, 1)[0]
		if ex.Outcome != tt.want || ex.Secondary == nil || len(ex.NoisePatterns) != 1 || ex.NoisePatterns[0] != "$.requestId" {
			t.Errorf("outcome %s, noise %v, want %s with $.requestId as noise", ex.Outcome, ex.NoisePatterns, tt.want)
		}
	}
}

func TestProxy_LargeBodies(t *testing.T) {
	big := strings.Repeat("a", 3000)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)) }))
	defer legacy.Close()
	same := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big)) }))
	defer same.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(big[:2999] + "b")) }))
	defer other.Close()
	for _, tt := range []struct {
		cand string
		want tandem.Outcome
	}{{same.URL, tandem.Match}, {other.URL, tandem.Mismatch}} {
		rec := newRecorder()
		_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, tt.cand), Sample: 1, MaxBody: 1000, Recorder: rec})
		if _, body := get(t, "GET", addr+"/big", "", nil); body != big {
			t.Fatalf("client got %d bytes, want all %d", len(body), len(big))
		}
		ex := rec.wait(t, 1)[0]
		if ex.Outcome != tt.want || !ex.Legacy.Truncated || !ex.Candidate.Truncated || len(ex.Candidate.Body) != 1000 || ex.Candidate.BodySize != 3000 {
			t.Errorf("outcome %s, truncated %v/%v, kept %d of %d: want %s compared by hash",
				ex.Outcome, ex.Legacy.Truncated, ex.Candidate.Truncated, len(ex.Candidate.Body), ex.Candidate.BodySize, tt.want)
		}
	}
}

func TestProxy_ShutdownDrains(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer cand.Close()
	rec := newRecorder()
	p, err := mirror.New(mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Workers: 2, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go p.Serve(ln)
	for range 20 {
		get(t, "GET", "http://"+ln.Addr().String()+"/x", "", nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// A second stop (a signal handler and a deferred stop, say) is harmless.
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ex) != 20 || rec.counts["requests"] != 20 {
		t.Errorf("after a clean stop: %d exchanges recorded, %d requests counted; want 20 and 20", len(rec.ex), rec.counts["requests"])
	}
}

func TestProxy_EncodedBodies(t *testing.T) {
	// Legacy answers encoded, the candidate plain: equal content is a
	// match, and the client still gets legacy's bytes, encoded as they were.
	body := []byte(`{"a":1,"b":[1,2,3]}`)
	for _, tt := range []struct {
		encoding string
		encode   func(dst, src []byte) []byte
	}{
		{"gzip", fasthttp.AppendGzipBytes},
		{"deflate", fasthttp.AppendDeflateBytes},
		{"br", fasthttp.AppendBrotliBytes},
		{"zstd", fasthttp.AppendZstdBytes},
	} {
		t.Run(tt.encoding, func(t *testing.T) {
			encoded := tt.encode(nil, body)
			legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", tt.encoding)
				w.Write(encoded)
			}))
			defer legacy.Close()
			cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"b":[1,2,3],"a":1}`))
			}))
			defer cand.Close()
			rec := newRecorder()
			_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec})
			if raw, enc := getEncoded(t, addr+"/z", tt.encoding); string(raw) != string(encoded) || enc != tt.encoding {
				t.Errorf("client got %q (%s), want legacy's encoded bytes", raw, enc)
			}
			ex := rec.wait(t, 1)[0]
			if ex.Outcome != tandem.Match || string(ex.Legacy.Body) != string(body) {
				t.Errorf("outcome %s, legacy body %q: want a match on the decoded body", ex.Outcome, ex.Legacy.Body)
			}
		})
	}
}

func TestProxy_DecompressionBomb(t *testing.T) {
	// 16 MiB of zeros gzip to a few KiB: decoding stops at MaxBody, and the
	// bodies are compared by the hash of their encoded bytes instead.
	bomb := fasthttp.AppendGzipBytes(nil, make([]byte, 16<<20))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb)
	})
	legacy := httptest.NewServer(h)
	defer legacy.Close()
	cand := httptest.NewServer(h)
	defer cand.Close()
	rec := newRecorder()
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, MaxBody: 1 << 20, Recorder: rec})
	if raw, _ := getEncoded(t, addr+"/bomb", "gzip"); len(raw) != len(bomb) {
		t.Errorf("client got %d bytes, want legacy's %d", len(raw), len(bomb))
	}
	ex := rec.wait(t, 1)[0]
	if ex.Outcome != tandem.Match || !ex.Legacy.Truncated || len(ex.Legacy.Body) > 1<<20 {
		t.Errorf("outcome %s, truncated %v, kept %d bytes", ex.Outcome, ex.Legacy.Truncated, len(ex.Legacy.Body))
	}
}

// TestProxy_HopByHopAnyCase: header names are case-insensitive (RFC 9110
// §5.1), and clients and servers other than Go's send them in lower case.
// Hop-by-hop fields go whatever their case, in both directions; the others
// reach the upstream and the client as they were sent.
func TestProxy_HopByHopAnyCase(t *testing.T) {
	var mu sync.Mutex
	var legacyGot, candGot []string
	names := func(dst *[]string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for k := range r.Header {
			*dst = append(*dst, strings.ToLower(k))
		}
		slices.Sort(*dst)
	}
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		names(&legacyGot, r)
		// Raw lower-case names, as a non-Go server writes them.
		w.Header()["keep-alive"] = []string{"timeout=5"}
		w.Header()["connection"] = []string{"x-resp-scoped"}
		w.Header()["x-resp-scoped"] = []string{"1"}
		w.Header()["upgrade"] = []string{"h2c"}
		w.Header()["x-legacy"] = []string{"kept"}
		w.Write([]byte("ok"))
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { names(&candGot, r) }))
	defer cand.Close()
	rec := newRecorder()
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec})
	conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /x HTTP/1.1\r\nHost: example\r\nconnection: x-conn-scoped\r\nX-CONN-SCOPED: 1\r\n"+
		"keep-alive: timeout=5\r\nproxy-authorization: Basic c2VjcmV0\r\nte: trailers\r\nupgrade: websocket\r\nx-kept: yes\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var clientGot []string
	for k := range resp.Header {
		clientGot = append(clientGot, strings.ToLower(k))
	}
	slices.Sort(clientGot)
	rec.wait(t, 1)
	mu.Lock()
	defer mu.Unlock()
	for _, tt := range []struct {
		who       string
		got, want []string
	}{
		// The forwarding headers are tandem's own (forward_test.go).
		{"legacy", legacyGot, []string{"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-kept"}},
		{"candidate", candGot, []string{"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-kept"}},
		{"client", clientGot, []string{"content-length", "content-type", "date", "x-legacy"}},
	} {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s got header fields %q, want %q", tt.who, tt.got, tt.want)
		}
	}
}

// A candidate that refuses connections is not dialled for every copy:
// after a few refusals its copies fail at once (still candidate errors),
// and it is tried again a second later, so that it is compared again as
// soon as it is back.
func TestProxy_CandidateDownBreaker(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "same") }))
	defer legacy.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	candAddr := ln.Addr().String()
	ln.Close() // refused from now on
	rec := newRecorder()
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, "http://"+candAddr),
		Sample: 1, Workers: 1, Recorder: rec})
	for range 20 {
		if _, body := get(t, "GET", addr+"/x", "", nil); body != "same" {
			t.Fatalf("client got %q", body)
		}
	}
	exs := rec.wait(t, 20)
	var dialled, failedFast int
	for _, ex := range exs {
		if ex.Outcome != tandem.CandidateError {
			t.Errorf("outcome %s, want candidate_error", ex.Outcome)
		}
		switch {
		case ex.Candidate.Err == "connection refused":
			dialled++
		case strings.HasPrefix(ex.Candidate.Err, "connection refused (the candidate refuses"):
			failedFast++
			if !strings.HasPrefix(ex.Error, "counted: ") {
				t.Errorf("a copy never sent was given to be stored")
			}
		default:
			t.Errorf("candidate error %q", ex.Candidate.Err)
		}
	}
	if dialled != 3 || failedFast != 17 {
		t.Errorf("%d copies dialled, %d failed at once; want 3 and 17", dialled, failedFast)
	}
	if s := p.Stats(); s.CandidateErrors != 20 || s.Compared != 20 {
		t.Errorf("stats %+v: want 20 candidate errors", s)
	}

	// The candidate comes back: within a second and a bit, copies reach it.
	cand, err := net.Listen("tcp", candAddr)
	if err != nil {
		t.Fatalf("listen on the candidate's port again: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "same") })}
	go srv.Serve(cand)
	defer srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		get(t, "GET", addr+"/x", "", nil)
		exs := rec.wait(t, 1)
		if exs[len(exs)-1].Outcome == tandem.Match {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the candidate is back but copies still fail: %q", exs[len(exs)-1].Candidate.Err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Hot-path discipline: serving and mirroring start no goroutine per
// request. After a first round of traffic has opened the connections it
// needs, ten times more traffic leaves the goroutine count where it was.
func TestProxy_NoGoroutinePerRequest(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"a":1}`) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"a":2}`) }))
	defer cand.Close()
	rec := newRecorder()
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Workers: 8, Recorder: rec})
	round := func(n int) int {
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range n / 4 {
					get(t, "GET", addr+"/x", "", nil)
				}
			}()
		}
		wg.Wait()
		rec.wait(t, n)
		time.Sleep(100 * time.Millisecond) // let finished handlers park
		return runtime.NumGoroutine()
	}
	before := round(40)
	after := round(400)
	if after > before+8 {
		t.Errorf("%d goroutines after 40 requests, %d after 400 more: a goroutine per request?", before, after)
	}
}

// selective stores only mismatches, as the store's default mode does.
type selective struct{ *recorder }

func (s selective) Stores(o tandem.Outcome) bool { return o != tandem.Match }

// Bodies are read into buffers that the proxy reuses: an exchange that is
// stored must keep its own bodies whatever comes after it, and one only
// counted is handed over without them.
func TestProxy_BodiesOwnedByStoredExchanges(t *testing.T) {
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"path":%q,"pad":%q}`, r.URL.Path, strings.Repeat("l", 2000))
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pad := "l"
		if strings.HasSuffix(r.URL.Path, "/odd") {
			pad = "c" // a mismatch
		}
		fmt.Fprintf(w, `{"path":%q,"pad":%q}`, r.URL.Path, strings.Repeat(pad, 2000))
	}))
	defer cand.Close()
	rec := selective{newRecorder()}
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Workers: 4, Recorder: rec})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				suffix := "even"
				if i%2 == 1 {
					suffix = "odd"
				}
				get(t, "GET", fmt.Sprintf("%s/r%d-%d/%s", addr, g, i, suffix), "", nil)
			}
		}()
	}
	wg.Wait()
	mismatches := 0
	for _, ex := range rec.wait(t, 200) {
		want := fmt.Sprintf(`{"path":%q`, ex.Request.Path())
		switch ex.Outcome {
		case tandem.Mismatch:
			mismatches++
			if !strings.HasPrefix(string(ex.Legacy.Body), want) || !strings.HasPrefix(string(ex.Candidate.Body), want) ||
				!strings.Contains(string(ex.Candidate.Body), "ccc") {
				t.Errorf("%s: stored bodies are another exchange's: %.40q / %.40q", ex.Request.URL, ex.Legacy.Body, ex.Candidate.Body)
			}
		case tandem.Match:
			if ex.Legacy.Body != nil || ex.Candidate.Body != nil {
				t.Errorf("%s: an exchange only counted came with its bodies", ex.Request.URL)
			}
		default:
			t.Errorf("%s: outcome %s", ex.Request.URL, ex.Outcome)
		}
	}
	if mismatches != 100 {
		t.Errorf("%d mismatches, want 100", mismatches)
	}
}
