package transport_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/runtime/transport"
)

// upstreamShapedDomain writes certificates shaped like upstream's test
// certificates (edgeless_api/src/grpc_impl/tls_certs): RSA-2048 keys in
// PKCS#1 PEM, leaves with CN=127.0.0.1 and SAN DNS:www.example.com,
// IP:127.0.0.1 signed by an intermediate CA, and CA-chain.pem holding the
// intermediate and the root.
func upstreamShapedDomain(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	key := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	sign := func(tmpl, parent *x509.Certificate, pub *rsa.PublicKey, by *rsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, by)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	certPEM := func(cs ...*x509.Certificate) []byte {
		var out []byte
		for _, c := range cs {
			out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
		return out
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rootKey, interKey := key(), key()
	caTmpl := func(n int64, cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign}
	}
	root := sign(caTmpl(1, "Root CA"), caTmpl(1, "Root CA"), &rootKey.PublicKey, rootKey)
	inter := sign(caTmpl(2, "Intermediate CA"), root, &interKey.PublicKey, rootKey)
	write("CA-chain.pem", certPEM(inter, root))
	for i, role := range []string{"node", "orchestrator", "controller"} {
		k := key()
		leaf := sign(&x509.Certificate{SerialNumber: big.NewInt(int64(10 + i)), Subject: pkix.Name{CommonName: "127.0.0.1"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DNSNames: []string{"www.example.com"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}, inter, &k.PublicKey, interKey)
		write(role+".pem", certPEM(leaf))
		write(role+".key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	}
	return dir
}

// Upstream's tl_config_orchestrator.toml, unchanged but for its paths, with
// certificates shaped like upstream's, serves and dials mutual TLS.
func TestLoadTLS_UpstreamLayoutAndCertificates(t *testing.T) {
	t.Parallel()
	dir := upstreamShapedDomain(t)
	layout := func(role string) string {
		return `[server]
server_cert_path = "` + role + `.pem"
server_key_path  = "` + role + `.key"
server_ca_path   = "CA-chain.pem"

[client]
client_cert_path = "` + role + `.pem"
client_key_path  = "` + role + `.key"
client_ca_path   = "CA-chain.pem"
domain_name      = "www.example.com"
#tpm_handle      = ""`
	}
	load := func(role string) *transport.TLS {
		p := filepath.Join(dir, "tl_config_"+role+".toml")
		if err := os.WriteFile(p, []byte(layout(role)), 0o600); err != nil {
			t.Fatal(err)
		}
		tc, err := transport.LoadTLS(p)
		if err != nil {
			t.Fatalf("LoadTLS(upstream %s layout): %v", role, err)
		}
		return tc
	}
	url, reached := serveEchoTLS(t, load("orchestrator").ServerConfig())
	if err := echoWith(t, load("controller").ClientConfig(), url); err != nil {
		t.Fatalf("echo with upstream-shaped certificates: %v", err)
	}
	if reached.Load() != 1 {
		t.Errorf("handler reached %d times, want 1", reached.Load())
	}
}
