package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

// TestProxy_UpgradeCountedInReport: an upgraded connection goes through
// tandem proxy to legacy as raw bytes both ways, the candidate never sees
// it, and tandem report (from the real SQLite file) counts it as upgraded.
func TestProxy_UpgradeCountedInReport(t *testing.T) {
	handshake := make(chan string, 1)
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			io.WriteString(w, "plain")
			return
		}
		handshake <- r.Header.Get("Connection") + "|" + r.Header.Get("X-Forwarded-For")
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("legacy: " + line)
			brw.Flush()
		}
	})
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain") })
	db := filepath.Join(t.TempDir(), "up.db")
	base, stop := startProxy(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--max-tunnels", "4")
	defer stop()

	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: app\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for _, msg := range []string{"one\n", "two\n"} {
		io.WriteString(c, msg)
		if got, err := br.ReadString('\n'); err != nil || got != "legacy: "+msg {
			t.Fatalf("through the tunnel: %q %v", got, err)
		}
	}
	c.Close()
	if code := stop(); code != 0 {
		t.Fatalf("proxy exit status %d", code)
	}
	// Upgrade and Connection are kept for this hop; the forwarding headers
	// are added as to any request.
	if got := <-handshake; got != "Upgrade|127.0.0.1" {
		t.Errorf("legacy's handshake had Connection|X-Forwarded-For %q, want Upgrade|127.0.0.1", got)
	}
	if got := candidate.requests(); len(got) != 0 {
		t.Errorf("the candidate got %q: an upgrade is never mirrored", got)
	}
	code, out, errOut := runTandem(t, context.Background(), "report", "--db", db)
	if code != 0 {
		t.Fatalf("report: %d %s", code, errOut)
	}
	if !strings.Contains(out, "upgraded 1 (") || !strings.Contains(out, "requests 1 ") {
		t.Errorf("report does not count the upgrade:\n%s", out)
	}
	_, out, _ = runTandem(t, context.Background(), "report", "--db", db, "--format", "json")
	if !strings.Contains(out, `"upgraded": 1`) {
		t.Errorf("JSON report lacks upgraded:\n%s", out)
	}
}

// TestProxy_ForwardingHeadersStored: with the defaults the upstreams get
// X-Forwarded-* and the stored exchange (real SQLite) has them as the
// upstreams got them; --forwarded-headers=false sends none.
func TestProxy_ForwardingHeadersStored(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags []string
		want  string // X-Forwarded-For at legacy, candidate and in the store
	}{
		{"Default", nil, "127.0.0.1"},
		{"Trusted", []string{"--trusted-proxies", "127.0.0.0/8"}, "203.0.113.9, 127.0.0.1"},
		{"Off", []string{"--forwarded-headers=false"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := make(chan string, 4)
			h := func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Get("X-Forwarded-For") + "|" + r.Header.Get("X-Forwarded-Host") + "|" + r.Header.Get("X-Forwarded-Proto")
				io.WriteString(w, "same")
			}
			legacy := newUpstream(t, h)
			candidate := newUpstream(t, h)
			db := filepath.Join(t.TempDir(), "fwd.db")
			args := append([]string{"--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--record", "all"}, tt.flags...)
			base, stop := startProxy(t, args...)
			defer stop()
			req, _ := http.NewRequest("GET", base+"/who", nil)
			req.Host = "app.example"
			if tt.name == "Trusted" {
				req.Header.Set("X-Forwarded-For", "203.0.113.9")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if code := stop(); code != 0 {
				t.Fatalf("proxy exit status %d", code)
			}
			want := tt.want + "|app.example|http"
			if tt.want == "" {
				want = "||"
			}
			if l, c := <-got, <-got; l != want || c != want {
				t.Errorf("legacy got %q, candidate %q; want %q", l, c, want)
			}
			s := mustOpen(t, db)
			defer s.Close()
			var stored []string
			s.Exchanges(context.Background(), store.Filter{}, func(ex *tandem.Exchange) error {
				for _, h := range ex.Request.Header {
					if strings.HasPrefix(strings.ToLower(h.Name), "x-forwarded-") {
						stored = append(stored, h.Name+": "+h.Value)
					}
				}
				return nil
			})
			var wantStored []string
			if tt.want != "" {
				wantStored = []string{"X-Forwarded-For: " + tt.want, "X-Forwarded-Proto: http", "X-Forwarded-Host: app.example"}
			}
			if strings.Join(stored, "\n") != strings.Join(wantStored, "\n") {
				t.Errorf("stored forwarding headers:\n%s\nwant:\n%s", strings.Join(stored, "\n"), strings.Join(wantStored, "\n"))
			}
		})
	}
}
