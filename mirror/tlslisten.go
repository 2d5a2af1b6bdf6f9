package mirror

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
)

// Certificate holds the proxy's TLS certificate and key pair, replaced on
// Reload while the proxy serves: each new connection gets the pair in
// force when its handshake starts; connections already open keep theirs.
type Certificate struct {
	certFile, keyFile string
	pair              atomic.Pointer[tls.Certificate]
}

// LoadCertificate reads a PEM certificate (chain) and key pair.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the pair in force stays, and the
// error says which file is wrong and why.
func (c *Certificate) Reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil && len(pair.Certificate) > 0 {
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("TLS certificate %s: %w", c.certFile, err)
		}
	}
	c.pair.Store(&pair)
	return nil
}

// Leaf returns the certificate in force.
func (c *Certificate) Leaf() *x509.Certificate { return c.pair.Load().Leaf }

// TLSConfig returns the server configuration for the pair. Only HTTP/1.1
// is offered by ALPN: the proxy speaks HTTP/1.1, and a client told "h2"
// would send frames it cannot read.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.pair.Load(), nil
		},
	}
}
