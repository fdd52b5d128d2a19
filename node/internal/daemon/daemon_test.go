package daemon

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestDaemon_RegistersAndServesAgent(t *testing.T) {
	t.Parallel()
	orc := startOrc(t)
	cfg := testConfig(t, false, orc.url)
	cfg.UserNodeCapabilities.Labels = []string{"zone=test"}
	n := startNode(t, cfg)

	reqs := orc.waitFor(t, cfg.General.NodeID, 2)
	first := reqs[0]
	if got, want := first.GetAgentUrl(), n.urls.AgentAnnounced; got != want || !strings.HasPrefix(got, "http://127.0.0.1:") || strings.HasSuffix(got, ":0") {
		t.Errorf("announced agent_url = %q, want the bound %q", got, want)
	}
	if got, want := first.GetInvocationUrl(), n.urls.InvocationAnnounced; got != want || strings.HasSuffix(got, ":0") {
		t.Errorf("announced invocation_url = %q, want the bound %q", got, want)
	}
	if got := first.GetCapabilities().GetRuntimes(); len(got) != 0 {
		t.Errorf("runtimes = %q, want none (container runtime disabled)", got)
	}
	labels := strings.Join(first.GetCapabilities().GetLabels(), ",")
	if !strings.HasPrefix(labels, "zone=test,hostname=") {
		t.Errorf("labels = %q, want zone=test and hostname=<host>", labels)
	}
	if reqs[1].GetNonce() != first.GetNonce() || first.GetNonce() == 0 {
		t.Errorf("nonces = %d, %d; want one nonzero nonce", first.GetNonce(), reqs[1].GetNonce())
	}

	// Do what upstream's orchestrator does with a new node, through the
	// announced agent URL: Reset, then announce the node to itself.
	if _, err := n.nm.Reset(t.Context(), &emptypb.Empty{}); err != nil {
		t.Errorf("Reset() = %v", err)
	}
	self, url := cfg.General.NodeID, first.GetInvocationUrl()
	if _, err := n.nm.UpdatePeers(t.Context(), &edgelessapi.UpdatePeersRequest{RequestType: edgelessapi.UpdatePeersRequestType_ADD, NodeId: &self, InvocationUrl: &url}); err != nil {
		t.Errorf("UpdatePeers(ADD self) = %v", err)
	}
	res, err := n.fi.Start(t.Context(), &edgelessapi.SpawnFunctionRequest{
		Code:               &edgelessapi.FunctionClassSpecification{Id: "c", FunctionType: "CONTAINER", Code: "container:x"},
		StateSpecification: &edgelessapi.StateSpecification{StateId: uuid.NewString(), Policy: edgelessapi.StatePolicy_NODE_LOCAL},
	})
	if err != nil || !strings.Contains(res.GetResponseError().GetDetail(), "this node has runtimes: none") {
		t.Errorf("Start(CONTAINER) without runtime = %v, %v; want a ResponseError listing no runtimes", res, err)
	}

	// Metrics are served.
	mres, err := http.Get(n.urls.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mres.Body)
	mres.Body.Close()
	if !strings.Contains(string(body), "edgeless_node_instance_start_failures_total 1") {
		t.Errorf("metrics at %s lack the start failure:\n%.500s", n.urls.Metrics, body)
	}
}

func TestDaemon_ShutdownReturns(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, false, ""))
	if err := n.shutdown(); err != nil {
		t.Fatalf("Serve() after cancel = %v, want nil", err)
	}
	// The listeners are closed.
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(n.urls.Agent, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("agent %s still accepts connections after shutdown", n.urls.Agent)
	}
	if !strings.Contains(n.logs.String(), `"msg":"node stopped"`) {
		t.Errorf("log lacks node stopped:\n%s", n.logs.String())
	}
}

func TestDaemon_OrchestratorAwayDoesNotBlockAgent(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String()
	ln.Close()
	// A black hole accepts connections and never answers: the registration
	// loop hangs in UpdateNode until its deadline, and the agent must still
	// answer.
	hole, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { hole.Close() })
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	for name, away := range map[string]string{"refused": refused, "black hole": "http://" + hole.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			n := startNode(t, testConfig(t, false, away))
			if name == "black hole" {
				select {
				case c := <-accepted: // registration is now stuck in UpdateNode
					accepted <- c
				case <-time.After(10 * time.Second):
					t.Fatal("the node never tried to register")
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if _, err := n.nm.Reset(ctx, &emptypb.Empty{}); err != nil {
				t.Errorf("Reset() while the orchestrator is away (%s) = %v", name, err)
			}
		})
	}
}

func TestNew_Errors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name string
		set  func(cfg *config.Config)
		want string
	}{
		{"port in use", func(c *config.Config) { c.General.AgentURL = "http://" + busy.Addr().String() }, "general.agent_url: cannot listen on"},
		{"invalid", func(c *config.Config) { c.General.InvocationURL = "http://localhost:1" }, "general.invocation_url: host must be an IP address"},
		{"guest not on this host", func(c *config.Config) {
			c.ContainerRuntime.Enabled = true
			c.ContainerRuntime.GuestAPIHostURL = "http://192.0.2.1:7100"
		}, "container_runtime.guest_api_host_url: cannot listen on 192.0.2.1:7100"},
		{"guest loopback", func(c *config.Config) {
			c.ContainerRuntime.Enabled = true
			c.ContainerRuntime.GuestAPIHostURL = "http://127.0.0.1:7100"
		}, "container_runtime.guest_api_host_url: containers cannot reach 127.0.0.1"},
		{"state dir", func(c *config.Config) { c.General.StateDir = "/proc/version/x" }, "general.state_dir"},
		{"https without TLS", func(c *config.Config) { c.General.AgentURL = "https://127.0.0.1:0" },
			`general.agent_url "https://127.0.0.1:0" is https, but no TLS config gives this node a server certificate`},
		{"https orchestrator without TLS", func(c *config.Config) { c.General.NodeRegisterURL = "https://127.0.0.1:7004" },
			`general.node_register_url "https://127.0.0.1:7004" is https, but no TLS config has a [client] client_ca_path`},
		{"TLS file missing", func(c *config.Config) { c.Security.TLSConfig = "/nonexistent/tls_config.toml" },
			"security.tls_config: tls config: open /nonexistent/tls_config.toml"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, false, "")
			tt.set(cfg)
			_, err := New(t.Context(), cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAnnounced(t *testing.T) {
	t.Parallel()
	bound := netipAddrPort(t, "127.0.0.1:4567")
	for _, tt := range []struct{ configured, scheme, want string }{
		{"", "http", "http://127.0.0.1:4567"},
		{"", "https", "https://127.0.0.1:4567"},
		{"http://10.0.0.1:0", "http", "http://10.0.0.1:4567"},
		{"http://10.0.0.1:80", "https", "http://10.0.0.1:80"},
		{"https://10.0.0.1:0", "https", "https://10.0.0.1:4567"},
	} {
		got, err := announced("k", tt.configured, tt.scheme, bound)
		if err != nil || got != tt.want {
			t.Errorf("announced(%q) = %q, %v; want %q", tt.configured, got, err, tt.want)
		}
	}
	got, err := announced("k", "", "http", netipAddrPort(t, "0.0.0.0:7005"))
	if err == nil && (strings.Contains(got, "0.0.0.0") || strings.Contains(got, "127.0.0.1")) {
		t.Errorf("announced(unspecified) = %q, want a non-loopback address of this host", got)
	}
}

func netipAddrPort(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// TestDaemon_Pprof checks that Go's profiles are served on the metrics
// listener only when telemetry.pprof is set.
func TestDaemon_Pprof(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("pprof=", on), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, false, "")
			cfg.Telemetry.Pprof = on
			n := startNode(t, cfg)
			url := strings.TrimSuffix(n.urls.Metrics, "/metrics") + "/debug/pprof/goroutine?debug=1"
			req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			want := http.StatusNotFound
			if on {
				want = http.StatusOK
			}
			if res.StatusCode != want {
				t.Fatalf("GET %s = %d, want %d", url, res.StatusCode, want)
			}
			if on && !strings.Contains(string(body), "goroutine profile:") {
				t.Errorf("GET %s = %.200q, want a goroutine profile", url, body)
			}
		})
	}
}
