package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tandemproxy/tandem/admin"
	"github.com/tandemproxy/tandem/rules"
)

// server is what tandem proxy and tandem compare serve: a mirror.Proxy or
// a mirror.Target.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// serveUntilStopped serves s on ln, with the admin listener on adminAddr
// when it is set (onAdmin is told its address), until s fails or ctx ends
// (SIGINT, SIGTERM). Then it stops s, giving it drain to finish what is in
// flight, and returns Shutdown's error. The caller closes the writer and
// logs what was done.
func serveUntilStopped(ctx context.Context, log *slog.Logger, s server, ln net.Listener,
	adminAddr string, adminH http.Handler, onAdmin func(string), drain time.Duration, stopping string) error {
	if adminAddr != "" {
		srv, err := admin.Listen(adminAddr, adminH, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer srv.Close(context.Background())
		log.Info("admin listening", "addr", srv.Addr(), "paths", "/metrics /healthz /debug/pprof/")
		if onAdmin != nil {
			onAdmin(srv.Addr())
		}
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info(stopping, "drain_timeout", drain.String())
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	return s.Shutdown(sctx)
}

// loadRules loads the rules file at path, or the defaults when there is
// none; a broken file is a usage error naming file and line.
func loadRules(path string) (*rules.Set, error) {
	if path == "" {
		return rules.Default(), nil
	}
	rs, err := rules.Load(path)
	if err != nil {
		return nil, usageError{err}
	}
	return rs, nil
}
