package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
	"github.com/google/uuid"
	"github.com/moby/moby/client"
)

func TestRun_Template(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node.toml")
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"-t", path}, &out, &errOut); err != nil {
		t.Fatalf("run(-t) = %v", err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatalf("Load(template) = %v", err)
	}
	if !c.ContainerRuntime.Enabled || c.General.NodeID == "" {
		t.Errorf("template = %+v, want the container runtime enabled and a node id", c)
	}
	err = run(t.Context(), []string{"--template", path}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "cannot overwrite configuration file") {
		t.Errorf("run(--template existing) = %v, want cannot overwrite", err)
	}
}

func TestRun_BadConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "node.toml")
	os.WriteFile(path, []byte("[general]\nnode_id = \""+uuid.NewString()+"\"\nagnet_url = \"http://127.0.0.1:1\"\n"), 0o600)
	err := run(t.Context(), []string{"--config-file", path}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), path+":3: general.agnet_url: unknown key") {
		t.Errorf("run(bad config) = %v, want the file, line and key", err)
	}
	err = run(t.Context(), []string{"-c", filepath.Join(t.TempDir(), "missing.toml")}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing.toml") || !strings.Contains(err.Error(), "edgeless-node -t") {
		t.Errorf("run(missing config) = %v, want an error naming the file and suggesting -t", err)
	}
}

func TestRun_Flags(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--version"}, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "edgeless-node ") {
		t.Errorf("run(--version) = %v, %q", err, out.String())
	}
	if err := run(t.Context(), []string{"--log-level", "loud", "-c", "x"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("run(--log-level loud) = %v", err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"--available-resources", "--output-json"}, &out, io.Discard); err != nil ||
		!strings.HasPrefix(out.String(), `[{"class_type":"file-log",`) || !strings.Contains(out.String(), `"class_type":"http-ingress","description":"Ingest HTTP commands from external web clients","version":"2.1","outputs":["new_request"]`) {
		t.Errorf("run(--available-resources --output-json) = %v, %q; want file-log, http-egress and http-ingress as upstream prints them", err, out.String())
	}
	if err := run(t.Context(), []string{"extra"}, io.Discard, io.Discard); err == nil {
		t.Error("run(extra) = nil error")
	}
}

// buildBinary builds edgeless-node once per test process.
var binary struct {
	once sync.Once
	path string
	err  error
}

func buildNode(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "edgeless-node-bin")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "edgeless-node")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = errors.New(string(out))
		}
	})
	if binary.err != nil {
		t.Fatalf("go build: %v", binary.err)
	}
	return binary.path
}

// node is a running edgeless-node process.
type node struct {
	cmd    *exec.Cmd
	agent  string
	nodeID string
	mu     sync.Mutex
	lines  []string
	seen   chan string // messages of log lines
	exited chan error
}

func (n *node) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.lines, "\n")
}

// startBinary writes a config (ports 0, no orchestrator) and runs the node.
func startBinary(t *testing.T, withRuntime bool, edit func(*config.Config)) *node {
	t.Helper()
	bin := buildNode(t)
	dir := t.TempDir()
	cfg := config.Default()
	cfg.General.AgentURL = "http://127.0.0.1:0"
	cfg.General.InvocationURL = "http://127.0.0.1:0"
	cfg.General.NodeRegisterURL = ""
	cfg.General.StateDir = filepath.Join(dir, "state")
	cfg.Telemetry.MetricsURL = ""
	cfg.ContainerRuntime.Enabled = withRuntime
	cfg.ContainerRuntime.GuestAPIHostURL = "http://0.0.0.0:0"
	cfg.Resources.HTTPIngressURL = "http://127.0.0.1:0"
	cfg.Resources.FileLogDir = filepath.Join(dir, "file_log")
	if edit != nil {
		edit(cfg)
	}
	path := filepath.Join(dir, "node.toml")
	if err := config.WriteTemplate(path, cfg, config.UserNodeCapabilities{}); err != nil {
		t.Fatal(err)
	}
	n := &node{nodeID: cfg.General.NodeID, seen: make(chan string, 100), exited: make(chan error, 1)}
	n.cmd = exec.Command(bin, "-c", path, "--log-format", "json")
	stderr, _ := n.cmd.StderrPipe()
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.cmd.Process.Kill()
		<-n.exited
		if t.Failed() {
			t.Logf("node log:\n%s", n.log())
		}
	})
	agent := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l map[string]any
			json.Unmarshal(sc.Bytes(), &l)
			n.mu.Lock()
			n.lines = append(n.lines, sc.Text())
			n.mu.Unlock()
			msg, _ := l["msg"].(string)
			if msg == "node running" {
				agent <- l["agent"].(string)
			}
			select {
			case n.seen <- msg:
			default:
			}
		}
		n.exited <- n.cmd.Wait()
		close(n.exited)
	}()
	select {
	case n.agent = <-agent:
	case err := <-n.exited:
		t.Fatalf("node exited before running: %v\n%s", err, n.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("node not running after 30s:\n%s", n.log())
	}
	return n
}

func (n *node) waitFor(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-n.seen:
			if m == msg {
				return
			}
		case <-timeout:
			t.Fatalf("node never logged %q", msg)
		}
	}
}

func (n *node) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-n.exited:
		return err
	case <-time.After(3 * time.Minute):
		t.Fatal("node did not exit")
		return nil
	}
}

func (n *node) start(t *testing.T, image string) string {
	t.Helper()
	fi := edgelessapiconnect.NewFunctionInstanceClient(transporttest.Client(), n.agent, connect.WithGRPC())
	res, err := fi.Start(t.Context(), &edgelessapi.SpawnFunctionRequest{
		Code:               &edgelessapi.FunctionClassSpecification{Id: "example", FunctionType: "CONTAINER", Code: "container:" + image},
		StateSpecification: &edgelessapi.StateSpecification{StateId: uuid.NewString(), Policy: edgelessapi.StatePolicy_NODE_LOCAL},
	})
	if err != nil || res.GetResponseError() != nil {
		t.Fatalf("Start() = %v, %v", res, err)
	}
	return res.GetInstanceId().GetInstanceId().GetFunctionId()
}

func TestBinary_SIGTERMStopsCleanly(t *testing.T) {
	t.Parallel()
	n := startBinary(t, false, nil)
	n.cmd.Process.Signal(syscall.SIGTERM)
	if err := n.wait(t); err != nil {
		t.Errorf("exit after SIGTERM = %v, want status 0", err)
	}
	if !strings.Contains(n.log(), `"msg":"node stopped"`) {
		t.Errorf("log lacks node stopped")
	}
}

func TestBinary_SIGTERMRemovesContainers(t *testing.T) {
	t.Parallel()
	dc := containertest.RequireDocker(t)
	image := containertest.BuildExampleImage(t)
	n := startBinary(t, true, nil)
	containertest.CleanupNode(t, n.nodeID)
	n.start(t, image)
	n.start(t, image)
	// A pool hit's container gets its instance's name (which tells it
	// from the idle ones here, in another process) a moment after Start.
	for t0 := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		ids, err := containertest.InstanceContainers(t.Context(), dc, n.nodeID)
		if err == nil && len(ids) == 2 {
			break
		}
		if time.Since(t0) > 30*time.Second {
			t.Fatalf("containers = %v (%v), want 2", ids, err)
		}
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	if err := n.wait(t); err != nil {
		t.Errorf("exit after SIGTERM = %v, want status 0", err)
	}
	if ids, _ := containertest.NodeContainers(t.Context(), dc, n.nodeID); len(ids) != 0 {
		t.Errorf("containers left after the node exited: %v", ids)
	}
}

func TestBinary_SecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	dc := containertest.RequireDocker(t)
	image := containertest.BuildExampleImage(t)
	// A paused container does not answer its Stop RPC, so the shutdown
	// waits stop_timeout_sec: the second signal arrives while it waits.
	// No prewarm pool: a refill that the exit at once cuts short can leave
	// a container that the engine creates after the test's clean-up has
	// looked (the node's next start would reap it).
	n := startBinary(t, true, func(c *config.Config) {
		c.ContainerRuntime.StopTimeoutSec = 120
		c.ContainerRuntime.Prewarm = false
	})
	containertest.CleanupNode(t, n.nodeID)
	fid := n.start(t, image)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := dc.ContainerPause(ctx, "edgeless-"+fid, client.ContainerPauseOptions{}); err != nil {
		t.Fatalf("pause container: %v", err)
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	n.waitFor(t, "shutting down; send the signal again to exit at once")
	n.cmd.Process.Signal(syscall.SIGTERM)
	err := n.wait(t)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("exit after the second SIGTERM = %v, want killed by SIGTERM", err)
	}
	if strings.Contains(n.log(), `"msg":"node stopped"`) {
		t.Error("the node finished its shutdown: the second signal did not cut it short")
	}
}

// TestBinary_HelpAndMissingConfig runs the built binary as a user would:
// --help exits 0, and a run without node.toml says how to write one.
func TestBinary_HelpAndMissingConfig(t *testing.T) {
	t.Parallel()
	bin := buildNode(t)
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil {
		t.Errorf("edgeless-node --help = %v, want exit 0; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "-config-file") {
		t.Errorf("edgeless-node --help printed %q, want the flags", out)
	}
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "edgeless-node -t node.toml") {
		t.Errorf("edgeless-node without node.toml = %v, %q; want a failure suggesting -t", err, out)
	}
}
