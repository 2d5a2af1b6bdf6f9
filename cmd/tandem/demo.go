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

func (c *demoCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("demo", c.env, "tandem demo [--db tandem-demo.db]\n\n"+
		"Starts a sample legacy service (real recorded GitHub API answers), a second\n"+
		"legacy instance and a candidate rewrite with deliberate differences, puts the\n"+
		"proxy in front, sends traffic through it and prints the report.")
	dbPath := fs.String("db", "tandem-demo.db", "SQLite `file` to record in (replaced on every run)")
	rulesPath := fs.String("rules", "tandem-demo.yaml", "rules `file`; the demo's own rules are written there when it does not exist")
	n := fs.Int("requests", 300, "requests to send")
	conc := fs.Int("concurrency", 8, "concurrent clients")
	seed := fs.Uint64("seed", 1, "seed of the traffic mix")
	noTUI := fs.Bool("no-tui", false, "print the report only; without it the triage UI opens when stdout is a terminal")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *n <= 0 || *conc <= 0 {
		return usagef("--requests and --concurrency must be positive")
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if _, err := os.Stat(*rulesPath); errors.Is(err, iofs.ErrNotExist) {
		if err := os.WriteFile(*rulesPath, demo.Rules, 0o644); err != nil {
			return err
		}
	}
	rs, err := rules.Load(*rulesPath)
	if err != nil {
		return usageError{err}
	}

	var urls [3]*url.URL
	for i, role := range []demo.Role{demo.Legacy, demo.Secondary, demo.Candidate} {
		svc, err := demo.NewService(role)
		if err != nil {
			return err
		}
		u, stop, err := serveLoopback(svc)
		if err != nil {
			return err
		}
		defer stop()
		urls[i] = u
	}
	for _, p := range []string{*dbPath, *dbPath + "-wal", *dbPath + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	}
	db, err := store.Open(ctx, *dbPath, store.Options{})
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
	fmt.Fprintf(c.stdout, "  tandem     %s   rules from %s\n\n", proxyURL, *rulesPath)

	traffic, err := demo.Traffic(*n, *seed)
	if err != nil {
		return err
	}
	start := time.Now()
	failures, err := send(ctx, proxyURL, traffic, *conc)
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
		len(traffic), elapsed.Round(time.Millisecond), failures, s.Mirrored, s.Skipped, *dbPath)
	r, err := db.Report(ctx)
	if err != nil {
		return err
	}
	if err := report.Text(c.stdout, r, report.DefaultTopFields); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "\nNext:\n  tandem report --db %[1]s --format json    the same, for scripts\n", *dbPath)
	fmt.Fprintf(c.stdout, "  tandem tui --db %s --rules %s    triage, and turn differences into rules\n", *dbPath, *rulesPath)
	if failures > 0 {
		return fmt.Errorf("%d client requests failed", failures)
	}
	if *noTUI || !isTerminal(c.stdin) || !isTerminal(c.stdout) {
		return nil
	}
	return runTUI(ctx, c.env, db, *rulesPath)
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
