package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TLSServer is a redis-server that also listens with TLS and requires
// client certificates, with the certificates the test generated.
type TLSServer struct {
	*Server
	// TLSPort is its TLS port on 127.0.0.1.
	TLSPort int
	// CAFile verifies the server; CertFile and KeyFile are a client
	// certificate signed by the same CA.
	CAFile, CertFile, KeyFile string
}

// URL is a rediss:// URL with the CA and client certificate.
func (s *TLSServer) URL() string {
	q := url.Values{"tls_ca_file": {s.CAFile}, "tls_cert_file": {s.CertFile}, "tls_key_file": {s.KeyFile}}
	return "rediss://127.0.0.1:" + strconv.Itoa(s.TLSPort) + "?" + q.Encode()
}

// StartTLS starts a redis-server with a TLS port (client certificates
// required) besides its plain loopback port, which stays for test setup.
func StartTLS(t testing.TB, args ...string) *TLSServer {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "seshat test CA", true)
	writePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.Raw)
	srv, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	writePEM(t, filepath.Join(dir, "server.crt"), "CERTIFICATE", srv.Raw)
	writeKey(t, filepath.Join(dir, "server.key"), srvKey)
	cli, cliKey := newCert(t, ca, caKey, "seshat client", false)
	writePEM(t, filepath.Join(dir, "client.crt"), "CERTIFICATE", cli.Raw)
	writeKey(t, filepath.Join(dir, "client.key"), cliKey)

	port := FreePort(t)
	s := Start(t, append([]string{
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(dir, "server.crt"),
		"--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.crt"),
		"--tls-auth-clients", "yes",
	}, args...)...)
	return &TLSServer{
		Server: s, TLSPort: port,
		CAFile: filepath.Join(dir, "ca.crt"), CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key"),
	}
}

func newCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writePEM(t testing.TB, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKey(t testing.TB, path string, key *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "EC PRIVATE KEY", der)
}
