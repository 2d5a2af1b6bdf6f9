package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/store"
)

var compareListenRE = regexp.MustCompile(`msg="tandem compare listening for shadow copies" addr=(\S+)`)

// startCompare runs the real binary's `tandem compare --listen
// 127.0.0.1:0 args…` and waits until it listens.
func startCompare(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(tandemBinary(t), append([]string{"compare", "--listen", "127.0.0.1:0"}, args...)...)
	return startListening(t, cmd, args, compareListenRE)
}

// nginxMirrorConfig is the README's nginx example ("Behind a mesh or
// another proxy"), with the test's addresses and a prefix of its own.
func nginxMirrorConfig(dir, listen, legacy, tandemAddr string) string {
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root;\n") // workers run as nobody otherwise, who cannot use dir
	}
	fmt.Fprintf(&b, `worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
daemon off;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream legacy { server %[3]s; }
	upstream tandem_compare { server %[4]s; }
	server {
		listen %[2]s;
		location / {
			mirror /tandem-mirror;
			mirror_request_body on;
			proxy_set_header Host $host;
			proxy_pass http://legacy;
		}
		location = /tandem-mirror {
			internal;
			proxy_pass http://tandem_compare$request_uri;
			proxy_set_header Host $host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_connect_timeout 1s;
			proxy_read_timeout 2s;
		}
	}
}
`, dir, listen, strings.TrimPrefix(legacy, "http://"), tandemAddr)
	return b.String()
}

// startNginx runs nginx with conf and waits until it accepts connections on
// addr. It is stopped (SIGQUIT, by its process) when the test ends.
func startNginx(t *testing.T, dir, addr, conf string) {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				nginx, err = p, nil
			}
		}
	}
	if err != nil {
		t.Fatal("nginx is not installed: .ci/run installs it (apt-get install nginx-light)")
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not listen in time")
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestCompare_BehindNginxMirror: clients talk to a real nginx that serves
// them from legacy and mirrors every request to tandem compare, which asks
// legacy and the candidate itself and records the differences. The client
// never waits on the candidate; writes are passed by nginx to legacy once
// and reach the candidate never; a SIGTERM stores everything compared.
func TestCompare_BehindNginxMirror(t *testing.T) {
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"host":%q,"price":10}`, r.URL.Path, r.Host)
	})
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		price := 10
		if r.URL.Path == "/items/7" {
			price = 11 // the bug the comparison must find
		}
		fmt.Fprintf(w, `{"path":%q,"host":%q,"price":%d}`, r.URL.Path, r.Host, price)
	})
	dir := t.TempDir()
	db := filepath.Join(dir, "compare.db")
	tc := startCompare(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--record", "all")
	front := freeAddr(t)
	startNginx(t, dir, front, nginxMirrorConfig(dir, front, legacy.URL, tc.addr))

	client := &http.Client{Timeout: 5 * time.Second}
	do := func(method, path string) string {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+front+path, strings.NewReader("payload"))
		req.Host = "shop.example"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s through nginx: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	for i := 1; i <= 10; i++ {
		path := fmt.Sprintf("/items/%d", i)
		if got, want := do("GET", path), fmt.Sprintf(`{"path":%q,"host":"shop.example","price":10}`, path); got != want {
			t.Errorf("client got %q, want legacy's %q", got, want)
		}
	}
	do("POST", "/orders")
	// The copies are compared asynchronously: the candidate's ten requests
	// are the event to wait for.
	poll(t, "the candidate to get the 10 copies", func() bool { return len(candidate.requests()) >= 10 },
		func() string { return fmt.Sprintf("candidate got %d:\n%s", len(candidate.requests()), tc.log()) })
	if code := tc.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("tandem compare exit %d:\n%s", code, tc.log())
	}
	// Legacy got each GET twice (nginx's and tandem's), the write once.
	var posts, gets int
	for _, r := range legacy.requests() {
		if strings.HasPrefix(r, "POST ") {
			posts++
		} else {
			gets++
		}
	}
	if posts != 1 || gets != 20 {
		t.Errorf("legacy got %d POSTs and %d GETs, want 1 and 20: %q", posts, gets, legacy.requests())
	}
	for _, r := range candidate.requests() {
		if !strings.HasPrefix(r, "GET /items/") {
			t.Errorf("candidate got %q", r)
		}
	}
	s := mustOpen(t, db)
	defer s.Close()
	rep, err := s.Report(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := store.Totals{Requests: 11, Compared: 10, Matched: 9, Mismatched: 1, Skipped: 1}
	if rep.Totals != want {
		t.Errorf("totals %+v, want %+v", rep.Totals, want)
	}
	var mismatches []string
	s.Exchanges(context.Background(), store.Filter{}, func(ex *tandem.Exchange) error {
		if ex.Outcome == tandem.Mismatch {
			mismatches = append(mismatches, ex.Request.Host+" "+ex.Request.URL+" "+patterns(ex))
		}
		return nil
	})
	if strings.Join(mismatches, ",") != "shop.example /items/7 $.price" {
		t.Errorf("mismatches %q, want shop.example /items/7 $.price", mismatches)
	}
}

// TestCompare_StopFinishesInFlight: copies the candidate is still answering
// when SIGTERM comes are compared and stored before the exit; the shadow
// suffix is gone from what the upstreams and the store see.
func TestCompare_StopFinishesInFlight(t *testing.T) {
	release := make(chan struct{})
	hosts := make(chan string, 8)
	legacy := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		io.WriteString(w, "same")
	})
	arrived := make(chan struct{}, 8)
	candidate := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "same")
	})
	db := filepath.Join(t.TempDir(), "stop.db")
	tc := startCompare(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", db, "--record", "all", "--drain-timeout", "20s")
	for i := range 3 {
		req, _ := http.NewRequest("GET", tc.url(fmt.Sprintf("/x/%d", i)), nil)
		req.Host = "api.example-shadow"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for range 3 {
		<-arrived // all three are in flight at the candidate
	}
	tc.cmd.Process.Signal(syscall.SIGTERM)
	// The stop has begun when the listener is closed; then the candidate
	// answers.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", tc.addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("tandem compare still listens after SIGTERM")
		}
	}
	close(release)
	select {
	case <-tc.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit:\n%s", tc.log())
	}
	if code := tc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, tc.log())
	}
	for range 3 {
		if h := <-hosts; h != "api.example" {
			t.Errorf("legacy got Host %q, want the shadow suffix gone", h)
		}
	}
	s := mustOpen(t, db)
	defer s.Close()
	if n := countExchanges(t, s); n != 3 {
		t.Errorf("stored %d exchanges, want the 3 in flight at the stop:\n%s", n, tc.log())
	}
	rep, _ := s.Report(context.Background())
	if rep.Totals.Matched != 3 || rep.Totals.Dropped != 0 {
		t.Errorf("totals %+v", rep.Totals)
	}
}

func TestCompare_BadFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--candidate", "http://127.0.0.1:1"}, "--legacy URL is required"},
		{[]string{"--legacy", "http://127.0.0.1:1", "--candidate", "http://127.0.0.1:2", "--trusted-proxies", "10.0.0.0/99"}, "is not a network"},
		{[]string{"--legacy", "http://127.0.0.1:1", "--candidate", "http://127.0.0.1:2", "--sample", "2"}, "--sample 2"},
		{[]string{"--legacy", "http://127.0.0.1:1", "--candidate", "http://127.0.0.1:2", "--max-tunnels", "3"}, "flag provided but not defined"},
	} {
		code, _, stderr := runTandem(t, context.Background(), append([]string{"compare", "--db", filepath.Join(t.TempDir(), "x.db")}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, exitUsage, tt.want)
		}
	}
}
