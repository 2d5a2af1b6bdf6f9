package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tandemproxy/tandem/mirror"
)

// edgeFlags are the proxy's client-side flags: connection limit, timeouts,
// body limit and TLS.
type edgeFlags struct {
	maxConns                                *int
	headerTimeout, bodyTimeout, idleTimeout *time.Duration
	maxRequestBody                          sizeFlag
	tlsCert, tlsKey                         *string
}

func addEdgeFlags(fs *flag.FlagSet) *edgeFlags {
	f := &edgeFlags{maxRequestBody: mirror.DefaultMaxRequestBody}
	f.maxConns = fs.Int("max-conns", 0, "client connections open at once; beyond it new ones are closed at once and counted (0: derived from the open file limit)")
	f.headerTimeout = fs.Duration("header-timeout", mirror.DefaultHeaderTimeout, "time a client has to send a request's header, from the connection's opening or the request's first byte")
	f.bodyTimeout = fs.Duration("body-timeout", mirror.DefaultBodyTimeout, "time a client has to send a request's body once its header is in")
	f.idleTimeout = fs.Duration("idle-timeout", mirror.DefaultIdleTimeout, "time a keep-alive client connection may wait for its next request")
	fs.Var(&f.maxRequestBody, "max-request-body", "largest client request body read (larger: 413, reaching no upstream)")
	f.tlsCert = fs.String("tls-cert", "", "serve clients with TLS: certificate chain `file` (PEM; reloaded on SIGHUP)")
	f.tlsKey = fs.String("tls-key", "", "private key `file` (PEM) for --tls-cert")
	return f
}

// config raises the open file limit, derives --max-conns' default from it
// and loads the TLS pair.
func (f *edgeFlags) config(log *slog.Logger, workers int, secondary bool) (mirror.EdgeConfig, *mirror.Certificate, error) {
	e := mirror.EdgeConfig{MaxConns: *f.maxConns, HeaderTimeout: *f.headerTimeout, BodyTimeout: *f.bodyTimeout,
		IdleTimeout: *f.idleTimeout, MaxRequestBody: int(f.maxRequestBody)}
	if e.MaxConns < 0 {
		return e, nil, usagef("--max-conns %d: want a positive number (0: derived from the open file limit)", e.MaxConns)
	}
	if (*f.tlsCert == "") != (*f.tlsKey == "") {
		return e, nil, usagef("--tls-cert and --tls-key go together")
	}
	nofile, err := raiseNoFile()
	if err != nil {
		log.Warn("open file limit not raised", "err", err.Error())
	}
	ups := 1
	if secondary {
		ups = 2
	}
	derived, ok := defaultMaxConns(nofile, workers, ups)
	if nofile == 0 {
		derived, ok = 0, true // no descriptor limit known: no connection limit
	}
	if !ok {
		log.Warn("the open file limit leaves few descriptors for clients: raise it (ulimit -n) or lower --workers",
			"open_file_limit", nofile, "workers", workers)
	}
	if e.MaxConns == 0 {
		e.MaxConns = derived
	} else if derived > 0 && e.MaxConns > derived {
		log.Warn("--max-conns is above what the open file limit leaves for clients: a flood may meet EMFILE (retried) instead of a fast refusal",
			"max_conns", e.MaxConns, "open_file_limit", nofile, "suggested", derived)
	}
	log.Info("limits", "open_file_limit", nofile, "max_conns", e.MaxConns, "header_timeout", e.HeaderTimeout.String(),
		"body_timeout", e.BodyTimeout.String(), "idle_timeout", e.IdleTimeout.String(), "max_request_body", e.MaxRequestBody)
	if *f.tlsCert == "" {
		return e, nil, nil
	}
	cert, err := mirror.LoadCertificate(*f.tlsCert, *f.tlsKey)
	if err != nil {
		return e, nil, usageError{err}
	}
	e.TLS = cert.TLSConfig()
	return e, cert, nil
}

// watchCertificate reloads the TLS pair on SIGHUP (as the rules are); a
// broken pair is logged and the one in force stays.
func watchCertificate(ctx context.Context, cert *mirror.Certificate, log *slog.Logger) {
	if cert == nil {
		return
	}
	onHangup(ctx, func() {
		if err := cert.Reload(); err != nil {
			log.Error("TLS certificate not reloaded; the previous one stays in force", "err", err.Error())
			return
		}
		leaf := cert.Leaf()
		log.Info("TLS certificate reloaded", "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	})
}

// onHangup calls reload on every SIGHUP until ctx ends.
func onHangup(ctx context.Context, reload func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()
}
