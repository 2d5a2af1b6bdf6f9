package replay_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/upstream"
	"github.com/tandemproxy/tandem/upstream/upstreamtest"
)

// A replay to https:// services: live legacy and the candidate over TLS,
// one requiring a client certificate; without the CA, or without the
// certificate, the run says which service refused and why.
func TestRunner_TLS(t *testing.T) {
	dir := t.TempDir()
	ca, clients := upstreamtest.NewCA(t, "tandem-test"), upstreamtest.NewCA(t, "clients")
	caFile := ca.File(t, dir)
	certFile, keyFile := clients.Issue(t, "tandem").Files(t, dir)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"ok":true}`)) })
	legacy := upstreamtest.Server(t, ca, nil, h)
	cand := upstreamtest.Server(t, ca, clients, h)
	lu, _ := url.Parse(legacy.URL)
	cu, _ := url.Parse(cand.URL)
	src := ndjson(t, recorded("GET", "/a", 200, `{"ok":true}`))
	trusted := upstream.TLSOptions{CAFile: caFile}
	mtls := upstream.TLSOptions{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}

	for _, tt := range []struct {
		name            string
		legacyTLS, cand upstream.TLSOptions
		wantLegacyErr   string
		wantCandErr     string
	}{
		{"OK", trusted, mtls, "", ""},
		{"legacy untrusted", upstream.TLSOptions{}, mtls, "TLS: legacy's certificate is signed by an authority not trusted", ""},
		{"no client certificate", trusted, trusted, "", "TLS: candidate refused the handshake"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, got, _ := run(t, src, replay.Config{Legacy: lu, Candidate: cu, Timeout: 5 * time.Second,
				LegacyTLS: tt.legacyTLS, CandidateTLS: tt.cand})
			switch {
			case tt.wantLegacyErr != "":
				if res.Get(tandem.LegacyError) != 1 || !strings.Contains(res.LegacyError, tt.wantLegacyErr) {
					t.Errorf("legacy errors %d (%q), want one saying %q", res.Get(tandem.LegacyError), res.LegacyError, tt.wantLegacyErr)
				}
			case tt.wantCandErr != "":
				ex := got["GET /a"]
				if ex == nil || ex.Outcome != tandem.CandidateError || !strings.Contains(ex.Candidate.Err, tt.wantCandErr) {
					t.Errorf("exchange %+v, want a candidate error saying %q", ex, tt.wantCandErr)
				}
			default:
				if res.Get(tandem.Match) != 1 {
					t.Errorf("result %+v, want one match over TLS", res)
				}
			}
		})
	}
}
