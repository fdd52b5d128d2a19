// Package certs makes the certificates of a test or small EDGELESS domain
// with Go's crypto (no openssl): a CA, and certificates signed by it for
// nodes, the orchestrator and the CLI, each usable as server and client
// certificate, plus the tls_config.toml of each role.
package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority that signs the domain's certificates.
type CA struct {
	// Cert is the CA's self-signed certificate.
	Cert *x509.Certificate
	// CertPEM is Cert in PEM, what a tls_config.toml's *_ca_path names.
	CertPEM []byte
	// KeyPEM is the CA's private key in PEM (PKCS#8).
	KeyPEM []byte

	key crypto.Signer
}

// Pair is a certificate and its key in PEM.
type Pair struct {
	// CertPEM is the certificate.
	CertPEM []byte
	// KeyPEM is the private key (PKCS#8).
	KeyPEM []byte
}

// NewCA returns a new CA named name, valid from notBefore to notAfter.
func NewCA(name string, notBefore, notAfter time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"EDGELESS test domain"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	keyPEM, err := keyToPEM(key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: certToPEM(der), KeyPEM: keyPEM, key: key}, nil
}

// Issue returns a certificate for commonName signed by ca, valid from
// notBefore to notAfter for both server and client authentication. Each of
// names is an IP address or a DNS name the certificate is valid for.
func (ca *CA) Issue(commonName string, names []string, notBefore, notAfter time.Time) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("key of %s: %w", commonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("certificate of %s: %w", commonName, err)
	}
	keyPEM, err := keyToPEM(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: certToPEM(der), KeyPEM: keyPEM}, nil
}

// Roles are the certificates WriteDomain makes, one per kind of component.
var Roles = []string{"node", "orchestrator", "cli"}

// DomainOptions configures WriteDomain.
type DomainOptions struct {
	// DomainName is the name every certificate carries and every client
	// checks (domain_name in the tls_config.toml files; upstream's default
	// www.example.com when empty).
	DomainName string
	// Hosts are more names (IP addresses or DNS names) every certificate is
	// valid for; 127.0.0.1 and localhost are always added.
	Hosts []string
	// Validity is how long the certificates are valid from now (default one
	// year).
	Validity time.Duration
	// Overwrite replaces existing files; without it an existing file is an
	// error.
	Overwrite bool
}

// WriteDomain writes into dir a CA (ca.pem, ca.key), a certificate and key
// per role (node.pem, node.key, …) and a tls_config file per role
// (tls_config_node.toml, tls_config_orchestrator.toml: server and client
// with mutual TLS; tls_config_cli.toml: client only), whose paths are
// relative to dir. It returns the files written.
func WriteDomain(dir string, o DomainOptions) ([]string, error) {
	if o.DomainName == "" {
		o.DomainName = "www.example.com"
	}
	if o.Validity <= 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	now := time.Now()
	from, until := now.Add(-time.Hour), now.Add(o.Validity)
	ca, err := NewCA("EDGELESS domain CA", from, until)
	if err != nil {
		return nil, err
	}
	names := append([]string{o.DomainName, "127.0.0.1", "localhost"}, o.Hosts...)
	files := map[string][]byte{"ca.pem": ca.CertPEM, "ca.key": ca.KeyPEM}
	order := []string{"ca.pem", "ca.key"}
	for _, role := range Roles {
		p, err := ca.Issue(role, names, from, until)
		if err != nil {
			return nil, err
		}
		files[role+".pem"], files[role+".key"] = p.CertPEM, p.KeyPEM
		cfg := fmt.Sprintf("tls_config_%s.toml", role)
		files[cfg] = []byte(TLSConfig(role, role != "cli", o.DomainName))
		order = append(order, role+".pem", role+".key", cfg)
	}
	if !o.Overwrite {
		for _, name := range order {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				return nil, fmt.Errorf("%s exists (overwrite it with --force)", filepath.Join(dir, name))
			} else if !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	var written []string
	for _, name := range order {
		mode := os.FileMode(0o644)
		if filepath.Ext(name) == ".key" {
			mode = 0o600
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, files[name], mode); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// TLSConfig returns the tls_config.toml of a component whose certificate
// and key are role.pem and role.key beside ca.pem: a [client] section that
// presents them and checks servers for domainName, and with server a
// [server] section that serves them and requires client certificates.
func TLSConfig(role string, server bool, domainName string) string {
	s := "# tls_config.toml of the " + role + " (upstream's format). Paths are relative to this file.\n"
	if server {
		s += fmt.Sprintf("[server]\nserver_cert_path = %q\nserver_key_path  = %q\nserver_ca_path   = %q\n\n", role+".pem", role+".key", "ca.pem")
	}
	s += fmt.Sprintf("[client]\nclient_cert_path = %q\nclient_key_path  = %q\nclient_ca_path   = %q\ndomain_name      = %q\n", role+".pem", role+".key", "ca.pem", domainName)
	return s
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

func certToPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyToPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadCA reads a CA written by WriteDomain (ca.pem and ca.key), to issue
// more certificates for its domain.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM key", keyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	return &CA{Cert: cert, CertPEM: certPEM, KeyPEM: keyPEM, key: signer}, nil
}
