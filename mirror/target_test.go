package mirror_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/mirror"
)

// startTarget runs a Target on a loopback port and returns it and its
// address.
func startTarget(t *testing.T, cfg mirror.Config, suffix string) (*mirror.Target, string) {
	t.Helper()
	if cfg.Recorder == nil {
		cfg.Recorder = newRecorder()
	}
	tg, err := mirror.NewTarget(cfg, suffix)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go tg.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tg.Shutdown(ctx)
	})
	return tg, "http://" + ln.Addr().String()
}

// TestTarget_ComparesShadowCopies: a shadow copy is answered at once with an
// empty 200, even while legacy has not answered it; the workers then ask
// legacy and the candidate, with the shadow suffix gone from the Host, and
// record the verdict as the proxy would. Writes reach neither.
func TestTarget_ComparesShadowCopies(t *testing.T) {
	release := make(chan struct{})
	var legacySeen, candSeen seen
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		legacySeen.add(r)
		if r.URL.Path == "/slow" {
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"v":1}`, r.URL.Path)
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		candSeen.add(r)
		w.Header().Set("Content-Type", "application/json")
		v := 1
		if r.URL.Path == "/b" {
			v = 2
		}
		fmt.Fprintf(w, `{"path":%q,"v":%d}`, r.URL.Path, v)
	}))
	defer cand.Close()
	rec := newRecorder()
	tg, addr := startTarget(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec}, mirror.DefaultShadowSuffix)

	shadow := func(method, path, host string) {
		t.Helper()
		req, _ := http.NewRequest(method, addr+path, strings.NewReader("body"))
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(b) != 0 {
			t.Fatalf("%s %s: the mirror got %d %q, want an empty 200", method, path, resp.StatusCode, b)
		}
	}
	shadow("GET", "/slow", "api.example-shadow") // answered while legacy holds it
	close(release)
	shadow("GET", "/a?q=1", "api.example-shadow:8080")
	shadow("GET", "/b", "api.example")
	shadow("POST", "/orders", "api.example-shadow")
	exs := rec.wait(t, 3)
	got := map[string]*tandem.Exchange{}
	for _, ex := range exs {
		got[ex.Request.URL] = ex
	}
	for _, tt := range []struct {
		url, host string
		outcome   tandem.Outcome
	}{
		{"/slow", "api.example", tandem.Match},
		{"/a?q=1", "api.example:8080", tandem.Match},
		{"/b", "api.example", tandem.Mismatch},
	} {
		ex := got[tt.url]
		if ex == nil {
			t.Errorf("%s not recorded", tt.url)
			continue
		}
		if ex.Request.Host != tt.host || ex.Outcome != tt.outcome || ex.Legacy.Status != 200 || string(ex.Legacy.Body) != fmt.Sprintf(`{"path":%q,"v":1}`, strings.Split(tt.url, "?")[0]) {
			t.Errorf("%s: host %q outcome %s legacy %d %q; want %q %s and legacy's answer", tt.url, ex.Request.Host, ex.Outcome, ex.Legacy.Status, ex.Legacy.Body, tt.host, tt.outcome)
		}
		if ex.Legacy.Latency <= 0 {
			t.Errorf("%s: legacy latency not measured", tt.url)
		}
	}
	for who, s := range map[string]*seen{"legacy": &legacySeen, "candidate": &candSeen} {
		reqs := strings.Join(s.list(), "\n")
		if strings.Contains(reqs, "POST") || strings.Contains(reqs, "-shadow") || len(s.list()) != 3 {
			t.Errorf("%s got:\n%s\nwant the three GETs, with no shadow suffix and no write", who, reqs)
		}
	}
	if s := tg.Stats(); s.Requests != 4 || s.Skipped != 1 || s.Compared != 3 || s.Mismatched != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestTarget_LegacyDown: a copy legacy does not answer is counted as a
// legacy error and compared with nothing; the mirror still got its 200.
func TestTarget_LegacyDown(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	var candSeen seen
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { candSeen.add(r) }))
	defer cand.Close()
	rec := newRecorder()
	tg, addr := startTarget(t, mirror.Config{Legacy: mustURL(t, deadURL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec}, "")
	if resp, _ := get(t, "GET", addr+"/x", "", nil); resp.StatusCode != 200 {
		t.Fatalf("mirror got %s", resp.Status)
	}
	waitFor(t, "the legacy error", func() bool { return tg.Stats().LegacyErrors == 1 })
	if s := tg.Stats(); s.Compared != 0 || len(candSeen.list()) != 0 {
		t.Errorf("compared %d, candidate got %q: want nothing without legacy's answer", s.Compared, candSeen.list())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tg.Shutdown(ctx)
	if n := len(rec.ex); n != 0 {
		t.Errorf("recorded %d exchanges, want none", n)
	}
	if rec.counts[string(tandem.LegacyError)] != 1 || rec.counts["requests"] != 1 {
		t.Errorf("counts %v", rec.counts)
	}
}

// TestTarget_QueueFullDrops: the queue is bounded; copies beyond it are
// dropped and counted, and the mirror is answered all the same. A stop
// waits for the copies in flight.
func TestTarget_QueueFullDrops(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "same")
	}))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "same") }))
	defer cand.Close()
	rec := newRecorder()
	tg, addr := startTarget(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1, Recorder: rec,
		Workers: 1, QueueSize: 2}, "")
	get(t, "GET", addr+"/1", "", nil)
	<-arrived // the worker holds /1
	for _, p := range []string{"/2", "/3", "/4"} {
		if resp, _ := get(t, "GET", addr+p, "", nil); resp.StatusCode != 200 {
			t.Fatalf("%s: mirror got %s", p, resp.Status)
		}
	}
	if s := tg.Stats(); s.Dropped != 1 || s.Mirrored != 3 {
		t.Errorf("dropped %d, mirrored %d; want 1, 3", s.Dropped, s.Mirrored)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- tg.Shutdown(ctx)
	}()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := tg.Stats(); s.Compared != 3 || s.Matched != 3 {
		t.Errorf("after the stop: compared %d, matched %d; want every queued copy compared", s.Compared, s.Matched)
	}
}

// An upgrade that reaches a Target (meshes do not mirror them) is answered
// 200, counted as skipped, and sent nowhere.
func TestTarget_UpgradeSkipped(t *testing.T) {
	var legacySeen, candSeen seen
	legacy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { legacySeen.add(r) }))
	defer legacy.Close()
	cand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { candSeen.add(r) }))
	defer cand.Close()
	tg, addr := startTarget(t, mirror.Config{Legacy: mustURL(t, legacy.URL), Candidate: mustURL(t, cand.URL), Sample: 1}, mirror.DefaultShadowSuffix)
	ws := wsDial(t, strings.TrimPrefix(addr, "http://"), "/socket")
	if ws.resp.StatusCode != 200 {
		t.Fatalf("got %s, want 200", ws.resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tg.Shutdown(ctx)
	if s := tg.Stats(); s.Skipped != 1 || s.Mirrored != 0 || s.Upgraded != 0 || len(legacySeen.list())+len(candSeen.list()) != 0 {
		t.Errorf("skipped %d, mirrored %d, upgraded %d, legacy %q, candidate %q", s.Skipped, s.Mirrored, s.Upgraded, legacySeen.list(), candSeen.list())
	}
}
