package inabox

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/certs"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
	"github.com/google/uuid"
)

// startTLSBox starts a box without a container runtime (no Docker needed)
// on free ports, with the TLS file tlsFile and the admin token token, and
// waits until its node has registered over mutual TLS and the orchestrator
// has reached the node's agent.
func startTLSBox(t *testing.T, tlsFile, token string) *Box {
	t.Helper()
	cfg := Default()
	cfg.Orchestrator.ControllerURL = "https://127.0.0.1:0"
	cfg.Orchestrator.NodeRegisterURL = "https://127.0.0.1:0"
	g := &cfg.Node.General
	g.NodeID = uuid.NewString()
	g.AgentURL = "https://127.0.0.1:0"
	g.InvocationURL = "https://127.0.0.1:0"
	g.SubscriptionRefreshIntervalSec = 1
	g.StateDir = t.TempDir()
	cfg.Node.Telemetry.MetricsURL = "https://127.0.0.1:0"
	cfg.Node.ContainerRuntime.Enabled = false
	cfg.Node.Resources.HTTPIngressURL = "http://127.0.0.1:0"
	cfg.Node.Resources.FileLogDir = filepath.Join(g.StateDir, "file_log")
	cfg.Node.Security.TLSConfig = tlsFile
	cfg.Node.Security.AdminToken = token
	ctx, cancel := context.WithCancel(context.Background())
	box, err := Start(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := box.Wait(); err != nil {
			t.Errorf("box: %v", err)
		}
	})
	rctx, rcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer rcancel()
	if err := box.WaitReady(rctx); err != nil {
		t.Fatalf("WaitReady over mutual TLS: %v", err)
	}
	return box
}

// get sends GET url+path with cfg's transport and returns the status.
func get(t *testing.T, cfg transport.Config, url, path string, header http.Header) (int, error) {
	t.Helper()
	hc, tr, err := transport.ClientConfig{Config: cfg}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// Every server of the box (controller, NodeRegistration, and the node's
// agent, data plane and metrics) serves TLS and refuses, at the handshake,
// clients without a certificate, with one of another CA or an expired one,
// clients that expect another name, and plain text.
func TestBox_MutualTLSOnEveryServer(t *testing.T) {
	t.Parallel()
	dom, other := transporttest.Domain(t), transporttest.Domain(t)
	box := startTLSBox(t, filepath.Join(dom, "tls_config_orchestrator.toml"), "")
	servers := map[string]string{
		"controller":      box.ControllerURL,
		"node_register":   box.RegisterURL,
		"agent":           box.Node.Agent,
		"invocation":      box.Node.Invocation,
		"metrics":         strings.TrimSuffix(box.Node.Metrics, "/metrics"),
		"agent (http://)": "http://" + strings.TrimPrefix(box.Node.Agent, "https://"),
	}
	cli := transporttest.LoadTLS(t, dom, "cli").Client
	ca, err := certs.LoadCA(filepath.Join(dom, "ca.pem"), filepath.Join(dom, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := ca.Issue("cli", []string{"www.example.com"}, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	oldCert, err := tls.X509KeyPair(old.CertPEM, old.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(c *tls.Config)) transport.Config {
		c := cli.Clone()
		f(c)
		return transport.Config{TLS: c}
	}
	clients := []struct {
		name    string
		cfg     transport.Config
		wantErr string // "" : served
	}{
		{"domain client", transport.Config{TLS: cli}, ""},
		{"no client certificate", with(func(c *tls.Config) { c.Certificates = nil }), "refused this client at the TLS handshake: remote error: tls: certificate required"},
		{"certificate of another CA", with(func(c *tls.Config) {
			c.Certificates = transporttest.LoadTLS(t, other, "cli").Client.Certificates
		}), "remote error: tls: unknown certificate authority"},
		{"expired certificate", with(func(c *tls.Config) { c.Certificates = []tls.Certificate{oldCert} }), "remote error: tls: expired certificate"},
		{"another server name", with(func(c *tls.Config) { c.ServerName = "edge.example.org" }), "not edge.example.org"},
		{"another domain's CA", transport.Config{TLS: transporttest.LoadTLS(t, other, "cli").Client}, "certificate signed by unknown authority"},
		{"plain text", transport.Config{}, "the server speaks TLS: give this client a tls_config.toml"},
	}
	for name, base := range servers {
		for _, c := range clients {
			url := base
			if c.cfg.TLS == nil {
				url = "http://" + strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
			}
			t.Run(name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				status, err := get(t, c.cfg, url, "/", nil)
				if c.wantErr == "" {
					if err != nil {
						t.Errorf("GET %s/ = %v, want an answer", url, err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("GET %s/ = %d, %v, want an error containing %q", url, status, err, c.wantErr)
				}
			})
		}
	}
}

// An https URL without a TLS config is refused at start, not served in
// plain text under an https name.
func TestBox_HTTPSWithoutTLSRefused(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.Orchestrator.ControllerURL = "https://127.0.0.1:0"
	cfg.Node.Security.TLSConfig = filepath.Join(transporttest.Domain(t), "tls_config_cli.toml") // client only
	_, err := Start(t.Context(), cfg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err == nil || !strings.Contains(err.Error(), `orchestrator.controller_url "https://127.0.0.1:0" is https, but no TLS config gives the box a server certificate`) {
		t.Errorf("Start = %v, want a refusal naming controller_url", err)
	}
}

// With admin_token the admin JSON APIs of the controller and of the node
// want the bearer token; the gRPC services do not (the box became ready
// through them).
func TestBox_AdminToken(t *testing.T) {
	t.Parallel()
	dom := transporttest.Domain(t)
	const token = "0123456789abcdef-test"
	box := startTLSBox(t, filepath.Join(dom, "tls_config_orchestrator.toml"), token)
	cli := transporttest.LoadTLS(t, dom, "cli").ClientConfig()
	for _, tt := range []struct {
		name, url, path string
	}{
		{"controller", box.ControllerURL, "/admin/v1/nodes"},
		{"node", box.Node.Agent, "/admin/v1/instances"},
	} {
		for _, h := range []struct {
			name   string
			header http.Header
			want   int
		}{
			{"no token", nil, http.StatusUnauthorized},
			{"wrong token", http.Header{"Authorization": {"Bearer nope-nope-nope-nope"}}, http.StatusUnauthorized},
			{"token", http.Header{"Authorization": {"Bearer " + token}}, http.StatusOK},
		} {
			status, err := get(t, cli, tt.url, tt.path, h.header)
			if err != nil || status != h.want {
				t.Errorf("%s GET %s with %s = %d, %v, want %d", tt.name, tt.path, h.name, status, err, h.want)
			}
		}
	}
}

// A client with another CA's certificate at the node's invocation port
// (grpc-go), agent port and metrics port (connect-go and Prometheus on
// net/http) is refused at the handshake, and each refusal shows in the
// node's metrics under its port's name.
func TestBox_HandshakeFailuresCounted(t *testing.T) {
	t.Parallel()
	dom, other := transporttest.Domain(t), transporttest.Domain(t)
	box := startTLSBox(t, filepath.Join(dom, "tls_config_orchestrator.toml"), "")
	cli := transporttest.LoadTLS(t, dom, "cli").Client
	stranger := cli.Clone()
	stranger.Certificates = transporttest.LoadTLS(t, other, "cli").Client.Certificates
	for _, port := range []struct{ metric, url string }{
		{"edgeless_node_dataplane_tls_handshake_failures_total", box.Node.Invocation},
		{"edgeless_node_agent_tls_handshake_failures_total", box.Node.Agent},
		{"edgeless_node_metrics_tls_handshake_failures_total", box.Node.Metrics},
	} {
		if n := metricValue(t, transport.Config{TLS: cli}, box.Node.Metrics, port.metric); n != 0 {
			t.Fatalf("%s = %v before any bad client, want 0", port.metric, n)
		}
		if _, err := get(t, transport.Config{TLS: stranger}, port.url, "/", nil); err == nil {
			t.Fatalf("GET %s with another CA's certificate succeeded, want a refusal", port.url)
		}
		deadline := time.Now().Add(10 * time.Second) // the server may see the failure after the client
		for {
			n := metricValue(t, transport.Config{TLS: cli}, box.Node.Metrics, port.metric)
			if n >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %v after a client with another CA's certificate, want >= 1", port.metric, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// metricValue reads the value of the unlabelled metric name from the
// Prometheus endpoint url (-1 when absent).
func metricValue(t *testing.T, cfg transport.Config, url, name string) float64 {
	t.Helper()
	hc, tr, err := transport.ClientConfig{Config: cfg}.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	res, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}
