// Package admin serves tandem's operational endpoints: Prometheus metrics,
// a health check and the Go profiler. It listens on loopback unless told
// otherwise.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/tandemproxy/tandem/netlimit"
)

// Source writes metrics in the Prometheus text exposition format.
type Source interface {
	WriteMetrics(w io.Writer)
}

// Handler returns the admin routes: /metrics (every source, in order),
// /healthz and /debug/pprof/.
func Handler(sources ...Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		for _, s := range sources {
			s.WriteMetrics(w)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Addr completes an admin address: a bare port (":9090") binds loopback,
// because metrics and the profiler are not for the public network unless
// the user names another host.
func Addr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// DefaultMaxConns bounds the admin listener's open connections: a scrape,
// a health check and a profile download need a few, and a flood of them
// must not take the descriptors the proxy's clients need. Beyond it a new
// connection is closed at once.
const DefaultMaxConns = 64

// Server is a running admin server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen starts serving h on addr (completed by Addr). Accept errors are
// retried, never fatal, and connections beyond DefaultMaxConns are closed
// at once (netlimit); log gets the throttled warnings (nil: slog's default).
func Listen(addr string, h http.Handler, log ...*slog.Logger) (*Server, error) {
	a, err := Addr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	var lg *slog.Logger
	if len(log) > 0 {
		lg = log[0]
	}
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}, ln: ln}
	guarded := netlimit.New(ln, DefaultMaxConns, "admin", nil, lg)
	go func() {
		// The guarded listener returns an error only once closed.
		if err := s.srv.Serve(guarded); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }
