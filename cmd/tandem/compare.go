package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/tandemproxy/tandem/admin"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/store"
)

// defaultCompareListen is tandem compare's address: next to a tandem proxy
// on 8080, on loopback until told otherwise (a mesh's mirror on another
// host needs --listen 0.0.0.0:8081).
const defaultCompareListen = "127.0.0.1:8081"

// compareCmd is tandem compare, the mirror-target mode: someone else's
// mirror (Envoy, Istio, nginx, Traefik) sends it shadow copies, and it
// compares legacy's and the candidate's answers to them.
type compareCmd struct {
	env
	onListen func(addr string)
	onAdmin  func(addr string)
}

func (c *compareCmd) Run(ctx context.Context, args []string) error {
	fs := newFlags("compare", c.env, "tandem compare --legacy URL --candidate URL [flags]\n\n"+
		"Receives the shadow copies of another proxy's mirror (Envoy, Istio, nginx, Traefik), answers\n"+
		"each at once, then sends it to legacy (and the secondary) and to the candidate and records\nhow the answers differ.")
	m := addMirrorFlags(fs, mirrorUsage{
		listenDefault: defaultCompareListen, listen: "address the mirror sends its copies to",
		legacy:        "legacy service `URL` (asked again for each copy)",
		candidate:     "candidate service `URL`",
		sample:        "fraction of copies compared where no rule says (the mesh samples already)",
		legacyTimeout: "legacy timeout (the copy is then a legacy error)",
		workers:       "workers (concurrent copies being compared)",
		queue:         "queue length; copies beyond it are dropped and counted",
		queueBytes:    "bytes the queue may hold",
		drain:         "on stop, how long to let the queue drain",
		rewriteHost:   "send each upstream its own Host header instead of the copy's",
		maxHeader:     "largest copy header accepted (larger: 431)",
		maxDB:         "storage budget: the oldest stored exchanges are pruned to keep the data under this size (0: no limit)",
	})
	dbPath := fs.String("db", "tandem.db", "SQLite `file` to record in")
	suffix := fs.String("shadow-suffix", mirror.DefaultShadowSuffix, "removed from the end of each copy's Host, as Envoy and Istio add it (empty: keep the Host)")
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
	w := db.NewWriter(ms.wcfg)
	defer w.Close()
	log, cfg := ms.log, ms.cfg
	cfg.Recorder = w
	tg, err := mirror.NewTarget(cfg, *suffix)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", m.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	(&proxyCmd{env: c.env}).watchRules(ctx, cfg.Rules, m.rulesPoll, tg.Proxy, log)
	if ms.cert != nil {
		watchCertificate(ctx, ms.cert, log)
	}
	log.Info("tandem compare listening for shadow copies", "addr", ln.Addr().String(), "legacy", cfg.Legacy.String(),
		"candidate", cfg.Candidate.String(), "secondary", m.secondaryURL, "db", shownDB(*dbPath), "record", string(ms.wcfg.Record),
		"sample", cfg.Sample, "shadow_suffix", *suffix)
	if c.onListen != nil {
		c.onListen(ln.Addr().String())
	}
	serr := serveUntilStopped(ctx, log, tg, ln, m.adminAddr, admin.Handler(tg, w), c.onAdmin, m.drain,
		"stopping: draining the queue")
	w.Close()
	s, ws := tg.Stats(), w.Stats()
	log.Info("stopped", "copies", s.Requests, "queued", s.Mirrored, "compared", s.Compared, "mismatched", s.Mismatched,
		"dropped", s.Dropped, "skipped", s.Skipped, "legacy_errors", s.LegacyErrors, "stored", ws.Stored, "lost", ws.Lost)
	if serr != nil && !errors.Is(serr, context.DeadlineExceeded) {
		return serr
	}
	return nil
}
