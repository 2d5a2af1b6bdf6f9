// Package upstreamtest makes what tests of TLS to an upstream need: a CA,
// certificates it signs for a server or a client, their PEM files, and a
// TLS server on loopback. Everything is generated in the test (crypto/x509),
// never read from disk.
package upstreamtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

// NewCA makes a CA.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := mustKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &CA{cert: cert, key: key, der: der}
}

// Pool is a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// File writes the CA's certificate as PEM in dir and returns its path.
func (ca *CA) File(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, ca.cert.Subject.CommonName+"-ca.pem")
	writePEM(tb, path, "CERTIFICATE", ca.der)
	return path
}

// Issue makes a certificate signed by the CA, for a server (valid for
// hosts, which may be IP addresses) or, with no hosts, for a client.
func (ca *CA) Issue(tb testing.TB, name string, hosts ...string) Cert {
	tb.Helper()
	key := mustKey(tb)
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return Cert{name: name, der: der, keyDER: keyDER, TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// Cert is a certificate and its key.
type Cert struct {
	name        string
	der, keyDER []byte
	TLS         tls.Certificate
}

// Files writes the certificate and its key as PEM in dir and returns their
// paths.
func (c Cert) Files(tb testing.TB, dir string) (certFile, keyFile string) {
	tb.Helper()
	certFile, keyFile = filepath.Join(dir, c.name+".pem"), filepath.Join(dir, c.name+"-key.pem")
	writePEM(tb, certFile, "CERTIFICATE", c.der)
	writePEM(tb, keyFile, "EC PRIVATE KEY", c.keyDER)
	return certFile, keyFile
}

// Server starts a TLS server on 127.0.0.1 with a certificate the CA signs
// for 127.0.0.1 and localhost. clientCAs, when not nil, makes it require a
// client certificate signed by them (mutual TLS).
func Server(tb testing.TB, ca *CA, clientCAs *CA, h http.Handler) *httptest.Server {
	tb.Helper()
	s := httptest.NewUnstartedServer(h)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(tb, "server", "127.0.0.1", "localhost").TLS}, MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		s.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		s.TLS.ClientCAs = clientCAs.Pool()
	}
	// The server's own handshake errors are the test's expected failures.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

func mustKey(tb testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

func serial(tb testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}
