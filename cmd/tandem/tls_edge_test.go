package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tandem test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate for 127.0.0.1 with the given serial, and its
// key, as PEM files.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// The key first, then the certificate, each replaced whole (rename),
	// as a certificate manager does.
	writeAtomic(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	writeAtomic(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serialSeen opens a new TLS connection and returns the serial of the
// certificate tandem showed, and the protocol ALPN chose.
func serialSeen(t *testing.T, addr string, pool *x509.CertPool) (int64, string) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	st := c.ConnectionState()
	return st.PeerCertificates[0].SerialNumber.Int64(), st.NegotiatedProtocol
}

// --tls-cert/--tls-key: a client trusting the CA gets legacy's answer over
// TLS, ALPN offers only http/1.1; after the files are replaced and SIGHUP,
// a new connection sees the new certificate; a broken pair keeps the one
// in force and says why.
func TestEdge_TLSListenAndReload(t *testing.T) {
	legacy, candidate := legacyServer(t), legacyServer(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca := newTestCA(t)
	ca.issue(t, 100, certFile, keyFile)
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(dir, "tls.db"),
		"--tls-cert", certFile, "--tls-key", keyFile)

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + p.addr + "/items/1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != legacyBody || resp.ProtoMajor != 1 {
		t.Fatalf("over TLS: %s %d %q, want HTTP/1.1 200 and legacy's answer", resp.Proto, resp.StatusCode, b)
	}
	if serial, proto := serialSeen(t, p.addr, ca.pool); serial != 100 || proto != "http/1.1" {
		t.Fatalf("serial %d, ALPN %q: want 100, http/1.1", serial, proto)
	}

	ca.issue(t, 200, certFile, keyFile)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p.log, "TLS certificate reloaded", 1)
	if serial, _ := serialSeen(t, p.addr, ca.pool); serial != 200 {
		t.Fatalf("after SIGHUP a new connection saw serial %d, want 200", serial)
	}

	writeAtomic(t, certFile, []byte("not a certificate\n"))
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p.log, "TLS certificate not reloaded", 1)
	if serial, _ := serialSeen(t, p.addr, ca.pool); serial != 200 {
		t.Fatalf("after a broken pair a new connection saw serial %d, want 200 (kept)", serial)
	}
	if !strings.Contains(p.log(), certFile) {
		t.Errorf("the log does not name the broken file:\n%s", p.log())
	}
	alive(t, p)
}

// A prior-knowledge HTTP/2 client on a raw socket gets 505 and a closed
// connection from the real binary, never a hang.
func TestEdge_HTTP2PriorKnowledge(t *testing.T) {
	legacy, candidate := legacyServer(t), legacyServer(t)
	p := startTandem(t, "--legacy", legacy.URL, "--candidate", candidate.URL, "--db", filepath.Join(t.TempDir(), "h2.db"))
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("no clean close: %v (got %q)", err, b)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 505 ") {
		t.Fatalf("got %q, want a 505", b)
	}
	if n := len(legacy.requests()); n != 0 {
		t.Errorf("legacy got %d requests", n)
	}
}
