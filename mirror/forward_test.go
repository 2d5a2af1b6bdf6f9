package mirror_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/mirror"
)

// forwardingSeen are the forwarding headers an upstream received.
type forwardingSeen struct {
	mu  sync.Mutex
	got []map[string][]string
}

func (f *forwardingSeen) handler(w http.ResponseWriter, r *http.Request) {
	m := map[string][]string{}
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded"} {
		if v := r.Header.Values(k); v != nil {
			m[k] = v
		}
	}
	f.mu.Lock()
	f.got = append(f.got, m)
	f.mu.Unlock()
	fmt.Fprint(w, "same")
}

func (f *forwardingSeen) last(t *testing.T) map[string][]string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.got) == 0 {
		t.Fatal("the upstream got no request")
	}
	return f.got[len(f.got)-1]
}

func TestProxy_ForwardingHeaders(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	other := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}
	spoofed := "x-forwarded-for: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\nX-FORWARDED-PROTO: https\r\nx-forwarded-host: public.example\r\nforwarded: for=203.0.113.9\r\n"
	for _, tt := range []struct {
		name string
		fwd  mirror.Forwarding
		in   string // header lines the client sends besides Host
		want map[string][]string
	}{
		{"Default", mirror.Forwarding{}, "",
			map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"app.example"}}},
		{"UntrustedReplaced", mirror.Forwarding{}, spoofed,
			map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"app.example"},
				"Forwarded": {"for=203.0.113.9"}}}, // not managed without RFC7239: passed as sent
		{"TrustedKeptAndAppended", mirror.Forwarding{Trusted: loopback}, spoofed,
			map[string][]string{"X-Forwarded-For": {"203.0.113.9, 198.51.100.1, 127.0.0.1"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host": {"public.example"}, "Forwarded": {"for=203.0.113.9"}}},
		{"OtherPeerTrusted", mirror.Forwarding{Trusted: other}, spoofed,
			map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"app.example"},
				"Forwarded": {"for=203.0.113.9"}}},
		{"RFC7239", mirror.Forwarding{RFC7239: true}, spoofed,
			map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"app.example"},
				"Forwarded": {"for=127.0.0.1;host=app.example;proto=http"}}},
		{"RFC7239Trusted", mirror.Forwarding{RFC7239: true, Trusted: loopback}, "Host: ignored\r\nforwarded: for=203.0.113.9;proto=https\r\n",
			map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"app.example"},
				"Forwarded": {"for=203.0.113.9;proto=https, for=127.0.0.1;host=app.example;proto=http"}}},
		{"Off", mirror.Forwarding{Off: true}, "", map[string][]string{}},
		{"OffPassesThrough", mirror.Forwarding{Off: true}, "X-Forwarded-For: 203.0.113.9\r\n",
			map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}},
		// A field the client names in Connection is hop-by-hop and goes;
		// the proxy's own value is set all the same.
		{"NamedHopByHop", mirror.Forwarding{Trusted: loopback}, "Connection: X-Forwarded-For\r\nX-Forwarded-For: 203.0.113.9\r\n",
			map[string][]string{"X-Forwarded-For": {"127.0.0.1"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"app.example"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var legacySeen, candSeen forwardingSeen
			legacy := httptest.NewServer(http.HandlerFunc(legacySeen.handler))
			defer legacy.Close()
			cand := httptest.NewServer(http.HandlerFunc(candSeen.handler))
			defer cand.Close()
			rec := newRecorder()
			_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec, Forwarding: tt.fwd})
			// A raw request, so that the names go in the case and number written.
			conn, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			in := strings.Replace(tt.in, "Host: ignored\r\n", "", 1)
			fmt.Fprintf(conn, "GET /who HTTP/1.1\r\nHost: app.example\r\n%s\r\n", in)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			exs := rec.wait(t, 1)
			if d := cmp.Diff(tt.want, legacySeen.last(t)); d != "" {
				t.Errorf("legacy's forwarding headers (-want +got):\n%s", d)
			}
			if d := cmp.Diff(legacySeen.last(t), candSeen.last(t)); d != "" {
				t.Errorf("the candidate's differ from legacy's (-legacy +candidate):\n%s", d)
			}
			stored := map[string][]string{}
			for _, h := range exs[0].Request.Header {
				if k := http.CanonicalHeaderKey(h.Name); tt.want[k] != nil {
					stored[k] = append(stored[k], h.Value)
				}
			}
			if d := cmp.Diff(tt.want, stored); d != "" {
				t.Errorf("the stored request's forwarding headers (-want +got):\n%s", d)
			}
		})
	}
}

// The forwarding headers reach a secondary too, the same as legacy's.
func TestProxy_ForwardingHeadersSecondary(t *testing.T) {
	var legacySeen, candSeen, secSeen forwardingSeen
	legacy := httptest.NewServer(http.HandlerFunc(legacySeen.handler))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(candSeen.handler))
	defer cand.Close()
	sec := httptest.NewServer(http.HandlerFunc(secSeen.handler))
	defer sec.Close()
	rec := newRecorder()
	_, addr := start(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Secondary: mustURL(t, sec.URL),
		Sample: 1, Recorder: rec, Forwarding: mirror.Forwarding{RFC7239: true}})
	get(t, "GET", addr+"/x", "", http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	rec.wait(t, 1)
	want := legacySeen.last(t)
	if want["X-Forwarded-For"][0] != "127.0.0.1" {
		t.Fatalf("legacy got %v", want)
	}
	for who, s := range map[string]*forwardingSeen{"candidate": &candSeen, "secondary": &secSeen} {
		if d := cmp.Diff(want, s.last(t)); d != "" {
			t.Errorf("%s differs from legacy (-legacy +%s):\n%s", who, who, d)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		err  string
	}{
		{"", nil, ""},
		{"10.0.0.0/8, 192.168.1.7,::1,fd00::/8,10.1.2.3/8", []string{"10.0.0.0/8", "192.168.1.7/32", "::1/128", "fd00::/8", "10.0.0.0/8"}, ""},
		{"::ffff:10.0.0.1", []string{"10.0.0.1/32"}, ""},
		{"10.0.0.0/33", nil, `"10.0.0.0/33" is not a network`},
		{"example.com", nil, `"example.com" is not an address or a network`},
	} {
		got, err := mirror.ParseTrustedProxies(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		var gs []string
		for _, p := range got {
			gs = append(gs, p.String())
		}
		if d := cmp.Diff(tt.want, gs); d != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, d)
		}
	}
}
