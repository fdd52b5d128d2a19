package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig is a node on 127.0.0.1 with free ports.
func testConfig(t *testing.T, withRuntime bool, registerURL string) *config.Config {
	t.Helper()
	c := config.Default()
	c.General.AgentURL = "http://127.0.0.1:0"
	c.General.InvocationURL = "http://127.0.0.1:0"
	c.General.NodeRegisterURL = registerURL
	c.General.SubscriptionRefreshIntervalSec = 1
	c.General.StateDir = t.TempDir()
	c.Telemetry.MetricsURL = "http://127.0.0.1:0"
	c.ContainerRuntime.Enabled = withRuntime
	c.WasmRuntime.Enabled = false // on in the defaults; the WASM tests turn it on (withWasm)
	c.ContainerRuntime.GuestAPIHostURL = "http://0.0.0.0:0"
	c.ContainerRuntime.StopGraceSec = 1
	c.Resources.HTTPIngressURL = "http://127.0.0.1:0"
	c.Resources.FileLogDir = filepath.Join(c.General.StateDir, "file_log")
	return c
}

// nodeRuntimes maps the node id of each test node to its container
// runtime (*container.Runtime), so that containers can ask its pool.
var nodeRuntimes sync.Map

// testNode is a daemon serving until the test ends.
type testNode struct {
	cfg  *config.Config
	urls URLs
	logs *syncBuffer
	done chan error
	stop context.CancelFunc

	fi edgelessapiconnect.FunctionInstanceClient
	nm edgelessapiconnect.NodeManagementClient
}

func startNode(t *testing.T, cfg *config.Config) *testNode {
	t.Helper()
	n := &testNode{cfg: cfg, logs: &syncBuffer{}, done: make(chan error, 1)}
	log := slog.New(slog.NewJSONHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	d, err := New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("New() = %v", err)
	}
	n.urls = d.URLs()
	if d.rt != nil {
		nodeRuntimes.Store(config.CanonicalNodeID(cfg.General.NodeID), d.rt)
	}
	go func() { n.done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		if err := n.shutdown(); err != nil {
			t.Errorf("Serve() = %v", err)
		}
		checkNoRepeatedKeys(t, n.logs.String())
		if t.Failed() {
			t.Logf("node %s log:\n%s", cfg.General.NodeID, n.logs.String())
		}
	})
	hc := grpcClient()
	n.fi = edgelessapiconnect.NewFunctionInstanceClient(hc, n.urls.Agent, connect.WithGRPC())
	n.nm = edgelessapiconnect.NewNodeManagementClient(hc, n.urls.Agent, connect.WithGRPC())
	return n
}

// shutdown cancels the node and waits for Serve (once).
func (n *testNode) shutdown() error {
	n.stop()
	select {
	case err, ok := <-n.done:
		if ok {
			close(n.done)
			return err
		}
		return nil
	case <-time.After(3 * time.Minute):
		return context.DeadlineExceeded
	}
}

func grpcClient() *http.Client {
	return transporttest.Client()
}

// fakeOrc is a NodeRegistration server that records the updates it gets.
type fakeOrc struct {
	url  string
	mu   sync.Mutex
	reqs []*edgelessapi.UpdateNodeRequest
	got  chan struct{}
}

func startOrc(t *testing.T) *fakeOrc {
	t.Helper()
	o := &fakeOrc{got: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewNodeRegistrationHandler(o))
	srv := transporttest.NewServer(t, mux)
	o.url = srv.URL
	return o
}

func (o *fakeOrc) UpdateNode(_ context.Context, req *edgelessapi.UpdateNodeRequest) (*edgelessapi.UpdateNodeResponse, error) {
	o.mu.Lock()
	o.reqs = append(o.reqs, req)
	o.mu.Unlock()
	select {
	case o.got <- struct{}{}:
	default:
	}
	return &edgelessapi.UpdateNodeResponse{}, nil
}

// waitFor returns the updates once n have arrived from nodeID.
func (o *fakeOrc) waitFor(t *testing.T, nodeID string, n int) []*edgelessapi.UpdateNodeRequest {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		o.mu.Lock()
		var mine []*edgelessapi.UpdateNodeRequest
		for _, r := range o.reqs {
			if r.GetNodeId() == nodeID {
				mine = append(mine, r)
			}
		}
		o.mu.Unlock()
		if len(mine) >= n {
			return mine
		}
		select {
		case <-o.got:
		case <-timeout:
			t.Fatalf("orchestrator got %d updates from %s, want %d", len(mine), nodeID, n)
		}
	}
}

// admin calls the node's admin API.
func (n *testNode) admin(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, n.urls.Agent+path, strings.NewReader(body))
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// call sends msg to a local instance through the admin API and returns the
// reply payload (the test fails unless the function replied).
func (n *testNode) call(t *testing.T, functionID, msg string) string {
	t.Helper()
	code, body := n.admin(t, "POST", "/admin/v1/instances/"+functionID+"/call", msg)
	var r struct{ Type, Msg string }
	if err := json.Unmarshal(body, &r); code != 200 || err != nil || r.Type != "REPLY" {
		t.Fatalf("call %s %q = %d %s, want a REPLY", functionID, msg, code, body)
	}
	return r.Msg
}

// checkNoRepeatedKeys fails t for each JSON log line that holds a key twice
// (e.g. component=dataplane added by two layers).
func checkNoRepeatedKeys(t *testing.T, logs string) {
	t.Helper()
	for line := range strings.Lines(logs) {
		dec := json.NewDecoder(strings.NewReader(line))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			continue
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			key, _ := tok.(string)
			if seen[key] {
				t.Errorf("log line repeats key %q: %s", key, line)
				break
			}
			seen[key] = true
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				break
			}
		}
	}
}
