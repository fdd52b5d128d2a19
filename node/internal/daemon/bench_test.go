package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

// BenchmarkWasmVsContainer compares the node's two runtimes on equivalent
// functions (the Go example function as a container and as a RUST_WASM
// module, which speak the same payload commands), in one run, interleaved:
//
//	go test -run '^$' -bench WasmVsContainer -benchtime 10x ./internal/daemon/
//
// Cold start is FunctionInstance.Start through the agent's gRPC API until
// it answers (instance initialized; the WASM module is already compiled
// and cached, the image is local). Warm call and cast go through the node:
// the admin API, the data plane and the runtime to the function and back.
func BenchmarkWasmVsContainer(b *testing.B) {
	containertest.RequireDocker(b)
	image := containertest.BuildExampleImage(b)
	bin := wasmExampleModule(b)
	cfg := config.Default()
	cfg.General.AgentURL = "http://127.0.0.1:0"
	cfg.General.InvocationURL = "http://127.0.0.1:0"
	cfg.General.NodeRegisterURL = ""
	cfg.General.StateDir = b.TempDir()
	cfg.Telemetry.MetricsURL = ""
	cfg.ContainerRuntime.GuestAPIHostURL = "http://0.0.0.0:0"
	cfg.ContainerRuntime.StopGraceSec = 1
	withWasm(cfg)
	containertest.CleanupNode(b, cfg.General.NodeID)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Serve: %v", err)
		}
	})
	agentURL := d.URLs().Agent
	fi := edgelessapiconnect.NewFunctionInstanceClient(grpcClient(), agentURL, connect.WithGRPC())
	start := func(class *edgelessapi.FunctionClassSpecification) (string, time.Duration) {
		t0 := time.Now()
		res, err := fi.Start(ctx, &edgelessapi.SpawnFunctionRequest{Code: class,
			StateSpecification: &edgelessapi.StateSpecification{StateId: uuid.NewString(), Policy: edgelessapi.StatePolicy_TRANSIENT}})
		took := time.Since(t0)
		if err != nil || res.GetResponseError() != nil {
			b.Fatalf("Start(%s) = %v %v", class.GetFunctionType(), res.GetResponseError(), err)
		}
		return res.GetInstanceId().GetInstanceId().GetFunctionId(), took
	}
	stop := func(id string) {
		if _, err := fi.Stop(ctx, &edgelessapi.InstanceIdVariant{InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{
			InstanceId: &edgelessapi.InstanceId{NodeId: cfg.General.NodeID, FunctionId: id}}}); err != nil {
			b.Fatal(err)
		}
	}
	wasmClass := &edgelessapi.FunctionClassSpecification{Id: "w", FunctionType: "RUST_WASM", Code: "wasmexample.wasm", Binary: bin}
	ctrClass := &edgelessapi.FunctionClassSpecification{Id: "c", FunctionType: "CONTAINER", Code: "container:" + image}
	stop(must(start(wasmClass))) // compiles the module once, before measuring
	// Upstream's modules are small (Rust, no WASI): the runtime tests'
	// hand-written probe stands in for them, when wabt is installed.
	var probeClass *edgelessapi.FunctionClassSpecification
	if out, err := exec.Command("wat2wasm", "../../../runtime/wasm/testdata/probe.wat", "--output=-").Output(); err == nil {
		probeClass = &edgelessapi.FunctionClassSpecification{Id: "p", FunctionType: "RUST_WASM", Code: "probe.wasm", Binary: out}
		stop(must(start(probeClass)))
	}

	var wasmCold, probeCold, ctrCold durs
	for range b.N {
		id, d := start(wasmClass)
		wasmCold = append(wasmCold, d)
		stop(id)
		if probeClass != nil {
			id, d = start(probeClass)
			probeCold = append(probeCold, d)
			stop(id)
		}
		id, d = start(ctrClass)
		ctrCold = append(ctrCold, d)
		stop(id)
	}

	w, _ := start(wasmClass)
	c, _ := start(ctrClass)
	post := func(id, op string) time.Duration {
		t0 := time.Now()
		res, err := http.Post(agentURL+"/admin/v1/instances/"+id+"/"+op, "text/plain", strings.NewReader("payload"))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNoContent {
			b.Fatalf("%s %s = %d %s", op, id, res.StatusCode, body)
		}
		return time.Since(t0)
	}
	var wasmCall, ctrCall, wasmCast, ctrCast durs
	for range 20 * b.N {
		wasmCall = append(wasmCall, post(w, "call"))
		ctrCall = append(ctrCall, post(c, "call"))
		wasmCast = append(wasmCast, post(w, "cast"))
		ctrCast = append(ctrCast, post(c, "cast"))
	}
	stop(w)
	stop(c)

	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nnode: RUST_WASM vs CONTAINER (Go example function)\tWASM p50\tWASM p90\tcontainer p50\tcontainer p90\tcontainer/WASM p50\n")
	for _, r := range []struct {
		what string
		w, c durs
	}{
		{fmt.Sprintf("cold start, Start -> initialized (%d each)", b.N), wasmCold, ctrCold},
		{fmt.Sprintf("warm call through the node (%d each)", 20*b.N), wasmCall, ctrCall},
		{fmt.Sprintf("warm cast through the node (%d each)", 20*b.N), wasmCast, ctrCast},
	} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fx\n", r.what, r.w.p(.5), r.w.p(.9), r.c.p(.5), r.c.p(.9), float64(r.c.p(.5))/float64(r.w.p(.5)))
	}
	if probeClass != nil {
		fmt.Fprintf(tw, "cold start of a small module (runtime/wasm's probe.wat; container: as above)\t%s\t%s\t%s\t%s\t%.1fx\n",
			probeCold.p(.5), probeCold.p(.9), ctrCold.p(.5), ctrCold.p(.9), float64(ctrCold.p(.5))/float64(probeCold.p(.5)))
	}
	tw.Flush()
}

type durs []time.Duration

func (s durs) p(q float64) time.Duration {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[min(int(q*float64(len(c))), len(c)-1)]
}

func must(id string, _ time.Duration) string { return id }
