package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/tandemproxy/tandem/admin"
	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
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
	listen := fs.String("listen", defaultCompareListen, "address the mirror sends its copies to")
	legacyURL := fs.String("legacy", "", "legacy service `URL` (asked again for each copy)")
	candidateURL := fs.String("candidate", "", "candidate service `URL`")
	secondaryURL := fs.String("secondary", "", "second legacy instance `URL`, to recognise legacy's own noise")
	rulesFile := fs.String("rules", "", "rules `file` (YAML); reloaded on SIGHUP and when it changes")
	rulesPoll := fs.Duration("rules-poll", rules.DefaultWatchInterval, "how often to look for changes to the rules file (0: only on SIGHUP)")
	dbPath := fs.String("db", "tandem.db", "SQLite `file` to record in")
	sample := fs.Float64("sample", 1.0, "fraction of copies compared where no rule says (the mesh samples already)")
	record := fs.String("record", string(store.RecordMismatches), "what to store in full: mismatches (and errors), all, or none")
	timeout := fs.Duration("timeout", mirror.DefaultCandidateTimeout, "candidate (and secondary) timeout")
	legacyTimeout := fs.Duration("legacy-timeout", mirror.DefaultLegacyTimeout, "legacy timeout (the copy is then a legacy error)")
	workers := fs.Int("workers", mirror.DefaultWorkers, "workers (concurrent copies being compared)")
	queue := fs.Int("queue", mirror.DefaultQueueSize, "queue length; copies beyond it are dropped and counted")
	queueBytes := sizeFlag(mirror.DefaultQueueBytes)
	fs.Var(&queueBytes, "queue-bytes", "bytes the queue may hold")
	maxBody := sizeFlag(mirror.DefaultMaxBody)
	fs.Var(&maxBody, "max-body", "bytes of a body compared and stored; larger bodies compare by hash")
	drain := fs.Duration("drain-timeout", mirror.DefaultDrainTimeout, "on stop, how long to let the queue drain")
	rewriteHost := fs.Bool("rewrite-host", false, "send each upstream its own Host header instead of the copy's")
	maxHeader := sizeFlag(mirror.DefaultMaxHeaderBytes)
	fs.Var(&maxHeader, "max-header-bytes", "largest copy header accepted (larger: 431)")
	maxDB := sizeFlag(0)
	fs.Var(&maxDB, "max-db-size", "storage budget: the oldest stored exchanges are pruned to keep the data under this size (0: no limit)")
	retention := fs.Duration("retention", 0, "prune stored exchanges older than this (0: keep)")
	maxExchanges := fs.Int64("max-exchanges", 0, "keep at most this many stored exchanges, the newest (0: no limit)")
	adminAddr := fs.String("admin", "", "serve /metrics, /healthz and /debug/pprof on this `address` (a bare :PORT binds 127.0.0.1)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	suffix := fs.String("shadow-suffix", mirror.DefaultShadowSuffix, "removed from the end of each copy's Host, as Envoy and Istio add it (empty: keep the Host)")
	fwdFlags := addForwardFlags(fs, false)
	tlsOpts := addTLSFlags(fs, "legacy", "candidate", "secondary")
	edgeF := addEdgeFlags(fs)
	if err := parse(fs, args, false); err != nil {
		return err
	}
	log, err := newLogger(c.env, *logLevel)
	if err != nil {
		return err
	}
	legacy, err := parseUpstream("legacy", *legacyURL, true)
	if err != nil {
		return err
	}
	candidate, err := parseUpstream("candidate", *candidateURL, true)
	if err != nil {
		return err
	}
	secondary, err := parseUpstream("secondary", *secondaryURL, false)
	if err != nil {
		return err
	}
	fwdCfg, err := fwdFlags.config()
	if err != nil {
		return err
	}
	tlsFor, err := tlsOpts.resolve(map[string]*url.URL{"legacy": legacy, "candidate": candidate, "secondary": secondary}, log)
	if err != nil {
		return err
	}
	edgeCfg, cert, err := edgeF.config(log, *workers, secondary != nil)
	if err != nil {
		return err
	}
	if *sample < 0 || *sample > 1 {
		return usagef("--sample %v: want a fraction between 0 and 1", *sample)
	}
	mode, err := store.ParseRecordMode(*record)
	if err != nil {
		return usageError{err}
	}
	rs, err := loadRules(*rulesFile)
	if err != nil {
		return err
	}

	db, err := store.Open(ctx, *dbPath, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	w := db.NewWriter(store.WriterConfig{Record: mode, Logger: log,
		Retention: store.Retention{MaxBytes: int64(maxDB), MaxAge: *retention, MaxExchanges: *maxExchanges}})
	defer w.Close()
	cfg := mirror.Config{
		Legacy: legacy, Candidate: candidate, Secondary: secondary, Sample: *sample,
		CandidateTimeout: *timeout, LegacyTimeout: *legacyTimeout, Workers: *workers,
		QueueSize: *queue, QueueBytes: int64(queueBytes), MaxBody: int(maxBody),
		RewriteHost: *rewriteHost, MaxHeaderBytes: int(maxHeader), Rules: rs, Recorder: w, Logger: log,
		LegacyTLS: tlsFor["legacy"], CandidateTLS: tlsFor["candidate"], SecondaryTLS: tlsFor["secondary"],
		Edge: edgeCfg,
	}
	fwdCfg.apply(&cfg)
	tg, err := mirror.NewTarget(cfg, *suffix)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	(&proxyCmd{env: c.env}).watchRules(ctx, rs, *rulesPoll, tg.Proxy, log)
	if cert != nil {
		watchCertificate(ctx, cert, log)
	}
	log.Info("tandem compare listening for shadow copies", "addr", ln.Addr().String(), "legacy", legacy.String(),
		"candidate", candidate.String(), "secondary", *secondaryURL, "db", shownDB(*dbPath), "record", string(mode),
		"sample", *sample, "shadow_suffix", *suffix)
	if c.onListen != nil {
		c.onListen(ln.Addr().String())
	}
	serr := serveUntilStopped(ctx, log, tg, ln, *adminAddr, admin.Handler(tg, w), c.onAdmin, *drain,
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
