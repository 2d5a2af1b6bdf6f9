package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// TLSOptions configure TLS to an https:// upstream. The zero value trusts
// the system's roots and checks the URL's host name.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs trusted for this upstream, instead
	// of the system's.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key, for an
	// upstream that requires one (mutual TLS).
	CertFile, KeyFile string
	// ServerName is the name checked in the upstream's certificate (and
	// sent as SNI) instead of the URL's host.
	ServerName string
	// InsecureSkipVerify accepts any certificate: for a staging upstream
	// only. The caller warns at start.
	InsecureSkipVerify bool
}

// Set reports whether any option is given.
func (o TLSOptions) Set() bool {
	return o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" || o.ServerName != "" || o.InsecureSkipVerify
}

func (o TLSOptions) config(name, host string) (*tls.Config, error) {
	// The session cache lets a new connection resume a session instead of
	// a full handshake (connections are closed after a second idle).
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // only when asked for by name
		ClientSessionCache: tls.NewLRUClientSessionCache(0)}
	if o.ServerName != "" {
		cfg.ServerName = o.ServerName
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: read the CA bundle: %w", name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", name, o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, fmt.Errorf("%s: a client certificate needs both its certificate and its key file", name)
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: load the client certificate: %w", name, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// TLSError is a failed TLS handshake with an upstream.
type TLSError struct {
	Upstream, Addr string
	Err            error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("%s: TLS handshake with %s: %v", e.Upstream, e.Addr, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// reason says why a handshake failed, in words a user can act on.
func (e *TLSError) reason() string {
	flag := "--" + e.Upstream
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	switch {
	case errors.As(e.Err, &unknown):
		return fmt.Sprintf("TLS: %s's certificate is signed by an authority not trusted (give its CA with %s-ca)", e.Upstream, flag)
	case errors.As(e.Err, &hostname):
		return fmt.Sprintf("TLS: %s's certificate is not valid for %s (%s-server-name names the host to check)", e.Upstream, hostname.Host, flag)
	case errors.As(e.Err, &invalid):
		return fmt.Sprintf("TLS: %s's certificate is invalid: %v", e.Upstream, invalid)
	case errors.As(e.Err, &record):
		return fmt.Sprintf("TLS: %s did not answer in TLS (is it http://?)", e.Upstream)
	case strings.Contains(e.Err.Error(), "remote error"):
		return fmt.Sprintf("TLS: %s refused the handshake: %v (does it require a client certificate? %s-cert and %s-key give one)", e.Upstream, e.Err, flag, flag)
	}
	return fmt.Sprintf("TLS: handshake with %s failed: %v", e.Upstream, e.Err)
}
