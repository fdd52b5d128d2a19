package container_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	neturl "net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"google.golang.org/grpc"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// poolNode is a Docker test node with the prewarm pool configured by p
// (Enabled is set).
func poolNode(t *testing.T, p container.Prewarm) (*testNode, string, *client.Client) {
	t.Helper()
	c := containertest.RequireDocker(t)
	img := containertest.BuildExampleImage(t)
	p.Enabled = true
	for k, v := range p.Images {
		if v == "" {
			p.Images[k] = img
		}
	}
	n := newTestNode(t, nodeOptions{docker: true, cfg: func(cfg *container.Config) { cfg.Prewarm = p }})
	return n, img, c
}

// pooledContainers returns the ids of the node's containers labelled as
// pooled, running or not.
func pooledContainers(t *testing.T, c *client.Client, nodeID string) []string {
	t.Helper()
	res, err := c.ContainerList(t.Context(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", container.LabelNodeID+"="+nodeID).Add("label", container.LabelPool)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range res.Items {
		ids = append(ids, it.ID)
	}
	slices.Sort(ids)
	return ids
}

// waitPool waits until the pool's stats satisfy ok.
func waitPool(t *testing.T, rt *container.Runtime, what string, ok func(container.PoolStats) bool) container.PoolStats {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := rt.PoolStats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool never got %s: %+v", what, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func idle(n int) func(container.PoolStats) bool {
	return func(s container.PoolStats) bool { return s.Idle == n && s.Warming == 0 }
}

// TestPool_Hit: a Start whose image the operator named boots in the
// pooled container, which becomes the instance's own (name, secret,
// address); the pool refills in the background with another container.
func TestPool_Hit(t *testing.T) {
	t.Parallel()
	n, img, c := poolNode(t, container.Prewarm{Images: []string{""}})
	waitPool(t, n.rt, "one idle container", idle(1))
	pooled := pooledContainers(t, c, n.id)
	if len(pooled) != 1 {
		t.Fatalf("pooled containers = %v, want 1", pooled)
	}
	ins := inspect(t, c, pooled[0])
	if !ins.State.Running || ins.Config.Labels[container.LabelPool] == "" || ins.Config.Labels[container.LabelImage] != img {
		t.Fatalf("pooled container: running %v, labels %v", ins.State.Running, ins.Config.Labels)
	}
	if hc := ins.HostConfig; hc.Memory != container.DefaultLimits.MemoryBytes || !hc.ReadonlyRootfs ||
		!slices.Equal(hc.CapDrop, []string{"ALL"}) {
		t.Errorf("pooled container not created as a function's: memory %d, read-only %v, cap drop %v",
			hc.Memory, hc.ReadonlyRootfs, hc.CapDrop)
	}

	spec := n.spec("container:" + img)
	inst := n.start(t, spec)
	info := inst.Info()
	if !info.PoolHit || info.CreateDuration != 0 || info.ContainerID != pooled[0] || info.BootDuration <= 0 || info.InitDuration <= 0 {
		t.Fatalf("Info() = %+v; want a pool hit in container %s, no create step", info, pooled[0])
	}
	// Whatever its name now, the taken container is the instance's, not
	// the pool's.
	if ids, err := containertest.InstanceContainersOf(t.Context(), c, n.rt, n.id); err != nil || !slices.Contains(ids, pooled[0]) {
		t.Errorf("InstanceContainersOf right after the hit = %v, %v; want it to hold %s", ids, err, pooled[0])
	}
	// Renamed after the instance in the background; until then Info gives
	// the name the engine knows.
	if !strings.HasPrefix(info.ContainerName, container.PoolNamePrefix) && info.ContainerName != container.ContainerNamePrefix+inst.ID().FunctionID {
		t.Errorf("container name right after Start = %q, want its pool name or the instance's", info.ContainerName)
	}
	for want, t0 := container.ContainerNamePrefix+inst.ID().FunctionID, time.Now(); ; time.Sleep(5 * time.Millisecond) {
		name, engine := inst.Info().ContainerName, inspect(t, c, pooled[0]).Name
		if name == want && engine == "/"+want {
			break
		}
		if time.Since(t0) > 30*time.Second {
			t.Fatalf("container name = %q (engine: %q), want %q", name, engine, want)
		}
	}
	if s := n.rt.PoolStats(); s.Hits != 1 || s.Misses != 0 {
		t.Errorf("stats after the hit = %+v, want 1 hit, 0 misses", s)
	}
	// The function booted with this instance's id: the host identifies
	// its container by address (Slf), accepts it as the originator of
	// its casts, and it demands the instance's secret.
	wantReply(t, "self", call(t, inst, n.sinkID(), "self"), inst.ID().NodeID+" "+inst.ID().FunctionID)
	wantReply(t, "echo", call(t, inst, n.sinkID(), "hello"), "hello")
	call(t, inst, n.sinkID(), "recast output from-the-pool")
	if ev := n.next(t); ev.src != inst.ID() || string(ev.msg) != "from-the-pool" {
		t.Fatalf("sink got %q from %v, want from-the-pool from %v", ev.msg, ev.src, inst.ID())
	}
	_, err := rawClient(info.Endpoint).Call(t.Context(), &edgelessapi.InputEventData{Src: pid(n.sinkID()), Msg: []byte("x")})
	wantCode(t, "call without the instance's secret", err, connect.CodePermissionDenied)

	// Refilled with a new container; the taken one is not pooled again.
	waitPool(t, n.rt, "a refill", idle(1))
	now := pooledContainers(t, c, n.id)
	if len(now) != 2 || !slices.Contains(now, pooled[0]) {
		t.Fatalf("pool-labelled containers after refill = %v, want the taken %s and one new", now, pooled[0])
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContainerInspect(t.Context(), pooled[0], client.ContainerInspectOptions{}); err == nil {
		t.Errorf("the taken container %s is still there after its instance stopped", pooled[0])
	}
	if s := n.rt.PoolStats(); s.Idle != 1 {
		t.Errorf("idle after the instance stopped = %d, want 1 (never returned)", s.Idle)
	}
}

// TestPool_MissThenHistory: without operator images, the first Start of
// an image misses; the pool then keeps that image warm, and the next Start
// with the same parameters hits. An instance with another memory limit
// misses.
func TestPool_MissThenHistory(t *testing.T) {
	t.Parallel()
	n, img, c := poolNode(t, container.Prewarm{})
	if s := n.rt.PoolStats(); s.Idle+s.Warming != 0 {
		t.Fatalf("pool without images or history = %+v, want empty", s)
	}
	first := n.start(t, n.spec("container:"+img))
	if info := first.Info(); info.PoolHit || info.CreateDuration <= 0 {
		t.Fatalf("first start: PoolHit %v, create %v; want a miss that created its container", info.PoolHit, info.CreateDuration)
	}
	waitPool(t, n.rt, "the recent image warm", idle(1))

	// Another memory limit is another key: a miss, and the idle container
	// stays.
	spec := n.spec("container:" + img)
	spec.Annotations[container.AnnotationMemory] = "64MiB"
	other := n.start(t, spec)
	if info := other.Info(); info.PoolHit {
		t.Fatal("a start with another memory limit took the pooled container")
	}
	if hc := inspect(t, c, other.Info().ContainerID).HostConfig; hc.Memory != 64<<20 {
		t.Fatalf("memory = %d, want 64MiB", hc.Memory)
	}
	// Both keys are recent now: each gets one.
	waitPool(t, n.rt, "both keys warm", idle(2))

	second := n.start(t, n.spec("container:"+img))
	if !second.Info().PoolHit {
		t.Fatal("second start of the recent image missed")
	}
	wantReply(t, "second", call(t, second, n.sinkID(), "self"), second.ID().NodeID+" "+second.ID().FunctionID)
	if s := n.rt.PoolStats(); s.Hits != 1 || s.Misses != 2 {
		t.Errorf("stats = %+v, want 1 hit, 2 misses", s)
	}
}

// TestPool_Exhaustion: more Starts at once than the pool holds: one hits,
// the rest create their own containers, and all work.
func TestPool_Exhaustion(t *testing.T) {
	t.Parallel()
	n, img, _ := poolNode(t, container.Prewarm{Images: []string{""}, History: -1})
	waitPool(t, n.rt, "one idle container", idle(1))
	const starts = 3
	errs := make(chan error, starts)
	insts := make(chan contract.Instance, starts)
	for range starts {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			inst, err := n.rt.Start(ctx, n.spec("container:"+img))
			if err == nil {
				insts <- inst
			}
			errs <- err
		}()
	}
	hits := 0
	for range starts {
		if err := <-errs; err != nil {
			t.Error(err)
			continue
		}
		inst := <-insts
		t.Cleanup(func() { inst.Stop(context.Background()) })
		if inst.Info().PoolHit {
			hits++
		}
		wantReply(t, "self", call(t, inst, n.sinkID(), "self"), inst.ID().NodeID+" "+inst.ID().FunctionID)
	}
	if s := n.rt.PoolStats(); hits != 1 || s.Hits != 1 || s.Misses != starts-1 {
		t.Errorf("hits = %d, stats %+v; want 1 hit and %d misses", hits, s, starts-1)
	}
	waitPool(t, n.rt, "a refill", idle(1))
}

// TestPool_IdleContainerKilled: a pooled container that dies while idle
// is dropped, removed and replaced.
func TestPool_IdleContainerKilled(t *testing.T) {
	t.Parallel()
	n, img, c := poolNode(t, container.Prewarm{Images: []string{""}})
	waitPool(t, n.rt, "one idle container", idle(1))
	victim := pooledContainers(t, c, n.id)
	if len(victim) != 1 {
		t.Fatalf("pooled = %v, want 1", victim)
	}
	if _, err := c.ContainerKill(t.Context(), victim[0], client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatal(err)
	}
	waitPool(t, n.rt, "a replacement", func(s container.PoolStats) bool { return s.Died == 1 && s.Idle == 1 && s.Warming == 0 })
	now := pooledContainers(t, c, n.id)
	if len(now) != 1 || now[0] == victim[0] {
		t.Fatalf("pooled after the kill = %v, want one other than %s", now, victim[0])
	}
	inst := n.start(t, n.spec("container:"+img))
	if info := inst.Info(); !info.PoolHit || info.ContainerID != now[0] {
		t.Fatalf("start after the replacement: hit %v in %s, want a hit in %s", info.PoolHit, info.ContainerID, now[0])
	}
}

// TestPool_CloseAndReconcile: Close removes idle pooled containers (and
// the newTestNode cleanup checks that nothing is left); a node that died
// with pooled containers has them removed by the next runtime's
// reconciler; Reconcile on a live runtime leaves its pool and the
// instance in a taken container alone.
func TestPool_CloseAndReconcile(t *testing.T) {
	t.Parallel()
	c := containertest.RequireDocker(t)
	img := containertest.BuildExampleImage(t)
	n, _, _ := poolNode(t, container.Prewarm{Images: []string{img}, Size: 2, History: -1})
	waitPool(t, n.rt, "two idle containers", idle(2))
	inst := n.start(t, n.spec("container:"+img))
	waitPool(t, n.rt, "a refill", idle(2))
	if removed, err := n.rt.Reconcile(t.Context()); err != nil || removed != 0 {
		t.Fatalf("Reconcile on the live runtime = %d, %v; want 0", removed, err)
	}
	wantReply(t, "after Reconcile", call(t, inst, n.sinkID(), "self"), inst.ID().NodeID+" "+inst.ID().FunctionID)
	if s := n.rt.PoolStats(); s.Idle != 2 {
		t.Fatalf("idle after Reconcile = %d, want 2", s.Idle)
	}

	// A second runtime of the same node id, as after a crash, reaps the
	// first one's pooled containers (its pool is off).
	pooled := pooledContainers(t, c, n.id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt2, err := container.New(ctx, container.Config{NodeID: n.id, GuestAPIHostURL: n.hostURL, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer rt2.Close(ctx)
	for _, id := range pooled {
		if _, err := c.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{}); err == nil {
			t.Errorf("pooled container %s survived the new runtime's reconciler", id)
		}
	}

	// A separate pool, closed: nothing of it is left.
	n2, _, _ := poolNode(t, container.Prewarm{Images: []string{img}, Size: 2, History: -1})
	waitPool(t, n2.rt, "two idle containers", idle(2))
	if err := n2.rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantNoContainers(t, c, n2.id)
	if _, err := n2.rt.Start(ctx, n2.spec("container:"+img)); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}

// TestPool_Bounds: the count and memory bounds hold over operator images
// and history, operator images first, at every moment of the fill (the
// pool's books and the engine's list of pool-labelled containers are
// sampled from the node's creation until a while after it is full).
func TestPool_Bounds(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, p container.Prewarm, bound int) {
		n, _, c := poolNode(t, p)
		full := time.Time{}
		var samples int
		for t0 := time.Now(); ; samples++ {
			s := n.rt.PoolStats()
			if s.Idle+s.Warming > bound {
				t.Fatalf("pool = %+v, want %d containers at most", s, bound)
			}
			if ids := pooledContainers(t, c, n.id); len(ids) > bound {
				t.Fatalf("pool-labelled containers = %v, want %d at most (stats %+v)", ids, bound, s)
			}
			if full.IsZero() && s.Idle == bound && s.Warming == 0 {
				full = time.Now()
			}
			if !full.IsZero() && time.Since(full) > time.Second {
				break
			}
			if time.Since(t0) > time.Minute {
				t.Fatalf("pool never got %d idle containers: %+v", bound, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if s := n.rt.PoolStats(); s.Idle != bound || s.FillFailures != 0 {
			t.Fatalf("pool after the fill = %+v, want %d idle", s, bound)
		}
		t.Logf("%d samples, bound %d held", samples, bound)
	}
	t.Run("count", func(t *testing.T) {
		check(t, container.Prewarm{Images: []string{""}, Size: 3, MaxContainers: 2}, 2)
	})
	t.Run("memory", func(t *testing.T) {
		// 256 MiB each by default; a bound of 300 MiB holds one.
		check(t, container.Prewarm{Images: []string{""}, Size: 3, MaxMemoryBytes: 300 << 20}, 1)
	})
}

// TestPool_PoisonedHit: an idle pooled container that someone else booted
// first (here the test, with its own secret and instance id, as any host
// process that reaches the bridge could) makes the Start that takes it
// fail at Boot; the Start removes it and succeeds in a new container of
// its own, counted as a miss and a discard.
func TestPool_PoisonedHit(t *testing.T) {
	t.Parallel()
	n, img, c := poolNode(t, container.Prewarm{Images: []string{""}, History: -1})
	waitPool(t, n.rt, "one idle container", idle(1))
	pooled := pooledContainers(t, c, n.id)
	if len(pooled) != 1 {
		t.Fatalf("pooled containers = %v, want 1", pooled)
	}
	ep := inspect(t, c, pooled[0]).NetworkSettings.Networks[n.rt.Network().Name]
	if ep == nil || !ep.IPAddress.IsValid() {
		t.Fatalf("pooled container %s has no address on %s", pooled[0], n.rt.Network().Name)
	}
	url := "http://" + netip.AddrPortFrom(ep.IPAddress, container.DefaultFunctionPort).String()
	withSecret := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set(container.SecretHeader, "not-the-nodes")
			return next(ctx, req)
		}
	})
	other := edgelessapiconnect.NewGuestAPIFunctionClient(transporttest.Client(), url, connect.WithGRPC(), connect.WithInterceptors(withSecret))
	// The node's own GuestAPIHost refuses a container no instance owns,
	// so the intruder gives the function a host of its own (any gRPC
	// server the container reaches: here on the node network's gateway).
	hu, err := neturl.Parse(n.hostURL)
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", net.JoinHostPort(hu.Hostname(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	intruderHost := grpc.NewServer()
	go intruderHost.Serve(hln)
	t.Cleanup(intruderHost.Stop)
	if _, err := other.Boot(t.Context(), &edgelessapi.BootData{GuestApiHostEndpoint: "http://" + hln.Addr().String(), InstanceId: pid(n.newID())}); err != nil {
		t.Fatalf("pre-Boot of the idle container: %v", err)
	}

	inst := n.start(t, n.spec("container:"+img))
	info := inst.Info()
	if info.PoolHit || info.ContainerID == pooled[0] || info.CreateDuration <= 0 {
		t.Fatalf("Info() = %+v; want a start in a new container (not %s)", info, pooled[0])
	}
	wantReply(t, "self", call(t, inst, n.sinkID(), "self"), inst.ID().NodeID+" "+inst.ID().FunctionID)
	if _, err := c.ContainerInspect(t.Context(), pooled[0], client.ContainerInspectOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("the pre-booted container %s: inspect = %v, want it removed", pooled[0], err)
	}
	if s := n.rt.PoolStats(); s.Hits != 0 || s.Misses != 1 || s.Discarded != 1 {
		t.Errorf("stats = %+v, want 0 hits, 1 miss, 1 discarded", s)
	}
	// Counted once the pool has refilled: a container it is creating is
	// on the engine a moment before the pool knows its id.
	waitPool(t, n.rt, "one idle container again", idle(1))
	if ids, err := containertest.InstanceContainersOf(t.Context(), c, n.rt, n.id); err != nil || len(ids) != 1 || ids[0] != info.ContainerID {
		t.Errorf("instance containers = %v, %v; want only %s", ids, err, info.ContainerID)
	}
}

// TestPool_RefusedStartTakesNothing: a Start that cannot register (its
// id is live, or the runtime is closed) leaves the idle container alone.
func TestPool_RefusedStartTakesNothing(t *testing.T) {
	t.Parallel()
	n, img, _ := poolNode(t, container.Prewarm{Images: []string{""}, Size: 2, History: -1})
	waitPool(t, n.rt, "two idle containers", idle(2))
	spec := n.spec("container:" + img)
	inst := n.start(t, spec)
	if !inst.Info().PoolHit {
		t.Fatal("first start missed")
	}
	waitPool(t, n.rt, "a refill", idle(2))
	before := n.rt.PoolContainers()
	slices.Sort(before)
	if _, err := n.rt.Start(t.Context(), spec); !errors.Is(err, contract.ErrDuplicateInstance) {
		t.Fatalf("second Start of %s = %v, want ErrDuplicateInstance", spec.ID, err)
	}
	after := n.rt.PoolContainers()
	slices.Sort(after)
	if s := n.rt.PoolStats(); s.Hits != 1 || s.Misses != 0 || s.Idle != 2 || !slices.Equal(before, after) {
		t.Fatalf("after the duplicate Start: stats %+v, pool %v (before %v); want it untouched", s, after, before)
	}
}

// TestPool_NoGoroutineLeft: a pool that filled, lost an idle container,
// refilled, served a hit and was closed leaves no goroutine behind (the
// readiness probe runs in the filler; not parallel, so that other tests'
// goroutines do not count).
func TestPool_NoGoroutineLeft(t *testing.T) {
	containertest.RequireDocker(t)
	img := containertest.BuildExampleImage(t)
	before := runtime.NumGoroutine()
	t.Run("pool", func(t *testing.T) {
		n, _, c := poolNode(t, container.Prewarm{Images: []string{img}, History: -1})
		waitPool(t, n.rt, "one idle container", idle(1))
		if _, err := c.ContainerKill(t.Context(), pooledContainers(t, c, n.id)[0], client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
			t.Fatal(err)
		}
		waitPool(t, n.rt, "a replacement", func(s container.PoolStats) bool { return s.Died == 1 && s.Idle == 1 && s.Warming == 0 })
		inst := n.start(t, n.spec("container:"+img))
		wantReply(t, "self", call(t, inst, n.sinkID(), "self"), inst.ID().NodeID+" "+inst.ID().FunctionID)
	})
	var now int
	for t0 := time.Now(); time.Since(t0) < 10*time.Second; time.Sleep(20 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now <= before {
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Fatalf("goroutines: %d before, %d after Close\n%s", before, now, buf[:runtime.Stack(buf, true)])
}

// TestPool_MissingImage: an operator's prewarm image that is not on the
// engine (never pulled) is a failed fill, counted and retried after a
// backoff; it leaves no container, and the pool keeps serving the other
// images.
func TestPool_MissingImage(t *testing.T) {
	t.Parallel()
	missing := "edgeless-no-such-image-" + strings.ToLower(t.Name()) + ":absent"
	n, img, c := poolNode(t, container.Prewarm{Images: []string{missing, ""}, History: -1})
	s := waitPool(t, n.rt, "a failed fill and one idle container", func(s container.PoolStats) bool {
		return s.FillFailures >= 1 && s.Idle == 1
	})
	if pooled := pooledContainers(t, c, n.id); len(pooled) > 1 {
		t.Errorf("pooled containers = %v (stats %+v), want only the example image's", pooled, s)
	}
	inst := n.start(t, n.spec("container:"+img))
	if info := inst.Info(); !info.PoolHit {
		t.Errorf("Start of %s: PoolHit false (stats %+v), want a hit beside the missing image", img, n.rt.PoolStats())
	}
	if _, err := n.rt.Start(t.Context(), n.spec("container:"+missing)); !errors.Is(err, container.ErrImageNotFound) {
		t.Errorf("Start of the missing image = %v, want ErrImageNotFound", err)
	}
}
