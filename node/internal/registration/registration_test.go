package registration

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
	"github.com/google/uuid"
)

// fakeOrc is a NodeRegistration server that records what it receives and
// fails the first failFirst updates.
type fakeOrc struct {
	mu        sync.Mutex
	reqs      []*edgelessapi.UpdateNodeRequest
	failFirst int
	reject    string
	got       chan struct{}
}

func (o *fakeOrc) UpdateNode(_ context.Context, req *edgelessapi.UpdateNodeRequest) (*edgelessapi.UpdateNodeResponse, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reqs = append(o.reqs, req)
	defer func() {
		select {
		case o.got <- struct{}{}:
		default:
		}
	}()
	if len(o.reqs) <= o.failFirst {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("not yet"))
	}
	if o.reject != "" {
		return &edgelessapi.UpdateNodeResponse{ResponseError: &edgelessapi.ResponseError{Summary: o.reject}}, nil
	}
	return &edgelessapi.UpdateNodeResponse{}, nil
}

func (o *fakeOrc) requests() []*edgelessapi.UpdateNodeRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]*edgelessapi.UpdateNodeRequest(nil), o.reqs...)
}

func startOrc(t *testing.T, o *fakeOrc) string {
	t.Helper()
	o.got = make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewNodeRegistrationHandler(o))
	srv := transporttest.NewServer(t, mux)
	return srv.URL
}

func (o *fakeOrc) waitFor(t *testing.T, n int) []*edgelessapi.UpdateNodeRequest {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		if r := o.requests(); len(r) >= n {
			return r
		}
		select {
		case <-o.got:
		case <-timeout:
			t.Fatalf("orchestrator got %d updates, want %d", len(o.requests()), n)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestRegistrar_Payload(t *testing.T) {
	t.Parallel()
	orc := &fakeOrc{}
	url := startOrc(t, orc)
	samples := telemetry.NewSamples(0)
	samples.Log("f1", time.Now(), "tgt", "first")
	nodeID := uuid.NewString()
	caps := Capabilities(Detect(t.TempDir()), config.UserNodeCapabilities{Labels: []string{"zone=a"}}, []string{"CONTAINER"}, "host1")
	r := New(Config{
		NodeID: nodeID, RegisterURL: url, AgentURL: "http://10.0.0.1:7005", InvocationURL: "http://10.0.0.1:7006",
		Capabilities: caps, Interval: 50 * time.Millisecond, Samples: samples, StateDir: t.TempDir(),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	reqs := orc.waitFor(t, 3)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v, want nil after cancel", err)
	}

	first := reqs[0]
	if first.GetNodeId() != nodeID || first.GetAgentUrl() != "http://10.0.0.1:7005" || first.GetInvocationUrl() != "http://10.0.0.1:7006" {
		t.Errorf("update = node %q agent %q invocation %q, want %q and the announced URLs", first.GetNodeId(), first.GetAgentUrl(), first.GetInvocationUrl(), nodeID)
	}
	c := first.GetCapabilities()
	if got := c.GetRuntimes(); len(got) != 1 || got[0] != "CONTAINER" {
		t.Errorf("runtimes = %q, want [CONTAINER]", got)
	}
	if got := strings.Join(c.GetLabels(), ","); got != "zone=a,hostname=host1" {
		t.Errorf("labels = %q, want zone=a,hostname=host1", got)
	}
	if c.GetNumCpus()*c.GetNumCores() == 0 || c.GetMemSize() == 0 {
		t.Errorf("capabilities = %v, want CPUs, cores and memory (the orchestrator ignores a node without)", c)
	}
	if first.GetNonce() == 0 {
		t.Error("nonce = 0")
	}
	now := uint64(time.Now().Unix())
	for i, q := range reqs {
		if q.GetNonce() != first.GetNonce() {
			t.Errorf("update %d nonce = %d, want %d (fixed for the process)", i, q.GetNonce(), first.GetNonce())
		}
		if d := q.GetRefreshDeadline(); d < now-60 || d > now+60 {
			t.Errorf("update %d refresh_deadline = %d, want about now (%d) + 2 intervals", i, d, now)
		}
		if h := q.GetHealthStatus(); h == nil || h.GetMemAvailable() <= 0 || h.GetActivePower() != -1 {
			t.Errorf("update %d health = %v, want memory and active_power -1", i, h)
		}
	}
	// The samples went in the first update only: they are drained.
	if e := first.GetPerformanceSamples().GetFunctionLogEntries(); len(e) != 1 || e[0].GetEntries()[0].GetMsg() != "first" {
		t.Errorf("first update log entries = %v, want f1: first", e)
	}
	if reqs[1].GetPerformanceSamples() != nil {
		t.Errorf("second update samples = %v, want none (drained)", reqs[1].GetPerformanceSamples())
	}
}

func TestRegistrar_BacksOffAndRecovers(t *testing.T) {
	t.Parallel()
	orc := &fakeOrc{failFirst: 3}
	url := startOrc(t, orc)
	r := New(Config{NodeID: uuid.NewString(), RegisterURL: url, Interval: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	reqs := orc.waitFor(t, 5) // 3 failures, then successes
	cancel()
	<-done
	if reqs[4].GetNonce() != reqs[0].GetNonce() {
		t.Errorf("nonce changed across retries: %d then %d", reqs[0].GetNonce(), reqs[4].GetNonce())
	}
}

func TestRegistrar_OrchestratorAway(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: Run keeps retrying and returns on cancel.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	r := New(Config{NodeID: uuid.NewString(), RegisterURL: url, Interval: 10 * time.Millisecond})
	if err := r.Update(t.Context()); err == nil {
		t.Fatal("Update(no orchestrator) = nil error")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Errorf("Run() = %v, want nil", err)
	}
}

func TestRegistrar_Rejected(t *testing.T) {
	t.Parallel()
	url := startOrc(t, &fakeOrc{reject: "bad node"})
	r := New(Config{NodeID: uuid.NewString(), RegisterURL: url, Interval: time.Second})
	err := r.Update(t.Context())
	if !IsRejected(err) || !strings.Contains(err.Error(), "bad node") {
		t.Errorf("Update() = %v, want a rejection with the summary", err)
	}
}

func TestCapabilities_Overrides(t *testing.T) {
	t.Parallel()
	detected := config.UserNodeCapabilities{NumCPUs: ptr(uint32(4)), NumCores: ptr(uint32(2)), MemSize: ptr(uint32(1000)),
		ModelNameCPU: ptr("cpu"), ClockFreqCPU: ptr(float32(2000))}
	user := config.UserNodeCapabilities{NumCPUs: ptr(uint32(1)), Labels: []string{"hostname=h", "x"}, HasTPM: ptr(true), ClockFreqCPU: ptr(float32(1))}
	c := Capabilities(detected, user, nil, "h")
	if c.GetNumCpus() != 1 || c.GetNumCores() != 2 || c.GetMemSize() != 1000 || c.GetModelNameCpu() != "cpu" ||
		c.GetClockFreqCpu() != 1 || !c.GetHasTpm() || len(c.GetRuntimes()) != 0 {
		t.Errorf("Capabilities() = %v, want user values over detected ones", c)
	}
	if got := strings.Join(c.GetLabels(), ","); got != "hostname=h,x" {
		t.Errorf("labels = %q, want hostname=h,x (hostname label not duplicated)", got)
	}
}

func TestParseCPUInfo(t *testing.T) {
	t.Parallel()
	info := "processor: 0\nmodel name: Xeon\ncpu MHz: 2400.5\nphysical id: 0\ncore id: 0\n\n" +
		"processor: 1\nmodel name: Xeon\ncpu MHz: 2400.5\nphysical id: 0\ncore id: 0\n\n" +
		"processor: 2\nmodel name: Xeon\ncpu MHz: 2400.5\nphysical id: 0\ncore id: 1\n"
	model, mhz, cores := parseCPUInfo([]byte(info))
	if model != "Xeon" || mhz != 2400.5 || cores != 2 {
		t.Errorf("parseCPUInfo = %q %v %d, want Xeon 2400.5 2", model, mhz, cores)
	}
}

func TestNetTotals(t *testing.T) {
	t.Parallel()
	dev := "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n" +
		"    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0\n"
	rb, rp, re, tb, tp, te := netTotals([]byte(dev))
	if rb != 1000 || rp != 10 || re != 1 || tb != 2000 || tp != 20 || te != 2 {
		t.Errorf("netTotals = %d %d %d %d %d %d, want eth0 only", rb, rp, re, tb, tp, te)
	}
}
