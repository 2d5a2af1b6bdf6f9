package mirror

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/tandemproxy/tandem/upstream"
	"github.com/valyala/fasthttp"
)

// Forwarding says which forwarding headers the proxy adds to a request, so
// that legacy (and the candidate and the secondary, which get the same
// request) learn the client's address, scheme and host instead of tandem's.
// The zero value adds X-Forwarded-For, X-Forwarded-Proto and
// X-Forwarded-Host, trusts nobody's incoming values, and leaves Forwarded
// alone.
type Forwarding struct {
	// Off sends requests with the forwarding headers the client sent, as
	// they are.
	Off bool
	// Trusted are the peers (other proxies, load balancers) whose incoming
	// X-Forwarded-* are kept and appended to. From any other peer they are
	// replaced: a client must not be able to choose the address legacy
	// sees (nginx's realip set_real_ip_from, Envoy's xff_num_trusted_hops).
	Trusted []netip.Prefix
	// RFC7239 also adds the standard Forwarded header (RFC 7239), under the
	// same trust.
	RFC7239 bool
}

// trusts reports whether a peer's forwarding headers are believed.
func (f *Forwarding) trusts(a netip.Addr) bool {
	for _, p := range f.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies parses a comma-separated list of networks (CIDR) and
// addresses, as --trusted-proxies takes it: "10.0.0.0/8,192.168.1.7,::1".
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxies: %q is not a network (write 10.0.0.0/8 or fd00::/8): %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxies: %q is not an address or a network (write 10.0.0.7 or 10.0.0.0/8)", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// forward sets the forwarding headers on a client request, before any copy
// of it is made.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx) {
	f := &p.cfg.Forwarding
	if f.Off {
		return
	}
	h := &ctx.Request.Header
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	trusted := f.trusts(peer)
	proto := "http"
	if ctx.IsTLS() {
		proto = "https"
	}
	// Whatever the client sent is taken out, in any case and however many
	// times; a trusted peer's values are put back first.
	xff := takeHeader(h, "X-Forwarded-For", trusted)
	xfp := takeHeader(h, "X-Forwarded-Proto", trusted)
	xfh := takeHeader(h, "X-Forwarded-Host", trusted)
	var fwd []byte
	if f.RFC7239 {
		fwd = takeHeader(h, "Forwarded", trusted)
	}
	var abuf [48]byte
	addr := append(abuf[:0], "unknown"...) // not an IP connection
	if peer.IsValid() {
		addr = peer.AppendTo(abuf[:0])
	}
	// The values are built in stack buffers where they can be: this runs
	// on the client path for every request.
	if len(xff) > 0 {
		h.SetBytesV("X-Forwarded-For", append(append(xff, ", "...), addr...))
	} else {
		h.SetBytesV("X-Forwarded-For", addr)
	}
	if len(xfp) > 0 {
		h.SetBytesV("X-Forwarded-Proto", xfp)
	} else {
		h.Set("X-Forwarded-Proto", proto)
	}
	host := h.Host()
	if len(xfh) == 0 {
		xfh = host
	}
	if len(xfh) > 0 {
		h.SetBytesV("X-Forwarded-Host", xfh)
	}
	if f.RFC7239 {
		if len(fwd) > 0 {
			fwd = append(fwd, ", "...)
		}
		fwd = append(fwd, "for="...)
		fwd = appendNode(fwd, peer)
		if len(host) > 0 {
			fwd = append(fwd, ";host="...)
			fwd = appendQuotedIfNeeded(fwd, host)
		}
		fwd = append(append(fwd, ";proto="...), proto...)
		h.SetBytesV("Forwarded", fwd)
	}
}

// takeHeader removes every field of the given name, in whatever case it was
// sent, and returns their values joined with ", " (RFC 9110 §5.3), or nil
// (always nil unless keep: an untrusted peer's values are only removed).
// The raw block names the fields as sent; fields already deleted (by the
// hop-by-hop pass) are in it still, but have no value left to peek.
func takeHeader(h *fasthttp.RequestHeader, name string, keep bool) []byte {
	var out []byte
	var nbuf [4][]byte
	names := nbuf[:0]
	for raw := h.RawHeaders(); len(raw) > 0; {
		var n []byte
		n, _, raw = upstream.NextField(raw)
		if len(n) != len(name) || !bytes.EqualFold(n, []byte(name)) {
			continue
		}
		seen := false
		for _, m := range names {
			seen = seen || bytes.Equal(m, n)
		}
		if seen {
			continue
		}
		names = append(names, n)
		if !keep {
			continue
		}
		for _, v := range h.PeekAll(string(n)) {
			if len(out) > 0 {
				out = append(out, ", "...)
			}
			out = append(out, v...)
		}
	}
	// Also by the standard name, for a field set after parsing.
	if len(names) == 0 && keep {
		for _, v := range h.PeekAll(name) {
			if len(out) > 0 {
				out = append(out, ", "...)
			}
			out = append(out, v...)
		}
	}
	for _, n := range names {
		h.DelBytes(n)
	}
	h.Del(name)
	return out
}

// appendNode writes a Forwarded node (RFC 7239 §6): an IPv6 address is
// bracketed and quoted, an unknown one is "unknown".
func appendNode(dst []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(dst, "unknown"...)
	case a.Is6():
		dst = append(dst, `"[`...)
		dst = a.AppendTo(dst)
		return append(dst, `]"`...)
	}
	return a.AppendTo(dst)
}

// appendQuotedIfNeeded writes a Forwarded value as a token, or as a quoted
// string when it holds characters a token cannot (a host's ':' port).
func appendQuotedIfNeeded(dst, v []byte) []byte {
	token := true
	for _, c := range v {
		if !isTokenChar(c) {
			token = false
			break
		}
	}
	if token {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for _, c := range v {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// isTokenChar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
