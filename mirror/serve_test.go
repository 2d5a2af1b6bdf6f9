package mirror_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
)

func mustRules(t *testing.T, yaml string) *rules.Set {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// side answers like the same service, saying in a header (which is not
// compared) which side it is.
func side(name string, seen *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen.add(r)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Side", name)
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	})
}

func TestServe_StickyBySampleKey(t *testing.T) {
	legacy := httptest.NewServer(side("legacy", nil))
	defer legacy.Close()
	cand := httptest.NewServer(side("candidate", nil))
	defer cand.Close()
	rec := newRecorder()
	rs := mustRules(t, `version: 1
endpoints:
  - match: GET /items/{id}
    sample: 0
    sample_by: header:X-User
    serve: 0.5
`)
	p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Rules: rs, Recorder: rec})

	const users, rounds = 40, 3
	sides := map[string]string{}
	served := 0
	for round := range rounds {
		for u := range users {
			user := fmt.Sprintf("user-%d", u)
			resp, body := get(t, "GET", fmt.Sprintf("%s/items/%d", addr, round), "", http.Header{"X-User": {user}})
			if resp.StatusCode != 200 || body != fmt.Sprintf(`{"path":"/items/%d"}`, round) {
				t.Fatalf("%s got %d %q", user, resp.StatusCode, body)
			}
			got := resp.Header.Get("X-Side")
			if prev, ok := sides[user]; ok && prev != got {
				t.Errorf("%s was served by %s, then by %s: a session must stay on one side", user, prev, got)
			}
			sides[user] = got
			if got == "candidate" {
				served++
			}
		}
	}
	if served == 0 || served == users*rounds {
		t.Fatalf("candidate served %d of %d requests at share 0.5", served, users*rounds)
	}
	// Every served request is compared (legacy gets its copy); legacy's
	// own are not, at sample 0.
	exs := rec.wait(t, served)
	for _, ex := range exs {
		if ex.ServedBy != tandem.ServedByCandidate || ex.Outcome != tandem.Match || ex.Legacy.Status != 200 ||
			ex.Legacy.Header.Get("X-Side") != "legacy" || ex.Candidate.Header.Get("X-Side") != "candidate" {
			t.Errorf("exchange served_by=%q outcome=%s legacy=%d %q candidate %q", ex.ServedBy, ex.Outcome, ex.Legacy.Status,
				ex.Legacy.Header.Get("X-Side"), ex.Candidate.Header.Get("X-Side"))
		}
	}
	var m strings.Builder
	p.WriteMetrics(&m)
	for _, line := range []string{
		fmt.Sprintf(`tandem_served_total{endpoint="GET /items/{id}",served_by="candidate"} %d`, served),
		`tandem_serve_share{endpoint="GET /items/{id}"} 0.5`,
	} {
		if !strings.Contains(m.String(), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
	c := p.Served()["GET /items/{id}"]
	if c.Candidate != int64(served) || c.Legacy != int64(users*rounds-served) || c.Fallback != 0 {
		t.Errorf("served counts %+v, want candidate %d legacy %d", c, served, users*rounds-served)
	}
}

func TestServeHash01_IndependentOfSampling(t *testing.T) {
	// At 10% each, the served and the sampled keys must not be the same
	// set: the candidate's users would never be shadowed the usual way.
	both, sampled := 0, 0
	for i := range 10000 {
		k := []byte(fmt.Sprintf("user-%d", i))
		if rules.Hash01(k) < 0.1 {
			sampled++
			if rules.ServeHash01(k) < 0.1 {
				both++
			}
		}
	}
	// Independent: about 10% of the sampled are served too (100 of 1000).
	if sampled < 900 || both < 50 || both > 150 {
		t.Errorf("sampled %d, of which served %d: want about 1000 and 100", sampled, both)
	}
}

// deadCandidate is an address nothing listens on.
func deadCandidate(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestServe_FallbackToLegacy(t *testing.T) {
	legacy := httptest.NewServer(side("legacy", nil))
	defer legacy.Close()
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer hanging.Close()
	defer close(hang) // first: Close waits for the hanging handlers
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer failing.Close()

	for _, tc := range []struct {
		name, candidate, rule string
		err                   bool // the exchange's candidate side is an error (no answer)
	}{
		{"Refused", deadCandidate(t), "", true},
		{"Timeout", hanging.URL, "", true},
		{"5xx", failing.URL, "\n    fallback_on_5xx: true", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			rs := mustRules(t, "version: 1\nendpoints:\n  - match: GET /items/{id}\n    sample: 0\n    serve: 1"+tc.rule+"\n")
			p, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, tc.candidate), Rules: rs,
				Recorder: rec, ServeTimeout: 100 * time.Millisecond})
			const n = 5
			for i := range n {
				resp, body := get(t, "GET", fmt.Sprintf("%s/items/%d", addr, i), "", nil)
				if resp.StatusCode != 200 || resp.Header.Get("X-Side") != "legacy" || body != fmt.Sprintf(`{"path":"/items/%d"}`, i) {
					t.Fatalf("request %d: client got %d from %q: %q, want legacy's answer", i, resp.StatusCode, resp.Header.Get("X-Side"), body)
				}
			}
			if c := p.Served()["GET /items/{id}"]; c.Fallback != n || c.Legacy != n || c.Candidate != 0 {
				t.Errorf("served counts %+v, want %d fallbacks", c, n)
			}
			for _, ex := range rec.wait(t, n) {
				if ex.ServedBy != tandem.ServedByLegacy || ex.Legacy.Status != 200 || (ex.Candidate.Err != "") != tc.err {
					t.Errorf("exchange served_by=%q outcome=%s legacy=%d candidate=%d %q", ex.ServedBy, ex.Outcome, ex.Legacy.Status, ex.Candidate.Status, ex.Candidate.Err)
				}
				if tc.err && ex.Outcome != tandem.CandidateError || !tc.err && ex.Candidate.Status != 503 {
					t.Errorf("exchange outcome %s candidate %d, want the candidate's failure compared", ex.Outcome, ex.Candidate.Status)
				}
			}
		})
	}
}

func TestServe_Writes(t *testing.T) {
	for _, tc := range []struct {
		name, rule           string
		candDown             bool
		wantLegacy, wantCand int
		wantStatus           int
		wantSide             string
	}{
		{"NotServedWithoutServeWrites", "", false, 1, 0, 200, "legacy"},
		{"ServedByCandidateAlone", "\n    serve_writes: true", false, 0, 1, 200, "candidate"},
		{"CandidateDownNeverRetriedOnLegacy", "\n    serve_writes: true", true, 0, 0, 502, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var legacySeen, candSeen seen
			legacy := httptest.NewServer(side("legacy", &legacySeen))
			defer legacy.Close()
			cand := httptest.NewServer(side("candidate", &candSeen))
			defer cand.Close()
			candURL := cand.URL
			if tc.candDown {
				candURL = deadCandidate(t)
			}
			rs := mustRules(t, "version: 1\nendpoints:\n  - match: POST /items\n    serve: 1"+tc.rule+"\n")
			_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, candURL), Rules: rs, Sample: 1})
			resp, _ := get(t, "POST", addr+"/items", `{"name":"x"}`, nil)
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("X-Side") != tc.wantSide {
				t.Errorf("client got %d from %q, want %d from %q", resp.StatusCode, resp.Header.Get("X-Side"), tc.wantStatus, tc.wantSide)
			}
			if l, c := len(legacySeen.list()), len(candSeen.list()); l != tc.wantLegacy || c != tc.wantCand {
				t.Errorf("legacy saw %d, candidate %d writes; want %d and %d (a write never reaches both)", l, c, tc.wantLegacy, tc.wantCand)
			}
		})
	}
}
