package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/replay"
	"github.com/tandemproxy/tandem/upstream/upstreamtest"
)

// syncBuffer is a bytes.Buffer safe for a command writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// `tandem proxy` with https:// upstreams: legacy's CA, the candidate's CA
// and client certificate (it requires one), and a secondary whose
// certificate is not checked, named so, with a warning at start.
func TestProxy_TLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca, clients, staging := upstreamtest.NewCA(t, "tandem-test"), upstreamtest.NewCA(t, "clients"), upstreamtest.NewCA(t, "staging")
	caFile := ca.File(t, dir)
	cert, key := clients.Issue(t, "tandem").Files(t, dir)
	answer := func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("over tls")) }
	legacy := upstreamtest.Server(t, ca, nil, http.HandlerFunc(answer))
	cand := upstreamtest.Server(t, ca, clients, http.HandlerFunc(answer))
	sec := upstreamtest.Server(t, staging, nil, http.HandlerFunc(answer))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	addr := make(chan string, 1)
	cmd := &proxyCmd{env: env{stdout: io.Discard, stderr: &stderr}, onListen: func(a string) { addr <- a }}
	done := make(chan error, 1)
	go func() {
		done <- cmd.Run(ctx, []string{"--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "t.db"), "--record", "all",
			"--legacy", legacy.URL, "--legacy-ca", caFile,
			"--candidate", cand.URL, "--candidate-ca", caFile, "--candidate-cert", cert, "--candidate-key", key,
			"--secondary", sec.URL, "--insecure-skip-verify", "secondary"})
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("proxy did not start: %v\n%s", err, stderr.String())
	}
	resp, err := http.Get(base + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "over tls" {
		t.Errorf("client got %d %q", resp.StatusCode, b)
	}
	if l := stderr.String(); !strings.Contains(l, "TLS certificates of secondary are NOT checked") || strings.Contains(l, "of legacy are NOT") {
		t.Errorf("want one warning, about the secondary only:\n%s", l)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("proxy: %v", err)
	}
}

func TestTLSFlags_UsageErr(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"not an upstream", []string{"--insecure-skip-verify", "legacy,all"}, `"all" is not an upstream`},
		{"http upstream", []string{"--legacy-ca", "ca.pem"}, "want an https:// --legacy URL"},
		{"no secondary", []string{"--insecure-skip-verify", "secondary"}, "want an https:// --secondary URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, cmd := range []string{"proxy", "replay"} {
				args := append([]string{cmd, "--legacy", "http://127.0.0.1:1", "--candidate", "http://127.0.0.1:1", "--from", "x.ndjson", "--db", filepath.Join(t.TempDir(), "t.db")}, tt.args...)
				if cmd == "proxy" {
					args = slicesWithout(args, "--from", "x.ndjson")
				}
				code, _, stderr := runTandem(t, ctx, args...)
				if code != 2 || !strings.Contains(stderr, tt.want) {
					t.Errorf("%s: exit %d, stderr %q; want 2 and %q", cmd, code, stderr, tt.want)
				}
			}
		})
	}
}

func slicesWithout(args []string, drop ...string) []string {
	var out []string
	for _, a := range args {
		keep := true
		for _, d := range drop {
			keep = keep && a != d
		}
		if keep {
			out = append(out, a)
		}
	}
	return out
}

// `tandem replay` against an https:// candidate that requires a client
// certificate: it passes with one, and without one says which service
// refused and why.
func TestReplay_TLSFlags(t *testing.T) {
	dir := t.TempDir()
	ca, clients := upstreamtest.NewCA(t, "tandem-test"), upstreamtest.NewCA(t, "clients")
	caFile := ca.File(t, dir)
	cert, key := clients.Issue(t, "tandem").Files(t, dir)
	cand := upstreamtest.Server(t, ca, clients, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true}`))
	}))
	var b bytes.Buffer
	ex := &tandem.Exchange{Request: tandem.Request{Method: "GET", URL: "/a", Host: "api.example.com"},
		Legacy: tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: []byte(`{"ok":true}`)}}
	if err := replay.WriteNDJSON(&b, ex); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "t.ndjson")
	if err := os.WriteFile(src, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"replay", "--from", src, "--db", filepath.Join(dir, "r.db"), "--candidate", cand.URL, "--candidate-ca", caFile}
	if code, out, stderr := runTandem(t, ctx, append(args, "--candidate-cert", cert, "--candidate-key", key)...); code != 0 {
		t.Errorf("with the client certificate: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, stderr := runTandem(t, ctx, args...)
	if code != 1 || !strings.Contains(out+stderr, "TLS: candidate refused the handshake") {
		t.Errorf("without it: exit %d, want 1 and the reason\n%s\n%s", code, out, stderr)
	}
}
