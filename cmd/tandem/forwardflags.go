package main

import (
	"flag"
	"time"

	"github.com/tandemproxy/tandem/mirror"
)

// forwardFlags are the flags of what tandem adds to or does with a request at
// the edge, shared by tandem proxy and tandem compare: the tunnels of
// upgraded connections and the forwarding headers.
type forwardFlags struct {
	tunnels    bool // tandem compare receives no upgrades: no tunnel flags
	idle       *time.Duration
	maxTunnels *int
	forwarded  *bool
	trusted    *string
	rfc7239    *bool
}

// addForwardFlags defines the flags on fs: tandem proxy's (proxy: the tunnel
// flags, and forwarding headers added by default) or tandem compare's (no
// upgrade reaches it; the copies arrive with the headers the mesh set, so
// none are added by default).
func addForwardFlags(fs *flag.FlagSet, proxy bool) *forwardFlags {
	e := &forwardFlags{tunnels: proxy}
	if proxy {
		e.idle = fs.Duration("tunnel-idle-timeout", mirror.DefaultTunnelIdleTimeout, "close an upgraded connection (WebSocket) when both sides are silent this long")
		e.maxTunnels = fs.Int("max-tunnels", mirror.DefaultMaxTunnels, "upgraded connections open at once; beyond it an upgrade gets 503 (counted)")
	}
	e.forwarded = fs.Bool("forwarded-headers", proxy, "add X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host to the request every upstream gets")
	e.trusted = fs.String("trusted-proxies", "", "`networks` (10.0.0.0/8,192.168.1.7,…) whose incoming X-Forwarded-* are kept and appended to; from any other peer they are replaced")
	e.rfc7239 = fs.Bool("forwarded", false, "also add the RFC 7239 Forwarded header (same trust as X-Forwarded-*)")
	return e
}

// forwardConfig is what the flags parse to.
type forwardConfig struct {
	forwarding mirror.Forwarding
	idle       time.Duration
	maxTunnels int
}

func (e *forwardFlags) config() (forwardConfig, error) {
	var c forwardConfig
	trusted, err := mirror.ParseTrustedProxies(*e.trusted)
	if err != nil {
		return c, usagef("--trusted-proxies: %v", err)
	}
	c.forwarding = mirror.Forwarding{Off: !*e.forwarded, Trusted: trusted, RFC7239: *e.rfc7239}
	if e.tunnels {
		if *e.idle <= 0 {
			return c, usagef("--tunnel-idle-timeout %v: want a positive duration", *e.idle)
		}
		if *e.maxTunnels <= 0 {
			return c, usagef("--max-tunnels %d: want at least 1", *e.maxTunnels)
		}
		c.idle, c.maxTunnels = *e.idle, *e.maxTunnels
	}
	return c, nil
}

func (c forwardConfig) apply(cfg *mirror.Config) {
	cfg.Forwarding = c.forwarding
	cfg.TunnelIdleTimeout, cfg.MaxTunnels = c.idle, c.maxTunnels
}
