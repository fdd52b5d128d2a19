package daemon

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/node/internal/loadgen"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// BenchmarkNode measures an edgeless-node process from the outside with the
// load generator (which plays orchestrator and peer node), and prints one
// table per path with floors measured in the same run:
//
//	go test -run '^$' -bench '^BenchmarkNode$' -benchtime 1x ./internal/daemon/
//
// Floors: a raw GuestAPIFunction.Call to a container of the same image with
// a connect-go and with a grpc-go client, a raw FunctionInvocation.Handle on
// loopback with connect-go and with grpc-go (client and server; the node's
// peer client and server are grpc-go), a bare net/http h2c round trip, and
// a grpc-go loopback Handle to a server in another process. The idle floors
// are the grpc-go container Call and the Handle to another process, each
// after idleGap with no traffic, as each RPC of a hop finds its receiver.
// The cast hop (peer -> node -> container -> node -> peer) and the call
// through the node are compared with the sum of the cheaper container Call
// and the cheaper loopback Handle (the table names the two), and with the
// sum of the two idle floors. The
// throughput run is issue #14's load; node CPU is the node process's
// user+system time (/proc) over the run.
func BenchmarkNode(b *testing.B) {
	dc := containertest.RequireDocker(b)
	// A tag of the run's own: the shared tag may be rebuilt by another
	// test process meanwhile, and the pool would then miss. (Untagged
	// last, as the miss image's.)
	image := strings.TrimSuffix(containertest.BuildExampleImage(b), ":dev") + ":bench-" + uuid.NewString()[:8]
	if _, err := dc.ImageTag(context.Background(), client.ImageTagOptions{Source: containertest.ExampleImage, Target: image}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { containertest.RemoveImage(b, image) })
	// The miss image's tag goes last, after the node has stopped and
	// removed every container (the engine refuses to untag an image a
	// container was created from).
	missImage := strings.TrimSuffix(containertest.ExampleImage, ":dev") + ":bench-miss-" + uuid.NewString()[:8]
	if _, err := dc.ImageTag(context.Background(), client.ImageTagOptions{Source: image, Target: missImage}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { containertest.RemoveImage(b, missImage) })
	// The pool keeps the image warm (not the history: a second tag of the
	// same image, which it does not keep, gives misses to compare with).
	node := startNodeProcess(b, func(c *config.Config) {
		c.ContainerRuntime.PrewarmImages = []string{image}
		c.ContainerRuntime.PrewarmHistory = -1
		if v := os.Getenv(AdmissionWaitEnv); v != "" {
			ms, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				b.Fatalf("%s=%q: %v", AdmissionWaitEnv, v, err)
			}
			c.Dataplane.MaxAdmissionWaitMS = ms
		}
		if v := os.Getenv(GuestSocketsEnv); v != "" {
			c.ContainerRuntime.GuestSockets = v
		}
	})
	gMiss, err := loadgen.New(loadgen.Config{AgentURL: node.agentURL, InvocationURL: node.invocationURL,
		NodeID: node.id, Image: missImage})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := gMiss.Close(ctx); err != nil {
			b.Error(err)
		}
	})
	g, err := loadgen.New(loadgen.Config{AgentURL: node.agentURL, InvocationURL: node.invocationURL,
		NodeID: node.id, Image: image, Instances: loadInstances})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			b.Error(err)
		}
	})
	ctx := context.Background()
	rssIdle := node.rss(b, "VmRSS")
	if err := g.Setup(ctx); err != nil {
		b.Fatal(err)
	}
	if err := gMiss.Setup(ctx); err != nil { // the peer only: no instances
		b.Fatal(err)
	}
	rssSetup := node.rss(b, "VmRSS")
	const rounds = 1000
	for b.Loop() {
		fl := measureFloors(b, dc, image, node.id, g.Instances()[0], rounds)
		// The stricter floor: the cheaper container Call plus the cheaper
		// loopback Handle, whichever stacks they are.
		callFloor := cheaper(floor{"raw GuestAPIFunction.Call (Connect client)", fl.container},
			floor{"raw GuestAPIFunction.Call (grpc-go client)", fl.containerGRPC})
		handleFloor := cheaper(floor{"raw FunctionInvocation.Handle (Connect)", fl.connect},
			floor{"raw FunctionInvocation.Handle (grpc-go)", fl.grpc})
		floorSum := callFloor.s.pct(.5) + handleFloor.s.pct(.5)
		idleSum := fl.containerIdle.pct(.5) + fl.grpcIdle.pct(.5)

		hop, err := g.Run(ctx, loadgen.Load{Senders: 1, Events: rounds, Timeout: time.Minute, Hop: true})
		if err != nil {
			b.Fatal(err)
		}
		var call samples
		for i := range rounds {
			_, d, err := g.Call(ctx, g.Instances()[i%len(g.Instances())], "ping")
			if err != nil {
				b.Fatal(err)
			}
			call = append(call, d)
		}
		held0 := node.admissions(b)
		cpu0 := node.cpu(b)
		mallocs0 := node.metricValue(b, "go_memstats_mallocs_total")
		profiled := node.profile(b, os.Getenv(ProfileEnv), 10*time.Second)
		load, err := g.Run(ctx, loadgen.Load{Senders: loadSenders, Events: loadEvents, Timeout: loadTimeout})
		cpu := node.cpu(b) - cpu0
		mallocs := node.metricValue(b, "go_memstats_mallocs_total") - mallocs0
		held := node.admissions(b).minus(held0)
		<-profiled
		if err != nil {
			b.Fatal(err)
		}
		rssLoad, rssPeak := node.rss(b, "VmRSS"), node.rss(b, "VmHWM")
		// Starts one at a time, each once the pool has settled (one idle
		// container, no refill running): a hit (the pooled image), then a
		// miss (the other tag: create, start, Boot, Init, as without a
		// pool).
		// A start meant to hit goes cold when its pooled container cannot
		// serve it (on a loaded machine a Boot may take too long and the
		// container is discarded): it is counted apart, not as a hit.
		var hit, start, stop samples
		wentCold := 0
		for range 10 {
			for _, gen := range []*loadgen.Generator{g, gMiss} {
				node.waitPoolSettled(b)
				hits0 := node.metricValue(b, "edgeless_node_prewarm_hits_total")
				t0 := time.Now()
				id, err := gen.StartInstance(ctx)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if err := gen.StopInstance(ctx, id); err != nil {
					b.Fatal(err)
				}
				switch {
				case gen != g:
					start = append(start, t1.Sub(t0))
				case node.metricValue(b, "edgeless_node_prewarm_hits_total") > hits0:
					hit = append(hit, t1.Sub(t0))
				default:
					wentCold++
				}
				stop = append(stop, time.Since(t1))
			}
		}
		if len(hit) == 0 {
			b.Fatalf("none of %d starts meant to hit took a pooled container", wentCold)
		}

		w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(w, "\nfloors (%d round trips each)\tp50 µs\tp99 µs\t\n", rounds)
		for _, r := range []struct {
			name string
			s    samples
		}{
			{"raw GuestAPIFunction.Call to a container (Connect client)", fl.container},
			{"raw GuestAPIFunction.Call to a container (grpc-go client)", fl.containerGRPC},
			{"raw FunctionInvocation.Handle on loopback (Connect)", fl.connect},
			{"raw FunctionInvocation.Handle on loopback (grpc-go both ends)", fl.grpc},
			{"bare net/http h2c round trip on loopback", fl.h2c},
			{"raw FunctionInvocation.Handle on loopback to another process (grpc-go)", fl.grpcProc},
			{fmt.Sprintf("raw GuestAPIFunction.Call (grpc-go), each after %s idle", idleGap), fl.containerIdle},
			{fmt.Sprintf("raw Handle to another process (grpc-go), each after %s idle", idleGap), fl.grpcIdle},
		} {
			fmt.Fprintf(w, "%s\t%s\t%s\t\n", r.name, us(r.s.pct(.5)), us(r.s.pct(.99)))
		}
		fmt.Fprintf(w, "\npath (%d events, one at a time)\tp50 µs\tp99 µs\tfloor p50 µs\tratio p50\t\n", rounds)
		fmt.Fprintf(w, "cast hop: peer -> node -> container -> node -> peer\t%s\t%s\t%s\t%.2f\t\n",
			us(hop.Pct(.5)), us(hop.Pct(.99)), us(floorSum), float64(hop.Pct(.5))/float64(floorSum))
		fmt.Fprintf(w, "call through the node, until CALL_RET at the caller\t%s\t%s\t%s\t%.2f\t\n",
			us(call.pct(.5)), us(call.pct(.99)), us(floorSum), float64(call.pct(.5))/float64(floorSum))
		fmt.Fprintf(w, "  floor p50 = %s %s µs + %s %s µs\n",
			callFloor.name, us(callFloor.s.pct(.5)), handleFloor.name, us(handleFloor.s.pct(.5)))
		fmt.Fprintf(w, "  against the idle floors (each round trip after %s idle, %s µs + %s µs = %s µs): cast hop %.2f, call %.2f\n",
			idleGap, us(fl.containerIdle.pct(.5)), us(fl.grpcIdle.pct(.5)), us(idleSum),
			float64(hop.Pct(.5))/float64(idleSum), float64(call.pct(.5))/float64(idleSum))
		fmt.Fprintf(w, "\nthroughput (%d casts, %d instances, %d senders)\tevents/s\tnode CPU ms/event\tp50 ms\tp99 ms\trefused\t\n",
			loadEvents, loadInstances, loadSenders)
		fmt.Fprintf(w, "peer -> node -> container -> node -> peer\t%.0f\t%.3f\t%s\t%s\t%d\t\n", load.PerSecond(),
			float64(cpu)/1e6/float64(load.Arrived), ms(load.Pct(.5)), ms(load.Pct(.99)), load.Refused)
		fmt.Fprintf(w, "  casts held for admission (max_admission_wait_ms %d): %.0f admitted after %s mean, %.0f refused after waiting\n",
			node.admissionWaitMS, held.admitted, ms(held.meanAdmitted()), held.refused)
		// Allocations per event are a measure of the node's work that the
		// machine's load moves much less than its CPU time.
		fmt.Fprintf(w, "  node heap allocations per event: %.0f (refused and retried sends included)\n", mallocs/float64(load.Arrived))
		fmt.Fprintf(w, "node RSS MiB: idle %.1f, %d instances %.1f, after the load %.1f (peak %.1f)\n",
			rssIdle, loadInstances, rssSetup, rssLoad, rssPeak)
		fmt.Fprintf(w, "\nlifecycle through the node (%d runs)\tp50 ms\tp90 ms\t\n", len(start))
		fmt.Fprintf(w, "Start (cold: create, start, Boot, Init) + Patch\t%s\t%s\t\n", ms(start.pct(.5)), ms(start.pct(.9)))
		fmt.Fprintf(w, "Start (prewarm pool hit: Boot, Init) + Patch\t%s\t%s\t\n", ms(hit.pct(.5)), ms(hit.pct(.9)))
		if wentCold > 0 {
			fmt.Fprintf(w, "(%d of %d starts meant to hit went cold: no pooled container served them)\t\t\t\n", wentCold, wentCold+len(hit))
		}
		fmt.Fprintf(w, "Stop (until the container is removed)\t%s\t%s\t\n", ms(stop.pct(.5)), ms(stop.pct(.9)))
		fmt.Fprintf(w, "\ninstances on guest sockets: %.0f (%s=%q)\n",
			node.metricValue(b, "edgeless_node_container_guest_socket_instances_total"), GuestSocketsEnv, os.Getenv(GuestSocketsEnv))
		w.Flush()
		b.ReportMetric(float64(hop.Pct(.5))/float64(floorSum), "cast-hop-x-floor")
		b.ReportMetric(float64(call.pct(.5))/float64(floorSum), "call-x-floor")
		b.ReportMetric(float64(hop.Pct(.5))/float64(idleSum), "cast-hop-x-idle-floor")
		b.ReportMetric(load.PerSecond(), "events/s")
		b.ReportMetric(float64(cpu)/1e6/float64(load.Arrived), "node-cpu-ms/event")
	}
}

// GuestSocketsEnv, set to "off" or "auto", is BenchmarkNode's node's
// [container_runtime] guest_sockets (default: the default, "auto"), to
// compare the two transports in alternating runs.
const GuestSocketsEnv = "EDGELESS_BENCH_GUEST_SOCKETS"

// ProfileEnv names a file prefix: when set, BenchmarkNode saves the node's
// CPU profile (<prefix>.cpu, 10 s from the start of the throughput run)
// and heap profile (<prefix>.heap, after it), taken through the node's
// opt-in /debug/pprof, for `go tool pprof`.
const ProfileEnv = "EDGELESS_BENCH_PROFILE"

// AdmissionWaitEnv, when set, is the node's [dataplane]
// max_admission_wait_ms in BenchmarkNode (0: refuse at once), to compare
// push-back with refusals in one sitting.
const AdmissionWaitEnv = "EDGELESS_BENCH_MAX_ADMISSION_WAIT_MS"

// NodeGOMAXPROCSEnv, when set, is the GOMAXPROCS of BenchmarkNode's node
// process only (the load generator keeps its own), to compare settings in
// alternating runs.
const NodeGOMAXPROCSEnv = "EDGELESS_BENCH_NODE_GOMAXPROCS"

// admissionStats are the node's counts of casts held for admission.
type admissionStats struct{ admitted, admittedSum, refused float64 }

// admissions reads the node's admission histogram.
func (n *nodeProcess) admissions(b *testing.B) admissionStats {
	const h = "edgeless_node_dataplane_cast_admission_wait_seconds"
	return admissionStats{
		admitted:    n.metricValue(b, h+`_count{outcome="admitted"}`),
		admittedSum: n.metricValue(b, h+`_sum{outcome="admitted"}`),
		refused:     n.metricValue(b, h+`_count{outcome="refused"}`),
	}
}

func (a admissionStats) minus(b admissionStats) admissionStats {
	return admissionStats{a.admitted - b.admitted, a.admittedSum - b.admittedSum, a.refused - b.refused}
}

// meanAdmitted is the mean wait of the admitted casts.
func (a admissionStats) meanAdmitted() time.Duration {
	if a.admitted == 0 {
		return 0
	}
	return time.Duration(a.admittedSum / a.admitted * float64(time.Second))
}

// profile saves the node's CPU profile of the next d to prefix.cpu and,
// after it, the heap profile to prefix.heap, in the background; the
// channel closes when both are saved ("" prefix: at once).
func (n *nodeProcess) profile(b *testing.B, prefix string, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	if prefix == "" {
		close(done)
		return done
	}
	save := func(path, file string) {
		res, err := http.Get(n.metricsURL + path)
		if err != nil {
			b.Errorf("profile %s: %v", path, err)
			return
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		if err := os.WriteFile(file, data, 0o644); err != nil {
			b.Errorf("profile %s: %v", path, err)
		}
	}
	go func() {
		defer close(done)
		save(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), prefix+".cpu")
		save("/debug/pprof/heap", prefix+".heap")
	}()
	return done
}

// samples collects durations and summarises them.
type samples []time.Duration

func (s samples) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(p*float64(len(c)) + 0.5)
	return c[min(max(i-1, 0), len(c)-1)]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) }
func us(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) }

type floors struct {
	container, containerGRPC, connect, grpc, h2c samples
	// grpcProc is the grpc-go loopback Handle to a server in another
	// process (startNopInvocation), as between the load generator and the
	// node; the grpc floor above has both ends in this process.
	grpcProc samples
	// The grpc-go container Call and the loopback Handle to another
	// process again, each after idleGap with no traffic (see idleGap).
	containerIdle, grpcIdle samples
}

// idleGap is the pause before each round trip of the idle floors. The
// back-to-back floors find both ends running; each RPC of a cast hop
// finds its receiver idle (a function container that got an event 32 events
// ago, the node and the load generator waiting for the container) and pays
// for waking it up, which on this 2-vCPU VM costs more than the round trip
// itself. 2 ms is enough: a raw round trip after a 2 ms pause costs about
// what one round robin over 8 containers costs.
const idleGap = 2 * time.Millisecond

// floor is one named floor's samples.
type floor struct {
	name string
	s    samples
}

// cheaper returns the floor with the lower p50.
func cheaper(a, b floor) floor {
	if b.s.pct(.5) < a.s.pct(.5) {
		return b
	}
	return a
}

// measureFloors measures the five floors, interleaved so that each sees
// the same machine state.
func measureFloors(b *testing.B, dc *client.Client, image, nodeID string, inst *edgelessapi.InstanceId, rounds int) floors {
	ctx := context.Background()
	hc, _ := transport.NewClient()
	// The node's containers answer only the node (a per-instance secret):
	// the container floor is a raw container of the same image, booted
	// and initialised here without one.
	fn, fnURL := rawFunction(b, dc, hc, image, nodeID)
	fconn, err := transport.Config{}.NewGRPCConn(fnURL, transport.DefaultPayloadMaxBytes)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fconn.Close() })
	gfn := edgelessapi.NewGuestAPIFunctionClient(fconn)
	callReq := &edgelessapi.InputEventData{Src: inst, Msg: []byte("ping")}

	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewFunctionInvocationHandler(nopInvocation{}, transport.HandlerOptions(transport.DefaultPayloadMaxBytes)...))
	mux.HandleFunc("/bare", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})
	connectURL := serveLoopback(b, transport.NewServer(mux, nil))
	inv := edgelessapiconnect.NewFunctionInvocationClient(hc, connectURL, transport.ClientOptions(transport.DefaultPayloadMaxBytes)...)
	ev := &edgelessapi.Event{Target: inst, Source: inst, Msg: &edgelessapi.EventData{EventType: edgelessapi.EventType_CAST, Payload: "ping"},
		Created: &edgelessapi.EventTimestamp{}, Metadata: &edgelessapi.EventSerializedMetadata{TraceId: make([]byte, 16), SpanId: make([]byte, 8)}}

	// The reference: grpc-go's server with its defaults but the message
	// limits (the node's own servers add stream workers, which cost a
	// one-at-a-time round trip a wake-up of a parked worker).
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(transport.DefaultPayloadMaxBytes), grpc.MaxSendMsgSize(transport.DefaultPayloadMaxBytes))
	edgelessapi.RegisterFunctionInvocationServer(gs, nopGRPCInvocation{})
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go gs.Serve(gln)
	b.Cleanup(gs.Stop)
	gc, err := transport.Config{}.NewGRPCConn("http://"+gln.Addr().String(), transport.DefaultPayloadMaxBytes)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { gc.Close() })
	ginv := edgelessapi.NewFunctionInvocationClient(gc)
	pc, err := transport.Config{}.NewGRPCConn(startNopInvocation(b), transport.DefaultPayloadMaxBytes)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pc.Close() })
	pinv := edgelessapi.NewFunctionInvocationClient(pc)

	bare := func() error {
		req, _ := http.NewRequestWithContext(ctx, "POST", connectURL+"/bare", bytes.NewReader([]byte("ping")))
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, res.Body)
		return res.Body.Close()
	}
	steps := []func() error{
		func() error { _, err := fn.Call(ctx, callReq); return err },
		func() error { _, err := gfn.Call(ctx, callReq); return err },
		func() error { _, err := inv.Handle(ctx, ev); return err },
		func() error { _, err := ginv.Handle(ctx, ev); return err },
		bare,
		func() error { _, err := pinv.Handle(ctx, ev); return err },
	}
	var f floors
	out := []*samples{&f.container, &f.containerGRPC, &f.connect, &f.grpc, &f.h2c, &f.grpcProc}
	idle := []struct {
		step func() error
		out  *samples
	}{{steps[1], &f.containerIdle}, {steps[5], &f.grpcIdle}}
	for i := range rounds + 50 {
		for j, step := range steps {
			t0 := time.Now()
			if err := step(); err != nil {
				b.Fatalf("floor %d: %v", j, err)
			}
			if i >= 50 { // the first rounds warm the connections
				*out[j] = append(*out[j], time.Since(t0))
			}
		}
		for _, st := range idle {
			time.Sleep(idleGap)
			t0 := time.Now()
			if err := st.step(); err != nil {
				b.Fatalf("idle floor: %v", err)
			}
			if i >= 50 {
				*st.out = append(*st.out, time.Since(t0))
			}
		}
	}
	return f
}

// rawFunction creates and starts a container of image on the default
// bridge (labelled with nodeID, so that the test's cleanup removes it with
// the node's), boots and initialises it without a secret, and returns a
// connect-go client of its GuestAPIFunction and its URL.
func rawFunction(b *testing.B, dc *client.Client, hc *http.Client, image, nodeID string) (edgelessapiconnect.GuestAPIFunctionClient, string) {
	ctx := context.Background()
	port, _ := network.PortFrom(container.DefaultFunctionPort, network.TCP)
	yes := true
	res, err := dc.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: container.ContainerNamePrefix + "bench-" + uuid.NewString(),
		Config: &dcontainer.Config{Image: image, Labels: map[string]string{container.LabelNodeID: nodeID},
			ExposedPorts: network.PortSet{port: {}}},
		HostConfig: &dcontainer.HostConfig{Init: &yes, SecurityOpt: []string{"no-new-privileges"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dc.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true}) })
	if _, err := dc.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		b.Fatal(err)
	}
	ins, err := dc.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	bridge := ins.Container.NetworkSettings.Networks["bridge"]
	ip := bridge.IPAddress.String()
	// Boot checks that the guest API host answers: a server that answers
	// anything, on the bridge's gateway.
	hln, err := net.Listen("tcp", net.JoinHostPort(bridge.Gateway.String(), "0"))
	if err != nil {
		b.Fatal(err)
	}
	hostSrv := transport.NewServer(http.NotFoundHandler(), nil)
	go hostSrv.Serve(hln)
	b.Cleanup(func() { hostSrv.Close() })
	fnURL := "http://" + net.JoinHostPort(ip, strconv.Itoa(container.DefaultFunctionPort))
	fn := edgelessapiconnect.NewGuestAPIFunctionClient(hc, fnURL, transport.ClientOptions(transport.DefaultPayloadMaxBytes)...)
	id := &edgelessapi.InstanceId{NodeId: nodeID, FunctionId: uuid.NewString()}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		_, err := fn.Boot(ctx, &edgelessapi.BootData{GuestApiHostEndpoint: "http://" + hln.Addr().String(), InstanceId: id})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("raw container did not answer Boot: %v", err)
		}
	}
	if _, err := fn.Init(ctx, &edgelessapi.FunctionInstanceInit{InitPayload: "cast-delay-ms=0"}); err != nil {
		b.Fatalf("raw container Init: %v", err)
	}
	return fn, fnURL
}

// startNopInvocation builds and starts testdata/nopinvocation (a
// FunctionInvocation server that accepts every event) in a process of its
// own until the benchmark ends, and returns its URL.
func startNopInvocation(b *testing.B) string {
	bin := filepath.Join(b.TempDir(), "nopinvocation")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/nopinvocation").CombinedOutput(); err != nil {
		b.Fatalf("go build nopinvocation: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close() // it exits when its input closes
		if err := cmd.Wait(); err != nil {
			b.Errorf("nopinvocation: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("nopinvocation did not print its URL: %v", err)
	}
	return strings.TrimSpace(line)
}

type nopInvocation struct{}

type nopGRPCInvocation struct {
	edgelessapi.UnimplementedFunctionInvocationServer
}

func (nopGRPCInvocation) Handle(context.Context, *edgelessapi.Event) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (nopInvocation) Handle(context.Context, *edgelessapi.Event) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// serveLoopback serves srv on a free loopback port until the benchmark
// ends and returns its URL.
func serveLoopback(b *testing.B, srv *http.Server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// nodeProcess is an edgeless-node binary running with the container
// runtime on free loopback ports.
type nodeProcess struct {
	id                                  string
	admissionWaitMS                     uint64
	agentURL, invocationURL, metricsURL string
	cmd                                 *exec.Cmd
}

// startNodeProcess builds edgeless-node, runs it until the benchmark ends
// (then stops it with SIGTERM, which removes its containers) and waits
// until its agent answers.
func startNodeProcess(b *testing.B, edits ...func(*config.Config)) *nodeProcess {
	dir := b.TempDir()
	bin := filepath.Join(dir, "edgeless-node")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/edgeless-node").CombinedOutput(); err != nil {
		b.Fatalf("go build edgeless-node: %v\n%s", err, out)
	}
	cfg := config.Default()
	cfg.General.AgentURL = "http://" + freePort(b)
	cfg.General.InvocationURL = "http://" + freePort(b)
	cfg.General.StateDir = filepath.Join(dir, "state")
	cfg.General.NodeRegisterURL = "" // standalone: the load generator is its orchestrator
	cfg.Telemetry.MetricsURL = "http://" + freePort(b)
	cfg.Telemetry.Pprof = true
	cfg.ContainerRuntime.GuestAPIHostURL = "http://0.0.0.0:0"
	// Not the default 7008: another node (a parallel test's) may hold it.
	cfg.Resources.HTTPIngressURL = "http://" + freePort(b)
	for _, e := range edits {
		e(cfg)
	}
	path := filepath.Join(dir, "node.toml")
	if err := os.WriteFile(path, config.Template(cfg, config.UserNodeCapabilities{}), 0o600); err != nil {
		b.Fatal(err)
	}
	containertest.CleanupNode(b, cfg.General.NodeID)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-c", path, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if v := os.Getenv(NodeGOMAXPROCSEnv); v != "" {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+v)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			<-done
		}
		if b.Failed() {
			b.Logf("node log:\n%s", logs.String())
		}
	})
	n := &nodeProcess{id: cfg.General.NodeID, admissionWaitMS: cfg.Dataplane.MaxAdmissionWaitMS, agentURL: cfg.General.AgentURL, invocationURL: cfg.General.InvocationURL,
		metricsURL: cfg.Telemetry.MetricsURL, cmd: cmd}
	hc, _ := transport.NewClient()
	nm := edgelessapiconnect.NewNodeManagementClient(hc, n.agentURL, transport.ClientOptions(transport.ControlMaxBytes)...)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		_, err := nm.UpdatePeers(context.Background(), &edgelessapi.UpdatePeersRequest{RequestType: edgelessapi.UpdatePeersRequestType_CLEAR})
		if err == nil {
			return n
		}
		if connect.CodeOf(err) != connect.CodeUnavailable || time.Now().After(deadline) {
			b.Fatalf("node did not answer: %v\n%s", err, logs.String())
		}
	}
}

// metricValue returns the value of an unlabelled metric of the node
// process.
func (n *nodeProcess) metricValue(b *testing.B, name string) float64 {
	res, err := http.Get(n.metricsURL)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("metric %s = %q", name, v)
			}
			return f
		}
	}
	b.Fatalf("metric %s not found", name)
	return 0
}

// waitPoolSettled waits until the node's prewarm pool holds one idle
// container and fills none.
func (n *nodeProcess) waitPoolSettled(b *testing.B) {
	for t0 := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if n.metricValue(b, "edgeless_node_prewarm_idle") == 1 && n.metricValue(b, "edgeless_node_prewarm_warming") == 0 {
			return
		}
		if time.Since(t0) > 2*time.Minute {
			b.Fatal("the prewarm pool did not settle within two minutes")
		}
	}
}

// cpu returns the node process's user+system CPU time so far.
func (n *nodeProcess) cpu(b *testing.B) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("node CPU time: %v", err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 per second).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rss returns a memory figure of the node process in MiB: field VmRSS
// (resident now) or VmHWM (the peak) of /proc/<pid>/status.
func (n *nodeProcess) rss(b *testing.B, field string) float64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("node RSS: %v", err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				b.Fatalf("node %s = %q", field, v)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatalf("node %s not found", field)
	return 0
}

// freePort returns a loopback address that was free a moment ago.
func freePort(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
