// Package transporttest serves handlers and builds clients for tests, on
// real 127.0.0.1 sockets with the node's transport settings, so that tests
// do not copy the h2c set-up.
package transporttest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/certs"
)

// NewServer serves h on 127.0.0.1 as the node's servers do
// (transport.NewServer: HTTP/1.1 and h2c, header and idle timeouts, HTTP/2
// settings) and closes it when the test ends.
func NewServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config = transport.NewServer(h, nil)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// NewH2COnlyServer serves h on 127.0.0.1 with plain-text HTTP/2 only, as
// upstream's tonic servers do, and closes it when the test ends.
func NewH2COnlyServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// Serve mounts h on path (as returned by a connect New…Handler) on a new
// server (see NewServer) and returns its URL.
func Serve(t testing.TB, path string, h http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(path, h)
	return NewServer(t, mux).URL
}

// Client returns a bare h2c client, as gRPC peers in other languages (tonic,
// grpcio) use: no limits or options of this project's transport, so that a
// test can send what a foreign peer could.
func Client() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// Domain writes a test domain into a temporary directory (a CA, node,
// orchestrator and CLI certificates for www.example.com and 127.0.0.1, and
// their tls_config files, see certs.WriteDomain) and returns it.
func Domain(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.WriteDomain(dir, certs.DomainOptions{}); err != nil {
		t.Fatalf("WriteDomain: %v", err)
	}
	return dir
}

// LoadTLS loads dir/tls_config_<role>.toml of a Domain.
func LoadTLS(t testing.TB, dir, role string) *transport.TLS {
	t.Helper()
	tc, err := transport.LoadTLS(filepath.Join(dir, "tls_config_"+role+".toml"))
	if err != nil {
		t.Fatalf("LoadTLS: %v", err)
	}
	return tc
}

// ServeWith serves h on 127.0.0.1 with cfg (TLS when cfg has it) through
// transport.Serve until the test ends, and returns its URL (https:// with
// TLS).
func ServeWith(t testing.TB, h http.Handler, cfg transport.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv, err := cfg.NewServer(h, nil)
	if err != nil {
		ln.Close()
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := transport.Serve(ctx, srv, ln, "test server"); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	scheme := "http://"
	if cfg.TLS != nil {
		scheme = "https://"
	}
	return scheme + ln.Addr().String()
}
