package main

import (
	"flag"
	"log/slog"
	"net/url"
	"time"

	"github.com/tandemproxy/tandem/mirror"
	"github.com/tandemproxy/tandem/rules"
	"github.com/tandemproxy/tandem/store"
)

// mirrorFlags are the flags proxy and compare share: the upstreams, the
// rules, what is recorded and kept, the queue and its workers, the limits,
// TLS, the client side and forwarding. They bind straight into
// mirror.Config where the types allow; resolve checks the rest.
type mirrorFlags struct {
	cfg                                   mirror.Config
	listen                                string
	legacyURL, candidateURL, secondaryURL string
	rulesFile                             string
	rulesPoll                             time.Duration
	record                                string
	queueBytes, maxBody, maxHeader, maxDB sizeFlag
	drain, retention                      time.Duration
	maxExchanges                          int64
	adminAddr, logLevel                   string
	tls                                   *tlsFlags
	edge                                  *edgeFlags
	fwd                                   *forwardFlags
}

// mirrorUsage holds the usage texts that differ between the commands: the
// proxy serves clients, compare receives another proxy's copies.
type mirrorUsage struct {
	listenDefault, listen, legacy, candidate, sample, legacyTimeout, workers, queue, queueBytes, drain, rewriteHost, maxHeader, maxDB string
	proxy                                                                                                                             bool // addForwardFlags' proxy
}

func addMirrorFlags(fs *flag.FlagSet, u mirrorUsage) *mirrorFlags {
	m := &mirrorFlags{queueBytes: sizeFlag(mirror.DefaultQueueBytes), maxBody: sizeFlag(mirror.DefaultMaxBody),
		maxHeader: sizeFlag(mirror.DefaultMaxHeaderBytes)}
	fs.StringVar(&m.listen, "listen", u.listenDefault, u.listen)
	fs.StringVar(&m.legacyURL, "legacy", "", u.legacy)
	fs.StringVar(&m.candidateURL, "candidate", "", u.candidate)
	fs.StringVar(&m.secondaryURL, "secondary", "", "second legacy instance `URL`, to recognise legacy's own noise")
	fs.StringVar(&m.rulesFile, "rules", "", "rules `file` (YAML); reloaded on SIGHUP and when it changes")
	fs.DurationVar(&m.rulesPoll, "rules-poll", rules.DefaultWatchInterval, "how often to look for changes to the rules file (0: only on SIGHUP)")
	fs.Float64Var(&m.cfg.Sample, "sample", 1.0, u.sample)
	fs.StringVar(&m.record, "record", string(store.RecordMismatches), "what to store in full: mismatches (and errors), all, or none")
	fs.DurationVar(&m.cfg.CandidateTimeout, "timeout", mirror.DefaultCandidateTimeout, "candidate (and secondary) timeout")
	fs.DurationVar(&m.cfg.LegacyTimeout, "legacy-timeout", mirror.DefaultLegacyTimeout, u.legacyTimeout)
	fs.IntVar(&m.cfg.Workers, "workers", mirror.DefaultWorkers, u.workers)
	fs.IntVar(&m.cfg.QueueSize, "queue", mirror.DefaultQueueSize, u.queue)
	fs.Var(&m.queueBytes, "queue-bytes", u.queueBytes)
	fs.Var(&m.maxBody, "max-body", "bytes of a body compared and stored; larger bodies compare by hash")
	fs.DurationVar(&m.drain, "drain-timeout", mirror.DefaultDrainTimeout, u.drain)
	fs.BoolVar(&m.cfg.RewriteHost, "rewrite-host", false, u.rewriteHost)
	fs.Var(&m.maxHeader, "max-header-bytes", u.maxHeader)
	fs.Var(&m.maxDB, "max-db-size", u.maxDB)
	fs.DurationVar(&m.retention, "retention", 0, "prune stored exchanges older than this (0: keep)")
	fs.Int64Var(&m.maxExchanges, "max-exchanges", 0, "keep at most this many stored exchanges, the newest (0: no limit)")
	fs.StringVar(&m.adminAddr, "admin", "", "serve /metrics, /healthz and /debug/pprof on this `address` (a bare :PORT binds 127.0.0.1)")
	fs.StringVar(&m.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	m.tls = addTLSFlags(fs, "legacy", "candidate", "secondary")
	m.edge = addEdgeFlags(fs)
	m.fwd = addForwardFlags(fs, u.proxy)
	return m
}

// mirrorSetup is what resolve makes of the flags: the mirror's
// configuration (all but its Recorder and Observer), the writer's, and the
// edge's certificate to watch (nil without TLS).
type mirrorSetup struct {
	log  *slog.Logger
	cfg  mirror.Config
	wcfg store.WriterConfig
	cert *mirror.Certificate
}

// resolve checks the flags (in the order proxy checked them; compare used to
// check forwarding before TLS, which matters only to which of two errors is
// named first),
// and builds the configurations.
func (m *mirrorFlags) resolve(e env) (*mirrorSetup, error) {
	log, err := newLogger(e, m.logLevel)
	if err != nil {
		return nil, err
	}
	cfg := m.cfg
	if cfg.Legacy, err = parseUpstream("legacy", m.legacyURL, true); err != nil {
		return nil, err
	}
	if cfg.Candidate, err = parseUpstream("candidate", m.candidateURL, true); err != nil {
		return nil, err
	}
	if cfg.Secondary, err = parseUpstream("secondary", m.secondaryURL, false); err != nil {
		return nil, err
	}
	tlsFor, err := m.tls.resolve(map[string]*url.URL{"legacy": cfg.Legacy, "candidate": cfg.Candidate, "secondary": cfg.Secondary}, log)
	if err != nil {
		return nil, err
	}
	cfg.LegacyTLS, cfg.CandidateTLS, cfg.SecondaryTLS = tlsFor["legacy"], tlsFor["candidate"], tlsFor["secondary"]
	fwd, err := m.fwd.config()
	if err != nil {
		return nil, err
	}
	if cfg.Sample < 0 || cfg.Sample > 1 {
		return nil, usagef("--sample %v: want a fraction between 0 and 1", cfg.Sample)
	}
	edge, cert, err := m.edge.config(log, cfg.Workers, cfg.Secondary != nil)
	if err != nil {
		return nil, err
	}
	mode, err := store.ParseRecordMode(m.record)
	if err != nil {
		return nil, usageError{err}
	}
	if cfg.Rules, err = loadRules(m.rulesFile); err != nil {
		return nil, err
	}
	cfg.Edge, cfg.Logger = edge, log
	cfg.QueueBytes, cfg.MaxBody, cfg.MaxHeaderBytes = int64(m.queueBytes), int(m.maxBody), int(m.maxHeader)
	fwd.apply(&cfg)
	wcfg := store.WriterConfig{Record: mode, Logger: log,
		Retention: store.Retention{MaxBytes: int64(m.maxDB), MaxAge: m.retention, MaxExchanges: m.maxExchanges}}
	return &mirrorSetup{log: log, cfg: cfg, wcfg: wcfg, cert: cert}, nil
}
