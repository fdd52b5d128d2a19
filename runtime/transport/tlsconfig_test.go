package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/certs"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// serveEchoTLS serves an echo handler with cfg and counts the requests that
// reached it.
func serveEchoTLS(t *testing.T, cfg transport.Config) (string, *atomic.Int64) {
	t.Helper()
	var reached atomic.Int64
	h := connect.NewUnaryHandler(echoProcedure,
		func(_ context.Context, req *connect.Request[wrapperspb.BytesValue]) (*connect.Response[wrapperspb.BytesValue], error) {
			reached.Add(1)
			return connect.NewResponse(req.Msg), nil
		}, transport.HandlerOptions(testLimit)...)
	mux := http.NewServeMux()
	mux.Handle(echoProcedure, h)
	return transporttest.ServeWith(t, mux, cfg), &reached
}

func echoWith(t *testing.T, cfg transport.Config, url string) error {
	t.Helper()
	hc, tr, err := transport.ClientConfig{Config: cfg}.NewClient()
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	defer tr.CloseIdleConnections()
	c := connect.NewClient[wrapperspb.BytesValue, wrapperspb.BytesValue](hc, url+echoProcedure, transport.ClientOptions(testLimit)...)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := c.CallUnary(ctx, connect.NewRequest(wrapperspb.Bytes([]byte("ping"))))
	if err == nil && string(res.Msg.GetValue()) != "ping" {
		t.Errorf("echo = %q, want %q", res.Msg.GetValue(), "ping")
	}
	return err
}

func TestTLS_MutualServed(t *testing.T) {
	t.Parallel()
	dom := transporttest.Domain(t)
	node, orc := transporttest.LoadTLS(t, dom, "node"), transporttest.LoadTLS(t, dom, "orchestrator")
	url, reached := serveEchoTLS(t, node.ServerConfig())
	if err := echoWith(t, orc.ClientConfig(), url); err != nil {
		t.Fatalf("echo over mTLS: %v", err)
	}
	// An http:// URL is dialled with TLS too: the config decides.
	if err := echoWith(t, orc.ClientConfig(), "http://"+strings.TrimPrefix(url, "https://")); err != nil {
		t.Fatalf("echo over mTLS to an http:// URL: %v", err)
	}
	if got := reached.Load(); got != 2 {
		t.Errorf("handler reached %d times, want 2", got)
	}
	// grpcio and tonic need the server to select h2 by ALPN.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), orc.Client)
	if err != nil {
		t.Fatalf("tls.Dial: %v", err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().NegotiatedProtocol; got != "h2" {
		t.Errorf("ALPN protocol = %q, want h2", got)
	}
}

func TestTLS_RefusedAtHandshake(t *testing.T) {
	t.Parallel()
	dom, other := transporttest.Domain(t), transporttest.Domain(t)
	node := transporttest.LoadTLS(t, dom, "node")
	good := transporttest.LoadTLS(t, dom, "cli").Client
	url, reached := serveEchoTLS(t, node.ServerConfig())

	expired := clone(good)
	expired.Certificates = []tls.Certificate{issue(t, dom, "cli", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))}
	noCert := clone(good)
	noCert.Certificates = nil
	otherCA := clone(good)
	otherCA.Certificates = transporttest.LoadTLS(t, other, "cli").Client.Certificates
	wrongName := clone(good)
	wrongName.ServerName = "wrong.example.com"
	trustsOther := transporttest.LoadTLS(t, other, "cli").Client

	for _, tt := range []struct {
		name    string
		cfg     transport.Config
		wantErr string
	}{
		{"no client certificate", transport.Config{TLS: noCert}, "certificate required"},
		{"client certificate from another CA", transport.Config{TLS: otherCA}, "unknown certificate authority"},
		{"expired client certificate", transport.Config{TLS: expired}, "expired certificate"},
		{"server name not in its certificate", transport.Config{TLS: wrongName}, "not wrong.example.com"},
		{"server certificate from another CA", transport.Config{TLS: trustsOther}, "certificate signed by unknown authority"},
		{"plain text", transport.Config{}, "the server speaks TLS: give this client a tls_config.toml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := url
			if tt.cfg.TLS == nil {
				u = "http://" + strings.TrimPrefix(url, "https://")
			}
			err := echoWith(t, tt.cfg, u)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("echo = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	t.Cleanup(func() {
		if got := reached.Load(); got != 0 {
			t.Errorf("handler reached %d times, want 0: every client must be refused before a request", got)
		}
	})
}

func TestTLS_ExpiredServerCertificateRefused(t *testing.T) {
	t.Parallel()
	dom := transporttest.Domain(t)
	srvCfg := clone(transporttest.LoadTLS(t, dom, "node").Server)
	srvCfg.Certificates = []tls.Certificate{issue(t, dom, "node", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))}
	url, reached := serveEchoTLS(t, transport.Config{TLS: srvCfg})
	err := echoWith(t, transporttest.LoadTLS(t, dom, "orchestrator").ClientConfig(), url)
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("echo to a server with an expired certificate = %v, want an error naming it expired", err)
	}
	if got := reached.Load(); got != 0 {
		t.Errorf("handler reached %d times, want 0", got)
	}
}

func TestTLS_ServerAuthOnlyWithoutServerCA(t *testing.T) {
	t.Parallel()
	dom := transporttest.Domain(t)
	srvCfg := clone(transporttest.LoadTLS(t, dom, "node").Server)
	srvCfg.ClientAuth, srvCfg.ClientCAs = tls.NoClientCert, nil
	url, _ := serveEchoTLS(t, transport.Config{TLS: srvCfg})
	noCert := clone(transporttest.LoadTLS(t, dom, "cli").Client)
	noCert.Certificates = nil
	if err := echoWith(t, transport.Config{TLS: noCert}, url); err != nil {
		t.Errorf("echo without a client certificate to a server without server_ca_path = %v, want nil", err)
	}
}

// issue makes a certificate for role signed by dom's CA, valid from from
// to until.
func issue(t *testing.T, dom, role string, from, until time.Time) tls.Certificate {
	t.Helper()
	ca, err := certs.LoadCA(filepath.Join(dom, "ca.pem"), filepath.Join(dom, "ca.key"))
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	p, err := ca.Issue(role, []string{"www.example.com", "127.0.0.1"}, from, until)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
	return cert
}

func clone(c *tls.Config) *tls.Config { return c.Clone() }

func TestLoadTLS(t *testing.T) {
	t.Parallel()
	dom := transporttest.Domain(t)
	write := func(t *testing.T, body string) string {
		p := filepath.Join(dom, strings.ReplaceAll(t.Name(), "/", "_")+".toml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name, body, wantErr                              string
		wantServer, wantMTLS, wantClient, wantClientCert bool
	}{
		{
			name: "upstream orchestrator layout",
			body: `[server]
server_cert_path = "orchestrator.pem"
server_key_path  = "orchestrator.key"
server_ca_path   = "ca.pem"

[client]
client_cert_path = "orchestrator.pem"
client_key_path  = "orchestrator.key"
client_ca_path   = "ca.pem"
domain_name      = "www.example.com"
#tpm_handle      = ""`,
			wantServer: true, wantMTLS: true, wantClient: true, wantClientCert: true,
		},
		{
			name: "upstream node layout with a TPM handle",
			body: `[server]
server_cert_path = "node.pem"
server_key_path  = "node.key"
server_ca_path   = "ca.pem"

[client]
client_cert_path = "node.pem"
#client_key_path = ""
client_ca_path   = "ca.pem"
domain_name      = "www.example.com"
tpm_handle      = "0x81010002"`,
			wantErr: `[client] tpm_handle "0x81010002": TPM-held keys are not supported by this node; put the key in a PEM file and set client_key_path instead`,
		},
		{name: "server auth only", body: "[server]\nserver_cert_path = \"node.pem\"\nserver_key_path = \"node.key\"\n", wantServer: true},
		{name: "client without certificate", body: "[client]\nclient_ca_path = \"ca.pem\"\n", wantClient: true},
		{name: "empty file", body: ""},
		{name: "cert without key", body: "[server]\nserver_cert_path = \"node.pem\"\n", wantErr: "server_cert_path and server_key_path go together"},
		{name: "client cert without CA", body: "[client]\nclient_cert_path = \"node.pem\"\nclient_key_path = \"node.key\"\n", wantErr: "without client_ca_path"},
		{name: "unknown key", body: "[server]\nserver_cert = \"node.pem\"\n", wantErr: "server_cert"},
		{name: "missing file", body: "[client]\nclient_ca_path = \"nope.pem\"\n", wantErr: "client.client_ca_path: open"},
		{name: "key of another certificate", body: "[server]\nserver_cert_path = \"node.pem\"\nserver_key_path = \"cli.key\"\n", wantErr: "private key does not match public key"},
		{name: "not PEM", body: "[client]\nclient_ca_path = \"tls_config_cli.toml\"\n", wantErr: "no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := transport.LoadTLS(write(t, tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadTLS = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadTLS: %v", err)
			}
			if (got.Server != nil) != tt.wantServer || (got.Client != nil) != tt.wantClient {
				t.Fatalf("LoadTLS: server %v client %v, want %v %v", got.Server != nil, got.Client != nil, tt.wantServer, tt.wantClient)
			}
			if got.Server != nil && (got.Server.ClientAuth == tls.RequireAndVerifyClientCert) != tt.wantMTLS {
				t.Errorf("server ClientAuth = %v, want mutual %v", got.Server.ClientAuth, tt.wantMTLS)
			}
			if got.Client != nil {
				if (len(got.Client.Certificates) > 0) != tt.wantClientCert {
					t.Errorf("client certificates = %d, want some: %v", len(got.Client.Certificates), tt.wantClientCert)
				}
				if got.Client.ServerName != "www.example.com" {
					t.Errorf("client ServerName = %q, want www.example.com (upstream's default)", got.Client.ServerName)
				}
			}
		})
	}
}

func TestFindTLS_AbsentIsPlainText(t *testing.T) {
	// Not parallel: FindTLS reads the working directory.
	t.Chdir(t.TempDir())
	tc, err := transport.FindTLS("")
	if tc != nil || !errors.Is(err, transport.ErrNoTLSFile) {
		t.Fatalf("FindTLS without a file = %v, %v, want nil, ErrNoTLSFile", tc, err)
	}
	if _, err := transport.FindTLS("missing.toml"); err == nil {
		t.Error("FindTLS(missing.toml) = nil error, want one: an explicit path must exist")
	}
	dom := transporttest.Domain(t)
	body, err := os.ReadFile(filepath.Join(dom, "tls_config_cli.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// Discovered in the working directory, with paths relative to it.
	body = []byte(strings.ReplaceAll(string(body), `"ca.pem"`, `"`+filepath.Join(dom, "ca.pem")+`"`))
	body = []byte(strings.ReplaceAll(string(body), `"cli.`, `"`+filepath.Join(dom, "cli.")))
	if err := os.WriteFile(transport.TLSConfigFile, body, 0o644); err != nil {
		t.Fatal(err)
	}
	tc, err = transport.FindTLS("")
	if err != nil || tc == nil || tc.Client == nil || tc.Server != nil {
		t.Fatalf("FindTLS with %s = %+v, %v, want a client config", transport.TLSConfigFile, tc, err)
	}
}

// A port where nothing listens is not mistaken for a TLS server, by either
// kind of client.
func TestTLS_NothingListeningIsNotTLS(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dom := transporttest.Domain(t)
	for _, cfg := range []transport.Config{{}, transporttest.LoadTLS(t, dom, "cli").ClientConfig()} {
		err := echoWith(t, cfg, "http://"+addr)
		if err == nil || !strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "TLS") {
			t.Errorf("echo to a closed port (TLS client %v) = %v, want connection refused without a word of TLS", cfg.TLS != nil, err)
		}
	}
}

// A plain HTTP/1.1 client of a JSON API (NewHTTP1Client) that reaches a TLS
// port gets ErrPeerSpeaksTLS, not the server's 400; other 400 answers come
// back whole.
func TestNewHTTP1Client(t *testing.T) {
	t.Parallel()
	dom := transporttest.Domain(t)
	long := strings.Repeat("x", 4096)
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, long, http.StatusBadRequest) })
	tlsURL := transporttest.ServeWith(t, h, transporttest.LoadTLS(t, dom, "node").ServerConfig())
	plainURL := transporttest.ServeWith(t, h, transport.Config{})
	hc := transport.NewHTTP1Client()
	defer hc.CloseIdleConnections()
	_, err := hc.Get("http://" + strings.TrimPrefix(tlsURL, "https://") + "/admin/v1/nodes")
	if !errors.Is(err, transport.ErrPeerSpeaksTLS) {
		t.Errorf("GET plain to a TLS port = %v, want %v", err, transport.ErrPeerSpeaksTLS)
	}
	res, err := hc.Get(plainURL + "/admin/v1/nodes")
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(body)) != long {
		t.Errorf("GET = %d with %d bytes, want 400 with the whole %d-byte body", res.StatusCode, len(body), len(long))
	}
}
