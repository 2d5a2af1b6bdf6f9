package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tandemproxy/tandem/demo"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/report"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

type demoCmd struct{ env }

// demoOptions holds what the demo flags set.
type demoOptions struct {
	dbPath, rulesPath string
	requests, conc    int
	seed              uint64
	noTUI             bool
}

func (c *demoCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("demo", c.env, "tandem demo [--db tandem-demo.db]\n\n"+
		"Starts a sample legacy service (real recorded GitHub API answers), a second\n"+
		"legacy instance and a candidate rewrite with deliberate differences, puts the\n"+
		"proxy in front, sends traffic through it and prints the report.")
	o := &demoOptions{}
	fs.StringVar(&o.dbPath, "db", "tandem-demo.db", "SQLite `file` to record in (replaced on every run)")
	fs.StringVar(&o.rulesPath, "rules", "tandem-demo.yaml", "rules `file`; the demo's own rules are written there when it does not exist")
	fs.IntVar(&o.requests, "requests", 300, "requests to send")
	fs.IntVar(&o.conc, "concurrency", 8, "concurrent clients")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the traffic mix")
	fs.BoolVar(&o.noTUI, "no-tui", false, "print the report only; without it the triage UI opens when stdout is a terminal")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if o.requests <= 0 || o.conc <= 0 {
		return usagef("--requests and --concurrency must be positive")
	}
	return c.execute(ctx, o)
}

// startDemoServices serves legacy, secondary and candidate on loopback; stop
// ends them all.
func startDemoServices() (urls [3]*url.URL, stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	for i, role := range []demo.Role{demo.Legacy, demo.Secondary, demo.Candidate} {
		svc, err := demo.NewService(role)
		if err != nil {
			stop()
			return urls, nil, err
		}
		u, s, err := serveLoopback(svc)
		if err != nil {
			stop()
			return urls, nil, err
		}
		stops = append(stops, s)
		urls[i] = u
	}
	return urls, stop, nil
}

func (c *demoCmd) execute(ctx context.Context, o *demoOptions) error {
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := os.Stat(o.rulesPath); errors.Is(err, iofs.ErrNotExist) {
		if err := os.WriteFile(o.rulesPath, demo.Rules, 0o644); err != nil {
			return err
		}
	}
	rs, err := rules.Load(o.rulesPath)
	if err != nil {
		return usageError{err}
	}

	urls, stopServices, err := startDemoServices()
	if err != nil {
		return err
	}
	defer stopServices()
	for _, p := range []string{o.dbPath, o.dbPath + "-wal", o.dbPath + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	db, err := store.Open(ctx, o.dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	w := db.NewWriter(store.WriterConfig{Record: store.RecordMismatches, Logger: log})
	defer w.Close()
	p, err := mirror.New(mirror.Config{Legacy: urls[0], Secondary: urls[1], Candidate: urls[2], Sample: 1, Rules: rs, Recorder: w, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go p.Serve(ln)
	proxyURL := "http://" + ln.Addr().String()

	fmt.Fprintf(c.stdout, "tandem demo: a legacy service, a second legacy instance and a candidate rewrite on loopback, tandem in front.\n")
	fmt.Fprintf(c.stdout, "  legacy     %s   real GitHub API answers (octokit/fixtures)\n", urls[0])
	fmt.Fprintf(c.stdout, "  secondary  %s   the same legacy, to tell legacy's own noise from real differences\n", urls[1])
	fmt.Fprintf(c.stdout, "  candidate  %s   the rewrite: a type bug, a lost issue, reordered labels, an added field, dropped connections\n", urls[2])
	fmt.Fprintf(c.stdout, "  tandem     %s   rules from %s\n\n", proxyURL, o.rulesPath)

	traffic, err := demo.Traffic(o.requests, o.seed)
	if err != nil {
		return err
	}
	start := time.Now()
	failures, err := send(ctx, proxyURL, traffic, o.conc)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		return err
	}
	w.Close()
	s := p.Stats()
	fmt.Fprintf(c.stdout, "Sent %d requests in %s (%d client errors); mirrored %d, skipped %d POSTs (side effects), recorded in %s.\n\n",
		len(traffic), elapsed.Round(time.Millisecond), failures, s.Mirrored, s.Skipped, o.dbPath)
	return c.finish(ctx, o, db, failures)
}

// finish prints the report and the next steps, then opens the triage UI
// when both ends are a terminal.
func (c *demoCmd) finish(ctx context.Context, o *demoOptions, db *store.DB, failures int) error {
	r, err := db.Report(ctx)
	if err != nil {
		return err
	}
	if err := report.Text(c.stdout, r, report.DefaultTopFields); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "\nNext:\n  tandem report --db %[1]s --format json    the same, for scripts\n", o.dbPath)
	fmt.Fprintf(c.stdout, "  tandem tui --db %s --rules %s    triage, and turn differences into rules\n", o.dbPath, o.rulesPath)
	if failures > 0 {
		return fmt.Errorf("%d client requests failed", failures)
	}
	if o.noTUI || !isTerminal(c.stdin) || !isTerminal(c.stdout) {
		return nil
	}
	return runTUI(ctx, c.env, db, o.rulesPath)
}

// serveLoopback serves h on an ephemeral loopback port.
func serveLoopback(h http.Handler) (*url.URL, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	u, _ := url.Parse("http://" + ln.Addr().String())
	return u, func() { srv.Close() }, nil
}

// send plays the traffic through the proxy with conc clients and returns
// how many requests failed at the client.
func send(ctx context.Context, base string, traffic []demo.Request, conc int) (int, error) {
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: conc},
		// Redirects are answers to compare, not to follow (they point at
		// github.com, which the demo never contacts).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	work := make(chan demo.Request)
	var mu sync.Mutex
	failures := 0
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				req, err := http.NewRequestWithContext(ctx, r.Method, base+r.Path, strings.NewReader(r.Body))
				if err == nil {
					for _, h := range r.Header {
						req.Header.Add(h.Name, h.Value)
					}
					var resp *http.Response
					if resp, err = client.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				if err != nil {
					mu.Lock()
					failures++
					mu.Unlock()
				}
			}
		}()
	}
	for _, r := range traffic {
		select {
		case work <- r:
		case <-ctx.Done():
			close(work)
			wg.Wait()
			return failures, ctx.Err()
		}
	}
	close(work)
	wg.Wait()
	return failures, nil
}
