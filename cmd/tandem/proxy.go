package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
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
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve clients on")
	legacyURL := fs.String("legacy", "", "legacy service `URL` (answers the clients)")
	candidateURL := fs.String("candidate", "", "candidate service `URL` (gets the mirrored copies)")
	secondaryURL := fs.String("secondary", "", "second legacy instance `URL`, to recognise legacy's own noise")
	rulesFile := fs.String("rules", "", "rules `file` (YAML); reloaded on SIGHUP and when it changes")
	rulesPoll := fs.Duration("rules-poll", rules.DefaultWatchInterval, "how often to look for changes to the rules file (0: only on SIGHUP)")
	dbPath := dbFlag(fs, "tandem.db", "to record in")
	instance := instanceFlag(fs)
	sample := fs.Float64("sample", 1.0, "fraction of requests to mirror where no rule says")
	record := fs.String("record", string(store.RecordMismatches), "what to store in full: mismatches (and errors), all, or none")
	timeout := fs.Duration("timeout", mirror.DefaultCandidateTimeout, "candidate (and secondary) timeout")
	serveTimeout := fs.Duration("serve-timeout", mirror.DefaultServeTimeout, "candidate timeout for requests it serves (cutover); a safe one then falls back to legacy")
	legacyTimeout := fs.Duration("legacy-timeout", mirror.DefaultLegacyTimeout, "legacy timeout (the client then gets a 504)")
	workers := fs.Int("workers", mirror.DefaultWorkers, "mirror workers (concurrent candidate requests)")
	queue := fs.Int("queue", mirror.DefaultQueueSize, "mirror queue length; copies beyond it are dropped and counted")
	queueBytes := sizeFlag(mirror.DefaultQueueBytes)
	fs.Var(&queueBytes, "queue-bytes", "bytes the mirror queue may hold (requests and legacy answers)")
	maxBody := sizeFlag(mirror.DefaultMaxBody)
	fs.Var(&maxBody, "max-body", "bytes of a body compared and stored; larger bodies compare by hash")
	drain := fs.Duration("drain-timeout", mirror.DefaultDrainTimeout, "on stop, how long to let the mirror queue drain")
	rewriteHost := fs.Bool("rewrite-host", false, "send each upstream its own Host header instead of the client's")
	maxHeader := sizeFlag(mirror.DefaultMaxHeaderBytes)
	fs.Var(&maxHeader, "max-header-bytes", "largest client request header accepted (larger: 431)")
	maxDB := sizeFlag(0)
	fs.Var(&maxDB, "max-db-size", "storage budget: the oldest stored exchanges are pruned to keep the data under this size (0: no limit; counters are never pruned)")
	retention := fs.Duration("retention", 0, "prune stored exchanges older than this (0: keep)")
	maxExchanges := fs.Int64("max-exchanges", 0, "keep at most this many stored exchanges, the newest (0: no limit)")
	adminAddr := fs.String("admin", "", "serve /metrics, /healthz and /debug/pprof on this `address` (a bare :PORT binds 127.0.0.1)")
	streamAfter := fs.Duration("stream-compare-after", mirror.DefaultStreamCompareAfter,
		"an answer without a length that lasts longer is a stream: counted streamed, not compared (unless its rule sets compare_streams)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	tlsOpts := addTLSFlags(fs, "legacy", "candidate", "secondary")
	edgeF := addEdgeFlags(fs)
	fwdFlags := addForwardFlags(fs, true) // upgrades and forwarding headers: forwardflags.go
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
	tlsFor, err := tlsOpts.resolve(map[string]*url.URL{"legacy": legacy, "candidate": candidate, "secondary": secondary}, log)
	if err != nil {
		return err
	}
	fwdCfg, err := fwdFlags.config()
	if err != nil {
		return err
	}
	if *sample < 0 || *sample > 1 {
		return usagef("--sample %v: want a fraction between 0 and 1", *sample)
	}
	edgeCfg, cert, err := edgeF.config(log, *workers, secondary != nil)
	if err != nil {
		return err
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
	w := db.NewWriter(store.WriterConfig{Record: mode, Logger: log, Instance: *instance,
		Retention: store.Retention{MaxBytes: int64(maxDB), MaxAge: *retention, MaxExchanges: *maxExchanges}})
	defer w.Close()
	cfg := mirror.Config{
		Legacy: legacy, Candidate: candidate, Secondary: secondary, Sample: *sample,
		CandidateTimeout: *timeout, LegacyTimeout: *legacyTimeout, Workers: *workers, ServeTimeout: *serveTimeout,
		QueueSize: *queue, QueueBytes: int64(queueBytes), MaxBody: int(maxBody),
		RewriteHost: *rewriteHost, MaxHeaderBytes: int(maxHeader), Rules: rs, Recorder: w, Logger: log,
		LegacyTLS: tlsFor["legacy"], CandidateTLS: tlsFor["candidate"], SecondaryTLS: tlsFor["secondary"],
		Edge: edgeCfg, StreamCompareAfter: *streamAfter,
	}
	fwdCfg.apply(&cfg)
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
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Before saying it listens, so that a SIGHUP sent as soon as it does
	// finds its handler.
	c.watchRules(ctx, rs, *rulesPoll, p, log)
	watchCertificate(ctx, cert, log)
	log.Info("tandem proxy listening", "addr", ln.Addr().String(), "legacy", legacy.String(), "candidate", candidate.String(),
		"secondary", *secondaryURL, "db", shownDB(*dbPath), "record", string(mode), "sample", *sample, "tls", cert != nil)
	if c.onListen != nil {
		c.onListen(ln.Addr().String())
	}
	serr := serveUntilStopped(ctx, log, p, ln, *adminAddr, admin.Handler(p, w, ctl), c.onAdmin, *drain,
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if path == "" {
					log.Warn("SIGHUP: no rules file to reload (start the proxy with --rules FILE)")
					continue
				}
				if s, err := rules.Load(path); err != nil {
					reject(err)
				} else {
					apply(s)
				}
			}
		}
	}()
	if poll > 0 && path != "" {
		go rules.Watch(ctx, rs, poll, apply, reject)
	}
}
