package bench

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Saturation is what a closed-loop load measured: every connection sends
// its next request as soon as the last one is answered.
type Saturation struct {
	Requests int64
	Errors   int64 // failed requests and answers other than 200
	Elapsed  time.Duration
	Tool     string // "wrk" or "built-in"
}

// RPS is the rate of answered requests.
func (s Saturation) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Requests-s.Errors) / s.Elapsed.Seconds()
}

// Latency is what an open-loop load at a fixed rate measured.
type Latency struct {
	Rate           int // requests started per second, as scheduled
	Requests       int64
	Errors         int64
	P50, P99, P999 time.Duration
	Max            time.Duration
}

// newClient returns a client of addr with at most conns connections.
func newClient(addr string, conns int, timeout time.Duration) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                      addr,
		MaxConns:                  conns,
		ReadTimeout:               timeout,
		WriteTimeout:              timeout,
		MaxConnWaitTimeout:        timeout,
		NoDefaultUserAgentHeader:  true,
		MaxIdemponentCallAttempts: 1,
	}
}

// get sends one GET and reports whether it was answered with 200.
func get(c *fasthttp.HostClient, url string) bool {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	err := c.Do(req, resp)
	return err == nil && resp.StatusCode() == fasthttp.StatusOK
}

// Saturate drives addr with conns closed-loop connections for d, with the
// built-in generator.
func Saturate(ctx context.Context, addr string, conns int, d time.Duration) Saturation {
	c := newClient(addr, conns, 10*time.Second)
	defer c.CloseIdleConnections()
	url := "http://" + addr + Path
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if !get(c, url) {
					errs.Add(1)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return Saturation{Requests: n.Load(), Errors: errs.Load(), Elapsed: time.Since(start), Tool: "built-in"}
}

// AtRate sends rate requests a second to addr for d, open loop: each
// request is due at its scheduled time whether or not earlier ones were
// answered, and its latency counts from that time, not from when a
// connection was free to send it (so a stall shows in the percentiles
// instead of slowing the schedule: no coordinated omission).
func AtRate(ctx context.Context, addr string, rate, conns int, d time.Duration) Latency {
	c := newClient(addr, conns, 10*time.Second)
	defer c.CloseIdleConnections()
	url := "http://" + addr + Path
	total := int(float64(rate) * d.Seconds())
	lat := make([]time.Duration, total)
	ok := make([]bool, total)
	due := make(chan int, total)
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range due {
				at := start.Add(time.Duration(i) * interval)
				ok[i] = get(c, url)
				lat[i] = time.Since(at)
			}
		}()
	}
	sent := 0
	for sent < total && ctx.Err() == nil {
		// Everything due by now is released at once: sleeps are coarser
		// than the interval at high rates.
		for now := int(time.Since(start) / interval); sent < total && sent <= now; sent++ {
			due <- sent
		}
		time.Sleep(min(interval, time.Millisecond))
	}
	close(due)
	wg.Wait()
	res := Latency{Rate: rate, Requests: int64(sent)}
	lat = lat[:sent]
	for i := range sent {
		if !ok[i] {
			res.Errors++
		}
	}
	if sent == 0 {
		return res
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(int(p*float64(len(lat))), len(lat)-1)] }
	res.P50, res.P99, res.P999, res.Max = q(0.50), q(0.99), q(0.999), lat[len(lat)-1]
	return res
}

// Wrk runs wrk against addr with conns connections for d.
func Wrk(ctx context.Context, wrk, addr string, conns int, d time.Duration) (Saturation, error) {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	threads := min(2, conns)
	cmd := exec.CommandContext(ctx, wrk, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "10s", "http://"+addr+Path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Saturation{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	return parseWrk(string(out), time.Duration(secs)*time.Second)
}

var (
	wrkTotal  = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m)`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads wrk's summary. Read errors are not counted: wrk counts a
// server closing an idle keep-alive connection as one.
func parseWrk(out string, d time.Duration) (Saturation, error) {
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return Saturation{}, fmt.Errorf("wrk: no request count in its output:\n%s", out)
	}
	s := Saturation{Tool: "wrk", Elapsed: d}
	s.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	if v, err := strconv.ParseFloat(m[2], 64); err == nil {
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[m[3]]
		s.Elapsed = time.Duration(v * float64(unit))
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		s.Errors += n
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, i := range []int{1, 3, 4} { // connect, write, timeout
			n, _ := strconv.ParseInt(m[i], 10, 64)
			s.Errors += n
		}
	}
	return s, nil
}

// version returns the first line a tool prints about itself.
func version(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
