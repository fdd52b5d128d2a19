package container_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
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
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// The benchmarks compare the runtime with floors measured in the same run,
// interleaved so that both see the same machine state:
//
//	go test -run '^$' -bench . -benchtime 20x ./container/
//
// BenchmarkColdStart: Runtime.Start (create, start, Boot, Init) against a
// raw create+start of the same image until its port answers a gRPC call,
// for both ways of reaching a container. BenchmarkWarm: Instance.Call and
// Instance.Cast against a raw grpc-go round trip into a container of the
// same image, over the bridge and over a guest socket. BenchmarkHost: a Cast into
// the GuestAPIHost server against a bare grpc-go server.

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
func us(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) }

// usRatioRow writes a table row of s in µs, p50 and p90, each with its
// ratio to the same percentile of floor.
func usRatioRow(w io.Writer, name string, s, floor samples) {
	fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.2f\t\n", name, us(s.pct(.5)), us(s.pct(.9)),
		float64(s.pct(.5))/float64(floor.pct(.5)), float64(s.pct(.9))/float64(floor.pct(.9)))
}

// rawColdStart creates and starts the image as the runtime would (same
// name pattern and labels), and polls Boot on its port every millisecond
// until it answers: the floor for a cold start.
func rawColdStart(b *testing.B, c *client.Client, n *testNode, img string, publish bool) time.Duration {
	hc := plainHostConfig()
	if publish {
		hc.PortBindings = network.PortMap{functionPort(): {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
	}
	t0 := time.Now()
	id, ctr := startRaw(b, c, n, img, hc)
	defer removeRaw(c, ctr)
	hostURL, stop := rawHost(b, ctr, "bridge") // well under a millisecond
	defer stop()
	bootRaw(b, rawClient("http://"+rawAddr(ctr, "bridge", publish)), hostURL, n, id, t0)
	return time.Since(t0)
}

// functionPort is the function's port in a container.
func functionPort() network.Port {
	port, _ := network.PortFrom(container.DefaultFunctionPort, network.TCP)
	return port
}

// plainHostConfig is the HostConfig of a raw container on the default
// bridge with no confinement but an init and no-new-privileges.
func plainHostConfig() *dcontainer.HostConfig {
	yes := true
	return &dcontainer.HostConfig{Init: &yes, SecurityOpt: []string{"no-new-privileges"}}
}

// startRaw creates a container of img with hc as the runtime would (name
// pattern, node label, exposed function port), starts it and inspects it.
// It returns the function id in the container's name and the container;
// the caller removes it (removeRaw).
func startRaw(b *testing.B, c *client.Client, n *testNode, img string, hc *dcontainer.HostConfig) (string, dcontainer.InspectResponse) {
	ctx := context.Background()
	id := uuid.NewString()
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       container.ContainerNamePrefix + id,
		Config:     &dcontainer.Config{Image: img, Labels: map[string]string{container.LabelNodeID: n.id}, ExposedPorts: network.PortSet{functionPort(): {}}},
		HostConfig: hc,
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		removeRaw(c, dcontainer.InspectResponse{ID: res.ID})
		b.Fatal(err)
	}
	ins, err := c.ContainerInspect(ctx, res.ID, client.ContainerInspectOptions{})
	if err != nil {
		removeRaw(c, dcontainer.InspectResponse{ID: res.ID})
		b.Fatal(err)
	}
	return id, ins.Container
}

// removeRaw removes a container of startRaw.
func removeRaw(c *client.Client, ctr dcontainer.InspectResponse) {
	c.ContainerRemove(context.Background(), ctr.ID, client.ContainerRemoveOptions{Force: true})
}

// rawAddr is the address of ctr's function port: on the network netName,
// or the one published on 127.0.0.1 if publish.
func rawAddr(ctr dcontainer.InspectResponse, netName string, publish bool) string {
	if publish {
		return "127.0.0.1:" + ctr.NetworkSettings.Ports[functionPort()][0].HostPort
	}
	return ctr.NetworkSettings.Networks[netName].IPAddress.String() + ":" + strconv.Itoa(container.DefaultFunctionPort)
}

// bootRaw polls fn's Boot (host hostURL, instance id of node n) every
// millisecond until it answers; it fails b if that takes 30 s from t0.
func bootRaw(b *testing.B, fn edgelessapiconnect.GuestAPIFunctionClient, hostURL string, n *testNode, id string, t0 time.Time) {
	req := &edgelessapi.BootData{GuestApiHostEndpoint: hostURL, InstanceId: &edgelessapi.InstanceId{NodeId: n.id, FunctionId: id}}
	for {
		if _, err := fn.Boot(context.Background(), req); err == nil {
			return
		}
		if time.Since(t0) > 30*time.Second {
			b.Fatal("raw container did not answer within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}

// rawHost serves, on the gateway of ctr's network netName, a guest API
// host for a raw container: the Go SDK's Boot checks that its host
// answers, and the node's answers its own containers only. It answers
// anyone (HTTP/2, 404 to everything).
func rawHost(b *testing.B, ctr dcontainer.InspectResponse, netName string) (url string, stop func()) {
	hln, err := net.Listen("tcp", net.JoinHostPort(ctr.NetworkSettings.Networks[netName].Gateway.String(), "0"))
	if err != nil {
		b.Fatal(err)
	}
	hostSrv := transport.NewServer(http.NotFoundHandler(), nil)
	go transport.ServeListener(hostSrv, hln)
	return "http://" + hln.Addr().String(), func() { hostSrv.Close() }
}

// rawClient is a plain gRPC client (connect-go) of a function that sends
// the instance's secret, if any, on every call.
func rawClient(url string, secret ...string) edgelessapiconnect.GuestAPIFunctionClient {
	opts := []connect.ClientOption{connect.WithGRPC()}
	if len(secret) > 0 {
		opts = append(opts, connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set(container.SecretHeader, secret[0])
				return next(ctx, req)
			}
		})))
	}
	return edgelessapiconnect.NewGuestAPIFunctionClient(transporttest.Client(), url, opts...)
}

// rawGRPCClient is a plain grpc-go client of a function that sends secret
// on every call, with the options extra, closed when b ends.
func rawGRPCClient(b *testing.B, url, secret string, extra ...grpc.DialOption) edgelessapi.GuestAPIFunctionClient {
	cc, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(url, "http://"), append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, container.SecretHeader, secret), method, req, reply, cc, opts...)
		})}, extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return edgelessapi.NewGuestAPIFunctionClient(cc)
}

func BenchmarkColdStart(b *testing.B) {
	nb, img, c := dockerNode(b, nil)
	np := newTestNode(b, nodeOptions{docker: true, cfg: func(cfg *container.Config) { cfg.PublishPort = true }})
	var floorBridge, floorPub, rtBridge, rtPub samples
	startStop := func(n *testNode) time.Duration {
		t0 := time.Now()
		inst, err := n.rt.Start(context.Background(), n.spec("container:"+img))
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if err := inst.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		return d
	}
	// One warm-up round, not counted (first starts touch cold caches).
	rawColdStart(b, c, nb, img, false)
	startStop(nb)
	b.ResetTimer()
	for b.Loop() {
		floorBridge = append(floorBridge, rawColdStart(b, c, nb, img, false))
		rtBridge = append(rtBridge, startStop(nb))
		floorPub = append(floorPub, rawColdStart(b, c, np, img, true))
		rtPub = append(rtPub, startStop(np))
	}
	b.StopTimer()
	best := min(floorBridge.pct(.5), floorPub.pct(.5))
	b.ReportMetric(float64(rtBridge.pct(.5))/float64(floorBridge.pct(.5)), "bridge-ratio-p50")
	b.ReportMetric(float64(rtPub.pct(.5))/float64(floorPub.pct(.5)), "publish-ratio-p50")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\ncold start (%d runs)\tp50 ms\tp90 ms\tratio p50\tratio p90\tvs best floor p50\t\n", len(rtBridge))
	row := func(name string, s, floor samples) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t\n", name, ms(s.pct(.5)), ms(s.pct(.9)),
			float64(s.pct(.5))/float64(floor.pct(.5)), float64(s.pct(.9))/float64(floor.pct(.9)), float64(s.pct(.5))/float64(best))
	}
	row("floor: raw create+start+gRPC, bridge IP", floorBridge, floorBridge)
	row("runtime Start, bridge IP (default)", rtBridge, floorBridge)
	row("floor: raw create+start+gRPC, 127.0.0.1 port", floorPub, floorPub)
	row("runtime Start, 127.0.0.1 port", rtPub, floorPub)
	w.Flush()
}

// BenchmarkWarm times Instance.Call and Instance.Cast of an instance on
// guest sockets (Unix sockets, the default where they work) and of one on
// the Docker network (guest_sockets "off"), each against its raw grpc-go
// floor: a bare grpc-go client with the runtime's HTTP/2 windows
// (transport.LocalDialOptions) over the bridge, and one over the guest
// socket, each into a container of the same image that the runtime made
// (same limits, GOMAXPROCS and confinement; the floors' instances' own
// connections stay idle, or are closed for the socket, which takes one
// connection at a time). Beside them, back to back only and into
// containers of their own: raw grpc-go with its default windows (which
// send a bandwidth-estimate PING after nearly every reply) on both
// transports, and a raw connect-go client over the bridge.
//
// Every measured call is one of a pair made back to back by the same
// client into the same container: the second is timed as "back to back",
// the first as "after idle", since every container of a floor or an
// instance is called once every five pairs, so that each has been idle
// for as long. How recently a container served a call changes its round
// trip by more than anything else measured here (its threads park when
// idle).
func BenchmarkWarm(b *testing.B) {
	// (The example image of this tree: the shared tag may be rebuilt by
	// another tree meanwhile.)
	n, img := newTestNode(b, nodeOptions{docker: true}), socketExampleImage(b)
	off := newTestNode(b, nodeOptions{docker: true, cfg: func(c *container.Config) { c.GuestSockets = container.GuestSocketsOff }})
	instT := off.start(b, off.spec("container:"+img))
	// The floors' containers (their instances' own connections idle).
	instB := off.start(b, off.spec("container:"+img)).(*container.Instance)
	instBd := off.start(b, off.spec("container:"+img)).(*container.Instance)
	secretB, secretBd := container.SecretOf(instB), container.SecretOf(instBd)
	rawB := rawGRPCClient(b, instB.Info().Endpoint, secretB, transport.LocalDialOptions()...)
	rawBd := rawGRPCClient(b, instBd.Info().Endpoint, secretBd)
	rawC := rawClient(instBd.Info().Endpoint, secretBd)
	var instS contract.Instance
	var rawU, rawUd edgelessapi.GuestAPIFunctionClient
	if container.GuestSocketRoot(n.rt) != "" {
		instS = n.start(b, n.spec("container:"+img))
		instF := n.start(b, n.spec("container:"+img)).(*container.Instance)
		instFd := n.start(b, n.spec("container:"+img)).(*container.Instance)
		dial, dialD := container.TakeSocketConn(instF), container.TakeSocketConn(instFd)
		if dial == nil || dialD == nil || !container.OnGuestSockets(instS.(*container.Instance)) {
			b.Fatal("the instances do not use their guest sockets (an example image without socket support?)")
		}
		rawU = rawGRPCClientDial(b, dial, container.SecretOf(instF), transport.LocalDialOptions()...)
		rawUd = rawGRPCClientDial(b, dialD, container.SecretOf(instFd))
	} else {
		b.Log("guest sockets are off here: only the bridge rows")
	}
	srcT, srcS := off.sinkID(), n.sinkID()
	ctx := context.Background()
	payload := []byte("hello")
	castMsg := []byte("noreply") // a command: no re-cast, so nothing but the hop is measured
	in := &edgelessapi.InputEventData{Src: &edgelessapi.InstanceId{NodeId: srcT.NodeID, FunctionId: srcT.FunctionID}, Msg: payload}
	inCast := &edgelessapi.InputEventData{Src: in.Src, Msg: castMsg}
	rawCall := func(c edgelessapi.GuestAPIFunctionClient) func() error {
		return func() error { _, err := c.Call(ctx, in); return err }
	}
	rawCast := func(c edgelessapi.GuestAPIFunctionClient) func() error {
		return func() error { _, err := c.Cast(ctx, inCast); return err }
	}
	// op is one pair's client, and its samples: idle, the first of the
	// pair; b2b, the second.
	type op struct {
		name      string
		f         func() error
		idle, b2b samples
	}
	nop := &op{f: func() error { return nil }}
	bCall := &op{name: "floor: raw grpc-go Call, bridge", f: rawCall(rawB)}
	tCall := &op{name: "Instance.Call, bridge (guest_sockets off)", f: func() error { _, err := instT.Call(ctx, srcT, payload); return err }}
	bCast := &op{name: "floor: raw grpc-go Cast, bridge", f: rawCast(rawB)}
	tCast := &op{name: "Instance.Cast, bridge (guest_sockets off)", f: func() error { return instT.Cast(ctx, srcT, castMsg) }}
	bdCall := &op{name: "raw grpc-go Call, bridge, default windows", f: rawCall(rawBd)}
	cCall := &op{name: "raw connect-go Call, bridge", f: func() error { _, err := rawC.Call(ctx, in); return err }}
	uCall, sCall, uCast, sCast, udCall := nop, nop, nop, nop, nop
	if instS != nil {
		uCall = &op{name: "floor: raw grpc-go Call, guest socket", f: rawCall(rawU)}
		sCall = &op{name: "Instance.Call, guest socket", f: func() error { _, err := instS.Call(ctx, srcS, payload); return err }}
		uCast = &op{name: "floor: raw grpc-go Cast, guest socket", f: rawCast(rawU)}
		sCast = &op{name: "Instance.Cast, guest socket", f: func() error { return instS.Cast(ctx, srcS, castMsg) }}
		udCall = &op{name: "raw grpc-go Call, guest socket, default windows", f: rawCall(rawUd)}
	}
	// Each round calls the containers in the same order, B T F S, then
	// one of the others; the calls alternate with the casts, and the
	// others take turns.
	others := []*op{bdCall, udCall, cCall}
	timed := func(s *samples, f func() error) {
		t0 := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*s = append(*s, time.Since(t0))
	}
	rounds := 0
	round := func(record bool) {
		fifth := others[(rounds/2)%len(others)]
		for _, o := range [][]*op{{bCall, tCall, uCall, sCall, fifth}, {bCast, tCast, uCast, sCast, fifth}}[rounds%2] {
			if o == nop {
				continue
			}
			if !record {
				if err := errors.Join(o.f(), o.f()); err != nil {
					b.Fatal(err)
				}
				continue
			}
			timed(&o.idle, o.f)
			timed(&o.b2b, o.f)
		}
		rounds++
	}
	for range 100 { // warm the connections
		round(false)
	}
	b.ResetTimer()
	for b.Loop() {
		// 400 rounds per iteration: -benchtime 20x gives 4000 samples of
		// each of the floors and instances.
		for range 400 {
			round(true)
		}
	}
	b.StopTimer()
	// The ratios are to each transport's grpc-go floor, back to back.
	p50 := func(s, floor samples) float64 { return float64(s.pct(.5)) / float64(floor.pct(.5)) }
	p90 := func(s, floor samples) float64 { return float64(s.pct(.9)) / float64(floor.pct(.9)) }
	b.ReportMetric(p50(tCall.b2b, bCall.b2b), "call-ratio-p50")
	b.ReportMetric(p50(tCast.b2b, bCast.b2b), "cast-ratio-p50")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nwarm (%d runs)\tback to back p50 µs\tp90 µs\tratio p50\tratio p90\tafter idle p50 µs\tp90 µs\tratio p50\tratio p90\t\n", len(tCall.b2b))
	row := func(o, floor *op) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.2f\t", o.name, us(o.b2b.pct(.5)), us(o.b2b.pct(.9)), p50(o.b2b, floor.b2b), p90(o.b2b, floor.b2b))
		if len(o.idle) == len(floor.idle) { // the others' idle times differ
			fmt.Fprintf(w, "%s\t%s\t%.2f\t%.2f\t\n", us(o.idle.pct(.5)), us(o.idle.pct(.9)), p50(o.idle, floor.idle), p90(o.idle, floor.idle))
		} else {
			fmt.Fprintf(w, "-\t-\t-\t-\t\n")
		}
	}
	as := func(name string, o *op) *op { return &op{name: name, idle: o.idle, b2b: o.b2b} }
	row(bCall, bCall)
	row(bdCall, bCall)
	row(cCall, bCall)
	row(tCall, bCall)
	if instS != nil {
		b.ReportMetric(p50(sCall.b2b, uCall.b2b), "socket-call-ratio-p50")
		b.ReportMetric(p50(sCast.b2b, uCast.b2b), "socket-cast-ratio-p50")
		b.ReportMetric(p50(sCall.b2b, tCall.b2b), "socket-vs-bridge-call-p50")
		b.ReportMetric(p50(sCast.b2b, tCast.b2b), "socket-vs-bridge-cast-p50")
		b.ReportMetric(p50(uCall.b2b, bCall.b2b), "socket-vs-bridge-floor-p50")
		row(uCall, uCall)
		row(as("  (vs the bridge floor)", uCall), bCall)
		row(udCall, uCall)
		row(sCall, uCall)
		row(as("  (vs the bridge floor)", sCall), bCall)
	}
	row(bCast, bCast)
	row(tCast, bCast)
	if instS != nil {
		row(uCast, uCast)
		row(as("  (vs the bridge floor)", uCast), bCast)
		row(sCast, uCast)
		row(as("  (vs the bridge floor)", sCast), bCast)
	}
	w.Flush()
}

// rawGRPCClientDial is rawGRPCClient over the connections of dial.
func rawGRPCClientDial(b *testing.B, dial func(context.Context, string) (net.Conn, error), secret string, extra ...grpc.DialOption) edgelessapi.GuestAPIFunctionClient {
	cc, err := grpc.NewClient("passthrough:///function", append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, container.SecretHeader, secret), method, req, reply, cc, opts...)
		})}, extra...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	return edgelessapi.NewGuestAPIFunctionClient(cc)
}

// rawPrestarted creates and starts the image as rawColdStart does, waits
// (untimed) until its port accepts TCP, then times Boot and Init: the floor
// for a Start that takes a prewarmed container.
func rawPrestarted(b *testing.B, c *client.Client, n *testNode, img string) time.Duration {
	ctx := context.Background()
	id, ctr := startRaw(b, c, n, img, plainHostConfig())
	defer removeRaw(c, ctr)
	addr := rawAddr(ctr, "bridge", false)
	for t0 := time.Now(); ; time.Sleep(time.Millisecond) {
		if cn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			cn.Close()
			break
		}
		if time.Since(t0) > 30*time.Second {
			b.Fatal("raw container did not open its port within 30s")
		}
	}
	hostURL, stop := rawHost(b, ctr, "bridge")
	defer stop()
	fn := rawClient("http://" + addr)
	t0 := time.Now()
	if _, err := fn.Boot(ctx, &edgelessapi.BootData{GuestApiHostEndpoint: hostURL, InstanceId: &edgelessapi.InstanceId{NodeId: n.id, FunctionId: id}}); err != nil {
		b.Fatal(err)
	}
	if _, err := fn.Init(ctx, &edgelessapi.FunctionInstanceInit{}); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// BenchmarkColdStartPool: a Start that takes a prewarmed container (pool
// hit) beside the raw floor (create+start+first Boot, as in
// BenchmarkColdStart), today's Start without a pool, and the floor of a
// hit (Boot+Init to an already started raw container), interleaved. Each
// round waits, untimed, for the pool's refill.
func BenchmarkColdStartPool(b *testing.B) {
	plain, img, c := dockerNode(b, nil)
	pooled := newTestNode(b, nodeOptions{docker: true, cfg: func(cfg *container.Config) {
		cfg.Prewarm = container.Prewarm{Enabled: true, Images: []string{img}, History: -1}
	}})
	ctx := context.Background()
	waitIdle := func() {
		for t0 := time.Now(); ; time.Sleep(2 * time.Millisecond) {
			if s := pooled.rt.PoolStats(); s.Idle == 1 && s.Warming == 0 {
				return
			}
			if time.Since(t0) > time.Minute {
				b.Fatalf("no pooled container within a minute: %+v", pooled.rt.PoolStats())
			}
		}
	}
	startStop := func(n *testNode, wantHit bool) time.Duration {
		t0 := time.Now()
		inst, err := n.rt.Start(ctx, n.spec("container:"+img))
		d := time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if hit := inst.Info().PoolHit; hit != wantHit {
			b.Fatalf("PoolHit = %v, want %v", hit, wantHit)
		}
		if err := inst.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		return d
	}
	// One warm-up round, not counted.
	rawColdStart(b, c, plain, img, false)
	startStop(plain, false)
	waitIdle()
	startStop(pooled, true)
	var floor, hitFloor, today, hit samples
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		waitIdle()
		b.StartTimer()
		floor = append(floor, rawColdStart(b, c, plain, img, false))
		today = append(today, startStop(plain, false))
		hitFloor = append(hitFloor, rawPrestarted(b, c, plain, img))
		hit = append(hit, startStop(pooled, true))
	}
	b.StopTimer()
	b.ReportMetric(float64(hit.pct(.5))/1e6, "hit-p50-ms")
	b.ReportMetric(float64(hit.pct(.5))/float64(floor.pct(.5)), "hit-ratio-p50")
	b.ReportMetric(float64(today.pct(.5))/float64(floor.pct(.5)), "nopool-ratio-p50")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\ncold start with the prewarm pool (%d runs)\tp50 ms\tp90 ms\tvs raw floor p50\tvs hit floor p50\t\n", len(hit))
	row := func(name string, s samples) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%.3f\t%.2f\t\n", name, ms(s.pct(.5)), ms(s.pct(.9)),
			float64(s.pct(.5))/float64(floor.pct(.5)), float64(s.pct(.5))/float64(hitFloor.pct(.5)))
	}
	row("floor: raw create+start+first Boot, bridge IP", floor)
	row("runtime Start, no pool (today's cold start)", today)
	row("floor of a hit: raw Boot+Init, container already started", hitFloor)
	row("runtime Start, pool hit", hit)
	w.Flush()
}

// rawFunction is a container of the example image created, started,
// booted and initialised directly through the Engine API and gRPC, as the
// runtime would: the floor for stopping one.
type rawFunction struct {
	id string
	fn edgelessapiconnect.GuestAPIFunctionClient
	tr *http.Transport
}

// startRawFunction creates, starts, boots and initialises a raw container
// of img: on the default bridge with no confinement if hc is nil, else
// with hc (a copy of a runtime container's) on the network netName.
func startRawFunction(b *testing.B, c *client.Client, n *testNode, img string, hc *dcontainer.HostConfig, netName string) rawFunction {
	if hc == nil {
		hc, netName = plainHostConfig(), "bridge"
	} else {
		own := *hc
		hc = &own
	}
	id, ctr := startRaw(b, c, n, img, hc)
	b.Cleanup(func() { removeRaw(c, ctr) })
	httpc, tr := transport.NewClient()
	fn := edgelessapiconnect.NewGuestAPIFunctionClient(httpc, "http://"+rawAddr(ctr, netName, false), connect.WithGRPC())
	hostURL, stop := rawHost(b, ctr, netName)
	b.Cleanup(stop)
	bootRaw(b, fn, hostURL, n, id, time.Now())
	if _, err := fn.Init(context.Background(), &edgelessapi.FunctionInstanceInit{}); err != nil {
		b.Fatal(err)
	}
	return rawFunction{id: ctr.ID, fn: fn, tr: tr}
}

// runtimeHostConfig is the HostConfig n's runtime gives a container of img
// (network, confinement, limits, port binding), read from one it starts
// and stops. The guest-socket mount's directory went with that container:
// the mount is pointed at an empty directory of b's, so that a raw
// container made with it still costs the engine a bind mount.
func runtimeHostConfig(b *testing.B, c *client.Client, n *testNode, img string) *dcontainer.HostConfig {
	ctx := context.Background()
	inst, err := n.rt.Start(ctx, n.spec("container:"+img))
	if err != nil {
		b.Fatal(err)
	}
	ins, err := c.ContainerInspect(ctx, inst.Info().ContainerID, client.ContainerInspectOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if err := inst.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	hc := ins.Container.HostConfig
	hc.Mounts = slices.Clone(hc.Mounts)
	for i, m := range hc.Mounts {
		if m.Target == container.GuestSocketsMount {
			hc.Mounts[i].Source = b.TempDir()
		}
	}
	return hc
}

// BenchmarkStop: Instance.Stop (until the container is removed), with its
// steps (Stop RPC, signal to the container's end, removal), against raw
// floors on a container of the same image started the same way: a force
// removal (SIGKILL and remove in one Engine call), the Stop RPC then a
// force removal (what upstream's node does: stop with t=0, then remove),
// and the Stop RPC then a stop by SIGTERM (the function exits by itself)
// then a removal; and the Stop RPC then a force removal of a container
// given the runtime's own HostConfig (network, confinement, limits).
func BenchmarkStop(b *testing.B) {
	n, img, c := dockerNode(b, nil)
	ctx := context.Background()
	hc := runtimeHostConfig(b, c, n, img)
	var rmF, rpcRmF, rpcTermRm, sameRmF, rt, rtRPC, rtExit, rtRemove, rtRest samples
	stopRPC := func(r rawFunction) {
		if _, err := r.fn.Stop(ctx, &emptypb.Empty{}); err != nil {
			b.Fatal(err)
		}
		r.tr.CloseIdleConnections()
	}
	forceRemove := func(r rawFunction) {
		if _, err := c.ContainerRemove(ctx, r.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			b.Fatal(err)
		}
	}
	round := func(count bool) {
		r := startRawFunction(b, c, n, img, nil, "")
		t0 := time.Now()
		forceRemove(r)
		d1 := time.Since(t0)

		r = startRawFunction(b, c, n, img, nil, "")
		t0 = time.Now()
		stopRPC(r)
		forceRemove(r)
		d2 := time.Since(t0)

		r = startRawFunction(b, c, n, img, hc, n.rt.Network().Name)
		t0 = time.Now()
		stopRPC(r)
		forceRemove(r)
		dSame := time.Since(t0)

		r = startRawFunction(b, c, n, img, nil, "")
		t0 = time.Now()
		stopRPC(r)
		timeout := 10
		if _, err := c.ContainerStop(ctx, r.id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
			b.Fatal(err)
		}
		forceRemove(r)
		d3 := time.Since(t0)

		inst, err := n.rt.Start(ctx, n.spec("container:"+img))
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if err := inst.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		d4 := time.Since(t0)
		if !count {
			return
		}
		p := container.StopPhasesOf(inst.(*container.Instance))
		rmF, rpcRmF, rpcTermRm, rt = append(rmF, d1), append(rpcRmF, d2), append(rpcTermRm, d3), append(rt, d4)
		sameRmF = append(sameRmF, dSame)
		rtRPC, rtExit, rtRemove = append(rtRPC, p.RPC), append(rtExit, p.Exit), append(rtRemove, p.Remove)
		rtRest = append(rtRest, d4-p.RPC-p.Exit-p.Remove)
	}
	round(false) // warm-up, not counted
	b.ResetTimer()
	for b.Loop() {
		round(true)
	}
	b.StopTimer()
	b.ReportMetric(float64(rt.pct(.5))/float64(rpcRmF.pct(.5)), "stop-ratio-p50")
	b.ReportMetric(float64(rt.pct(.5))/float64(sameRmF.pct(.5)), "stop-same-options-ratio-p50")
	b.ReportMetric(float64(rt.pct(.5))/1e6, "stop-ms-p50")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nstop (%d runs)\tp50 ms\tp90 ms\tvs Stop RPC + rm -f p50\tvs same, runtime's options p50\t\n", len(rt))
	row := func(name string, s samples) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.2f\t\n", name, ms(s.pct(.5)), ms(s.pct(.9)),
			float64(s.pct(.5))/float64(rpcRmF.pct(.5)), float64(s.pct(.5))/float64(sameRmF.pct(.5)))
	}
	row("floor: raw rm -f (SIGKILL+remove, one call)", rmF)
	row("floor: raw Stop RPC + rm -f (upstream's way)", rpcRmF)
	row("floor: raw Stop RPC + stop (SIGTERM) + rm", rpcTermRm)
	row("floor: raw Stop RPC + rm -f, the runtime's options", sameRmF)
	row("Instance.Stop, until removed", rt)
	row("  step: Stop RPC", rtRPC)
	row("  step: signal until the container ended", rtExit)
	row("  step: removal", rtRemove)
	row("  the rest (teardown: output, waiter, registry)", rtRest)
	w.Flush()
}

// rawColdStartLike creates and starts img with the HostConfig hc (a copy
// of what the runtime gave one of its containers: network, confinement,
// limits, port binding) and polls Boot every millisecond until it answers:
// a floor that costs the engine what the runtime's own containers cost.
func rawColdStartLike(b *testing.B, c *client.Client, n *testNode, img string, hc dcontainer.HostConfig, netName string, publish bool) time.Duration {
	t0 := time.Now()
	id, ctr := startRaw(b, c, n, img, &hc)
	defer removeRaw(c, ctr)
	hostURL, stop := rawHost(b, ctr, netName)
	defer stop()
	bootRaw(b, rawClient("http://"+rawAddr(ctr, netName, publish)), hostURL, n, id, t0)
	return time.Since(t0)
}

// BenchmarkColdStartSameOptions: Runtime.Start against two raw floors
// interleaved in one run: create+start+Boot on the default bridge with no
// confinement (BenchmarkColdStart's floor), and the same with the
// HostConfig the runtime gave its own container (its network, confinement
// and default limits). The second ratio is the cost of the runtime's code;
// the gap between the floors is the engine's cost of the isolation.
func BenchmarkColdStartSameOptions(b *testing.B) {
	for _, publish := range []bool{false, true} {
		b.Run(fmt.Sprintf("publish=%v", publish), func(b *testing.B) {
			n, img, c := dockerNode(b, func(cfg *container.Config) { cfg.PublishPort = publish })
			ctx := context.Background()
			hc := *runtimeHostConfig(b, c, n, img)
			var plain, same, rt samples
			for b.Loop() {
				plain = append(plain, rawColdStart(b, c, n, img, publish))
				same = append(same, rawColdStartLike(b, c, n, img, hc, n.rt.Network().Name, publish))
				t0 := time.Now()
				inst, err := n.rt.Start(ctx, n.spec("container:"+img))
				rt = append(rt, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if err := inst.Stop(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(rt.pct(.5))/float64(same.pct(.5)), "same-options-ratio-p50")
			w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(w, "\ncold start, publish=%v (%d runs)\tp50 ms\tp90 ms\tvs same options p50\tvs plain p50\t\n", publish, len(rt))
			row := func(name string, s samples) {
				fmt.Fprintf(w, "%s\t%s\t%s\t%.2f\t%.2f\t\n", name, ms(s.pct(.5)), ms(s.pct(.9)),
					float64(s.pct(.5))/float64(same.pct(.5)), float64(s.pct(.5))/float64(plain.pct(.5)))
			}
			row("floor: raw, default bridge, no confinement", plain)
			row("floor: raw, the runtime's network, confinement and limits", same)
			row("runtime Start", rt)
			w.Flush()
		})
	}
}

// emptyHost is a GuestAPIHost server whose Cast does nothing: the floor
// of BenchmarkHost.
type emptyHost struct {
	edgelessapi.UnimplementedGuestAPIHostServer
}

func (emptyHost) Cast(context.Context, *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// BenchmarkHost: a Cast into the runtime's GuestAPIHost server (routed to
// the instance's host, delivered to the test sink) from a grpc: instance on
// this host, with connect-go's gRPC client and grpc-go's (the Go SDK's
// stack, and a stand-in for upstream's templates' tonic and grpcio),
// against the same clients' Cast to a bare grpc-go server on loopback whose
// Cast does nothing.
func BenchmarkHost(b *testing.B) {
	n := newTestNode(b, nodeOptions{})
	f := newTestFunction(b)
	inst := n.start(b, n.spec(f.code()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bare, err := transport.Config{}.NewGRPCServer(transport.DefaultPayloadMaxBytes) // the runtime's server settings
	if err != nil {
		b.Fatal(err)
	}
	edgelessapi.RegisterGuestAPIHostServer(bare, emptyHost{})
	go bare.Serve(ln)
	defer bare.Stop()
	connectClient := func(url string) edgelessapiconnect.GuestAPIHostClient {
		return edgelessapiconnect.NewGuestAPIHostClient(transporttest.Client(), url, connect.WithGRPC())
	}
	grpcClient := func(url string) edgelessapi.GuestAPIHostClient {
		cc, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cc.Close() })
		return edgelessapi.NewGuestAPIHostClient(cc)
	}
	bareURL := "http://" + ln.Addr().String()
	cFloor, cHost := connectClient(bareURL), connectClient(n.hostURL)
	gFloor, gHost := grpcClient(bareURL), grpcClient(n.hostURL)
	ctx := context.Background()
	req := &edgelessapi.OutputEventData{Originator: &edgelessapi.InstanceId{NodeId: inst.ID().NodeID, FunctionId: inst.ID().FunctionID},
		Alias: "output", Msg: []byte("hello")}
	var cf, ch, gf, gh samples
	round := func(record bool) {
		t0 := time.Now()
		if _, err := cFloor.Cast(ctx, req); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := cHost.Cast(ctx, req); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		<-n.sink
		t3 := time.Now()
		if _, err := gFloor.Cast(ctx, req); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		if _, err := gHost.Cast(ctx, req); err != nil {
			b.Fatal(err)
		}
		t5 := time.Now()
		<-n.sink
		if record {
			cf, ch, gf, gh = append(cf, t1.Sub(t0)), append(ch, t2.Sub(t1)), append(gf, t4.Sub(t3)), append(gh, t5.Sub(t4))
		}
	}
	for range 100 { // warm the connections
		round(false)
	}
	b.ResetTimer()
	for b.Loop() {
		for range 200 { // -benchtime 10x gives 2000 samples of each
			round(true)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ch.pct(.5))/float64(cf.pct(.5)), "connect-client-ratio-p50")
	b.ReportMetric(float64(gh.pct(.5))/float64(gf.pct(.5)), "grpc-go-client-ratio-p50")
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "\nGuestAPIHost Cast (%d runs)\tp50 µs\tp90 µs\tratio p50\tratio p90\t\n", len(ch))
	row := func(name string, s, floor samples) { usRatioRow(w, name, s, floor) }
	row("floor: connect-go client, bare grpc-go server", cf, cf)
	row("connect-go client, the runtime's server", ch, cf)
	row("floor: grpc-go client, bare grpc-go server", gf, gf)
	row("grpc-go client, the runtime's server", gh, gf)
	w.Flush()
}
