package transport

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pelletier/go-toml/v2"
)

// TLSConfigFile is the file upstream's components read from their working
// directory; FindTLS looks for it there too.
const TLSConfigFile = "tls_config.toml"

// DefaultDomainName is the server name a client checks when the file names
// none (upstream's default).
const DefaultDomainName = "www.example.com"

// maxTLSFileBytes bounds tls_config.toml and each PEM file it names.
const maxTLSFileBytes = 1 << 20

// TLSFile is the content of upstream's tls_config.toml: a [server] and a
// [client] section, each optional.
type TLSFile struct {
	// Server configures every server of the process.
	Server TLSServerFile `toml:"server"`
	// Client configures every client of the process.
	Client TLSClientFile `toml:"client"`
}

// TLSServerFile is the [server] section.
type TLSServerFile struct {
	// CertPath is the server's certificate chain (PEM). Servers serve TLS
	// when both CertPath and KeyPath are set.
	CertPath string `toml:"server_cert_path"`
	// KeyPath is the server's private key (PEM: PKCS#1, PKCS#8 or EC).
	KeyPath string `toml:"server_key_path"`
	// CAPath holds the CA certificates that sign client certificates; when
	// set, every client must present one (mutual TLS).
	CAPath string `toml:"server_ca_path"`
}

// TLSClientFile is the [client] section.
type TLSClientFile struct {
	// CertPath is the certificate chain the client presents (PEM).
	CertPath string `toml:"client_cert_path"`
	// KeyPath is the client's private key (PEM).
	KeyPath string `toml:"client_key_path"`
	// CAPath holds the CA certificates that sign server certificates.
	// Clients speak TLS when it is set.
	CAPath string `toml:"client_ca_path"`
	// DomainName is the name the server's certificate must carry
	// (DefaultDomainName when empty), whatever host the URL names.
	DomainName string `toml:"domain_name"`
	// TPMHandle is upstream's TPM-held client key; not supported here.
	TPMHandle string `toml:"tpm_handle"`
}

// TLS is a loaded tls_config.toml. A nil *TLS, or a nil half, is plain
// text for that side.
type TLS struct {
	// Path is the file it was loaded from.
	Path string
	// Server is the config of every server, nil for plain text. With a
	// server CA it requires and verifies client certificates.
	Server *tls.Config
	// Client is the config of every client, nil for plain text. It verifies
	// the server against the client CA and domain name and presents the
	// client certificate when one is configured.
	Client *tls.Config
}

// ServerConfig returns the Config of servers (plain text for a nil t).
func (t *TLS) ServerConfig() Config {
	if t == nil {
		return Config{}
	}
	return Config{TLS: t.Server}
}

// ClientConfig returns the Config of clients (plain text for a nil t).
func (t *TLS) ClientConfig() Config {
	if t == nil {
		return Config{}
	}
	return Config{TLS: t.Client}
}

// ErrNoTLSFile is returned by FindTLS (wrapped) when no path was given and
// the working directory holds no tls_config.toml: the caller runs plain
// text and should say so.
var ErrNoTLSFile = errors.New("no " + TLSConfigFile + " in the working directory: servers and clients speak plain text")

// FindTLS loads the TLS file at path, or, when path is empty,
// tls_config.toml in the working directory as upstream does. With no path
// and no such file it returns nil and an error wrapping ErrNoTLSFile, which
// callers log as a warning. A file that exists but is wrong is an error
// (upstream falls back to plain text there; a broken security config must
// not).
func FindTLS(path string) (*TLS, error) {
	if path != "" {
		return LoadTLS(path)
	}
	if _, err := os.Stat(TLSConfigFile); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoTLSFile
	}
	return LoadTLS(TLSConfigFile)
}

// LoadTLS reads a tls_config.toml. Relative paths in it are resolved from
// the file's directory (which is upstream's working directory when the file
// was found there). Unknown keys, missing halves of a pair, unreadable or
// malformed PEM and a TPM handle are errors naming the key.
func LoadTLS(path string) (*TLS, error) {
	raw, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("tls config: %w", err)
	}
	var f TLSFile
	dec := toml.NewDecoder(bytes.NewReader(raw)).DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var sme *toml.StrictMissingError
		if errors.As(err, &sme) {
			return nil, fmt.Errorf("tls config %s: %s", path, sme.String())
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("tls config %s:%d:%d: %w", path, row, col, err)
		}
		return nil, fmt.Errorf("tls config %s: %w", path, err)
	}
	t, err := f.build(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("tls config %s: %w", path, err)
	}
	t.Path = path
	return t, nil
}

func (f TLSFile) build(dir string) (*TLS, error) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	t := &TLS{}
	s := f.Server
	switch {
	case s.CertPath != "" && s.KeyPath != "":
		cert, err := loadKeyPair("server.server_cert_path", abs(s.CertPath), "server.server_key_path", abs(s.KeyPath))
		if err != nil {
			return nil, err
		}
		t.Server = &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
		}
		if s.CAPath != "" {
			pool, err := loadPool("server.server_ca_path", abs(s.CAPath))
			if err != nil {
				return nil, err
			}
			t.Server.ClientCAs = pool
			t.Server.ClientAuth = tls.RequireAndVerifyClientCert
		}
	case s.CertPath != "" || s.KeyPath != "":
		return nil, errors.New("[server]: server_cert_path and server_key_path go together: set both or neither")
	case s.CAPath != "":
		return nil, errors.New("[server]: server_ca_path without server_cert_path and server_key_path: a server needs its own certificate to ask for a client's")
	}

	c := f.Client
	if c.TPMHandle != "" {
		return nil, fmt.Errorf("[client] tpm_handle %q: TPM-held keys are not supported by this node; put the key in a PEM file and set client_key_path instead", c.TPMHandle)
	}
	if c.CAPath == "" {
		if c.CertPath != "" || c.KeyPath != "" {
			return nil, errors.New("[client]: client_cert_path/client_key_path without client_ca_path: clients speak TLS only with a CA to check the server against")
		}
		return t, nil
	}
	pool, err := loadPool("client.client_ca_path", abs(c.CAPath))
	if err != nil {
		return nil, err
	}
	domain := c.DomainName
	if domain == "" {
		domain = DefaultDomainName
	}
	t.Client = &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		ServerName: domain,
		NextProtos: []string{"h2"},
	}
	switch {
	case c.CertPath != "" && c.KeyPath != "":
		cert, err := loadKeyPair("client.client_cert_path", abs(c.CertPath), "client.client_key_path", abs(c.KeyPath))
		if err != nil {
			return nil, err
		}
		t.Client.Certificates = []tls.Certificate{cert}
	case c.CertPath != "" || c.KeyPath != "":
		return nil, errors.New("[client]: client_cert_path and client_key_path go together: set both or neither")
	}
	return t, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTLSFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxTLSFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxTLSFileBytes)
	}
	return b, nil
}

func loadKeyPair(certKey, certPath, keyKey, keyPath string) (tls.Certificate, error) {
	certPEM, err := readBounded(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", certKey, err)
	}
	keyPEM, err := readBounded(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", keyKey, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s with %s %s: %w", certKey, certPath, keyKey, keyPath, err)
	}
	return cert, nil
}

func loadPool(key, path string) (*x509.CertPool, error) {
	pemBytes, err := readBounded(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", key, path)
	}
	return pool, nil
}
