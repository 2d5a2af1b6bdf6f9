package bench_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemproxy/tandem"
	"github.com/tandemproxy/tandem/bench"
	"github.com/tandemproxy/tandem/diff"
)

func jsonResp(b []byte) *tandem.Response {
	return &tandem.Response{Status: 200, Header: tandem.Headers{{Name: "Content-Type", Value: "application/json"}}, Body: b}
}

// The candidates' documents differ from legacy's exactly as the report
// says: reordered is equal as JSON, changed differs at one value.
func TestDocument(t *testing.T) {
	c := diff.New(diff.Options{})
	for _, size := range []int{256, 4 << 10, 64 << 10} {
		legacy := bench.Document(size, false, false)
		if n := len(legacy); n < size-256 || n > size+256 {
			t.Errorf("Document(%d) is %d bytes", size, n)
		}
		reordered := bench.Document(size, true, false)
		if string(reordered) == string(legacy) || len(reordered) != len(legacy) {
			t.Errorf("size %d: the reordered document is not a reordering", size)
		}
		if ds, err := c.Compare(jsonResp(legacy), jsonResp(reordered)); err != nil || len(ds) != 0 {
			t.Errorf("size %d: reordered differs: %v %v", size, ds, err)
		}
		for _, r := range []bool{false, true} {
			ds, err := c.Compare(jsonResp(legacy), jsonResp(bench.Document(size, r, true)))
			if err != nil || len(ds) != 1 || ds[0].Path != "$.items[0].price" {
				t.Errorf("size %d, reordered %v: changed differs at %v (%v), want $.items[0].price", size, r, ds, err)
			}
		}
	}
}

func TestParseWrk(t *testing.T) {
	tests := []struct {
		file           string
		out            string // instead of file
		requests, errs int64
		elapsed        time.Duration
		err            string
	}{
		{file: "wrk-ok.txt", requests: 381, elapsed: time.Second},
		{file: "wrk-404.txt", requests: 945, errs: 945, elapsed: 1010 * time.Millisecond},
		{file: "wrk-refused.txt", err: "no request count"},
		{out: "  1200 requests in 2.00s, 1.00MB read\n  Socket errors: connect 2, read 7, write 1, timeout 3\n",
			requests: 1200, errs: 6, elapsed: 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			out := tc.out
			if tc.file != "" {
				b, err := os.ReadFile(filepath.Join("testdata", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				out = string(b)
			}
			s, err := bench.ParseWrk(out, time.Second)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || s.Requests != tc.requests || s.Errors != tc.errs || s.Elapsed != tc.elapsed || s.Tool != "wrk" {
				t.Errorf("ParseWrk = %+v, %v; want %d requests, %d errors in %s", s, err, tc.requests, tc.errs, tc.elapsed)
			}
		})
	}
}

// The built-in generators against a real backend: every request counted,
// the rate kept, the percentiles in order, and a delay seen in them.
func TestGenerators(t *testing.T) {
	ctx := context.Background()
	body := bench.Document(1024, false, false)
	fast, err := bench.StartBackend(bench.BackendConfig{Body: body})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := bench.StartBackend(bench.BackendConfig{Body: body, Delay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	s := bench.Saturate(ctx, fast.Addr, 4, 300*time.Millisecond)
	if s.Requests == 0 || s.Errors != 0 || s.RPS() <= 0 || s.Requests > fast.Served() {
		t.Errorf("Saturate = %+v; backend served %d", s, fast.Served())
	}

	l := bench.AtRate(ctx, slow.Addr, 200, 16, 500*time.Millisecond)
	if l.Requests != 100 || l.Errors != 0 {
		t.Errorf("AtRate sent %d (%d errors), want 100 without errors", l.Requests, l.Errors)
	}
	if !(l.P50 >= 20*time.Millisecond && l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("percentiles %v %v %v %v: want ordered, and at least the backend's 20ms delay", l.P50, l.P99, l.P999, l.Max)
	}

	// Open loop: with one connection and a 20ms backend, 200 requests/s
	// queue up, and the latency counts from each request's scheduled time.
	q := bench.AtRate(ctx, slow.Addr, 200, 1, 250*time.Millisecond)
	if q.Max < 100*time.Millisecond {
		t.Errorf("max latency %v with one connection: the schedule was not kept (coordinated omission)", q.Max)
	}

	dead, err := bench.DeadURL()
	if err != nil {
		t.Fatal(err)
	}
	d := bench.AtRate(ctx, strings.TrimPrefix(dead, "http://"), 100, 2, 100*time.Millisecond)
	if d.Errors != d.Requests || d.Requests == 0 {
		t.Errorf("a dead address: %d errors of %d requests", d.Errors, d.Requests)
	}
}

// wrk, when installed (CI installs it), is run and read.
func TestWrk(t *testing.T) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed (.ci/run installs it)")
	}
	b, err := bench.StartBackend(bench.BackendConfig{Body: bench.Document(512, false, false)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := bench.Wrk(context.Background(), wrk, b.Addr, 2, time.Second)
	if err != nil || s.Requests == 0 || s.Errors != 0 || s.Requests > b.Served() || s.Tool != "wrk" {
		t.Errorf("Wrk = %+v, %v; the backend served %d", s, err, b.Served())
	}
}

// nginx accepts the configurations the benchmark writes (nginx -t); CI
// installs nginx.
func TestNginxConfig(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (.ci/run installs it)")
	}
	for _, candidate := range []string{"", "http://127.0.0.1:9002"} {
		dir := t.TempDir()
		conf := filepath.Join(dir, "nginx.conf")
		// nginx -t only parses: the ports need not be open, but nginx
		// refuses port 0.
		text := bench.NginxConfig(dir, "127.0.0.1:18080", "http://127.0.0.1:9001", candidate)
		if (candidate != "") != strings.Contains(text, "mirror /mirror;") {
			t.Errorf("candidate %q: mirror directive wrong:\n%s", candidate, text)
		}
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(nginx, "-t", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")).CombinedOutput()
		if err != nil {
			t.Errorf("nginx -t: %v\n%s\n%s", err, out, text)
		}
	}
}

// A hung candidate reads requests and never answers.
func TestStaller(t *testing.T) {
	s, err := bench.StartStaller()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read %d bytes (%v), want a timeout", n, err)
	}
}

// The streaming rows' nginx turns proxy buffering off for the event
// stream only, in a configuration nginx accepts.
func TestNginxStreamConfig(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (.ci/run installs it)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	text := bench.NginxStreamConfig(dir, "127.0.0.1:18081", "http://127.0.0.1:9001")
	if !strings.Contains(text, "location = /sse {\n\t\t\tproxy_buffering off;") || !strings.Contains(text, "location / {") {
		t.Errorf("no unbuffered /sse location:\n%s", text)
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(nginx, "-t", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		t.Errorf("nginx -t: %v\n%s\n%s", err, out, text)
	}
}
