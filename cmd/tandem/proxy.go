package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/tandemproxy/tandem/admin"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

type proxyCmd struct {
	env
	// onListen, when set, is told the address the proxy listens on (tests
	// listen on port 0).
	onListen func(addr string)
	onAdmin  func(addr string)
}

func (c *proxyCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("proxy", c.env, "tandem proxy --legacy URL --candidate URL [flags]\n\n"+
		"Serves every request from legacy and mirrors a copy to the candidate (and the\nsecondary), recording how the answers differ.")
	m := addMirrorFlags(fs, mirrorUsage{
		listenDefault: "127.0.0.1:8080", listen: "address to serve clients on",
		legacy:        "legacy service `URL` (answers the clients)",
		candidate:     "candidate service `URL` (gets the mirrored copies)",
		sample:        "fraction of requests to mirror where no rule says",
		legacyTimeout: "legacy timeout (the client then gets a 504)",
		workers:       "mirror workers (concurrent candidate requests)",
		queue:         "mirror queue length; copies beyond it are dropped and counted",
		queueBytes:    "bytes the mirror queue may hold (requests and legacy answers)",
		drain:         "on stop, how long to let the mirror queue drain",
		rewriteHost:   "send each upstream its own Host header instead of the client's",
		maxHeader:     "largest client request header accepted (larger: 431)",
		maxDB:         "storage budget: the oldest stored exchanges are pruned to keep the data under this size (0: no limit; counters are never pruned)",
		proxy:         true, // upgrades and forwarding headers: forwardflags.go
	})
	dbPath := dbFlag(fs, "tandem.db", "to record in")
	instance := instanceFlag(fs)
	fs.DurationVar(&m.cfg.ServeTimeout, "serve-timeout", mirror.DefaultServeTimeout, "candidate timeout for requests it serves (cutover); a safe one then falls back to legacy")
	fs.DurationVar(&m.cfg.StreamCompareAfter, "stream-compare-after", mirror.DefaultStreamCompareAfter,
		"an answer without a length that lasts longer is a stream: counted streamed, not compared (unless its rule sets compare_streams)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	ms, err := m.resolve(c.env)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, *dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	ms.wcfg.Instance = *instance
	w := db.NewWriter(ms.wcfg)
	defer w.Close()
	return c.serve(ctx, m, ms, db, w, *dbPath)
}

// serve runs the proxy with its cutover controller until it is stopped.
func (c *proxyCmd) serve(ctx context.Context, m *mirrorFlags, ms *mirrorSetup, db *store.DB, w *store.Writer, dbPath string) error {
	log, cfg := ms.log, ms.cfg
	cfg.Recorder = w
	ctl := newCutover(db, log) // cutover.go
	cfg.Observer = ctl
	p, err := mirror.New(cfg)
	if err != nil {
		return usageError{err}
	}
	stopCutover, err := startCutover(ctx, ctl, p)
	if err != nil {
		return err
	}
	defer stopCutover()
	ln, err := net.Listen("tcp", m.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Before saying it listens, so that a SIGHUP sent as soon as it does
	// finds its handler.
	c.watchRules(ctx, cfg.Rules, m.rulesPoll, p, log)
	watchCertificate(ctx, ms.cert, log)
	log.Info("tandem proxy listening", "addr", ln.Addr().String(), "legacy", cfg.Legacy.String(), "candidate", cfg.Candidate.String(),
		"secondary", m.secondaryURL, "db", shownDB(dbPath), "record", string(ms.wcfg.Record), "sample", cfg.Sample, "tls", ms.cert != nil)
	if c.onListen != nil {
		c.onListen(ln.Addr().String())
	}
	serr := serveUntilStopped(ctx, log, p, ln, m.adminAddr, admin.Handler(p, w, ctl), c.onAdmin, m.drain,
		"stopping: finishing client requests, draining the mirror queue")
	w.Close()
	s, ws := p.Stats(), w.Stats()
	log.Info("stopped", "requests", s.Requests, "mirrored", s.Mirrored, "compared", s.Compared, "mismatched", s.Mismatched,
		"dropped", s.Dropped, "skipped", s.Skipped, "stored", ws.Stored, "lost", ws.Lost)
	if serr != nil && !errors.Is(serr, context.DeadlineExceeded) {
		return serr
	}
	return nil
}

// watchRules reloads the rules on SIGHUP and when the file changes; a bad
// file is logged and the rules in force stay. Without a rules file SIGHUP
// is still caught: its default action would end the proxy on the spot,
// without draining, for what an operator meant as "reload".
func (c *proxyCmd) watchRules(ctx context.Context, rs *rules.Set, poll time.Duration, p *mirror.Proxy, log *slog.Logger) {
	path := rs.File
	apply := func(s *rules.Set) {
		p.SetRules(s)
		log.Info("rules reloaded", "file", path, "endpoints", len(s.Endpoints()))
	}
	reject := func(err error) {
		log.Error("rules not reloaded: the file has errors; the previous rules stay in force", "file", path, "err", err.Error())
	}
	onHangup(ctx, func() {
		if path == "" {
			log.Warn("SIGHUP: no rules file to reload (start the proxy with --rules FILE)")
			return
		}
		if s, err := rules.Load(path); err != nil {
			reject(err)
		} else {
			apply(s)
		}
	})
	if poll > 0 && path != "" {
		go rules.Watch(ctx, rs, poll, apply, reject)
	}
}
