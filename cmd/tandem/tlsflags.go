package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	upclient "github.com/tandemproxy/tandem/upstream"
)

// (upclient, not upstream: the tests here have an upstream of their own.)
//
// tlsFlags are the TLS options of each upstream of a command:
// --NAME-ca, --NAME-cert, --NAME-key and --NAME-server-name, and
// --insecure-skip-verify, which takes the names of the upstreams whose
// certificates are not checked, so that it is never a blanket switch.
type tlsFlags struct {
	names    []string
	opts     map[string]*upclient.TLSOptions
	insecure string
}

func addTLSFlags(fs *flag.FlagSet, names ...string) *tlsFlags {
	f := &tlsFlags{names: names, opts: map[string]*upclient.TLSOptions{}}
	for _, n := range names {
		o := new(upclient.TLSOptions)
		f.opts[n] = o
		fs.StringVar(&o.CAFile, n+"-ca", "", "PEM `file` of the CAs trusted for an https:// "+n+" (instead of the system's)")
		fs.StringVar(&o.CertFile, n+"-cert", "", "PEM client certificate `file` for an https:// "+n+" that requires one (mutual TLS)")
		fs.StringVar(&o.KeyFile, n+"-key", "", "PEM `file` of the key of --"+n+"-cert")
		fs.StringVar(&o.ServerName, n+"-server-name", "", "`name` checked in "+n+"'s certificate and sent as SNI (default: the URL's host)")
	}
	fs.StringVar(&f.insecure, "insecure-skip-verify", "", "comma `list` of upstreams ("+strings.Join(names, ",")+
		") whose TLS certificates are NOT checked: for a staging service only")
	return f
}

// resolve checks the options against the upstreams' URLs (nil: not given)
// and returns each upstream's, warning about every unchecked one.
func (f *tlsFlags) resolve(urls map[string]*url.URL, log *slog.Logger) (map[string]upclient.TLSOptions, error) {
	if f.insecure != "" {
		for _, n := range strings.Split(f.insecure, ",") {
			n = strings.TrimSpace(n)
			if !slices.Contains(f.names, n) {
				return nil, usagef("--insecure-skip-verify %q: %q is not an upstream (want a comma list of %s)", f.insecure, n, strings.Join(f.names, ", "))
			}
			f.opts[n].InsecureSkipVerify = true
		}
	}
	out := map[string]upclient.TLSOptions{}
	for _, n := range f.names {
		o := *f.opts[n]
		if !o.Set() {
			continue
		}
		u := urls[n]
		if u == nil || u.Scheme != "https" {
			return nil, usagef("TLS options for %s (--%s-ca, --%s-cert, --%s-key, --%s-server-name, --insecure-skip-verify): want an https:// --%s URL",
				n, n, n, n, n, n)
		}
		if o.InsecureSkipVerify {
			log.Warn(fmt.Sprintf("TLS certificates of %s are NOT checked (--insecure-skip-verify): anyone on the path can read and change its traffic; for staging only", n),
				"upstream", n, "url", u.String())
		}
		out[n] = o
	}
	return out, nil
}
