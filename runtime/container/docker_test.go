package container_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Images of the broken test function (testdata/fakefn), built once.
const (
	exitImage  = "edgeless-runtime-test-exit:dev"
	hangImage  = "edgeless-runtime-test-hang:dev"
	oomImage   = "edgeless-runtime-test-oom:dev"
	probeImage = "edgeless-runtime-test-probe:dev"
	// stubbornImage answers Stop but exits neither on it nor on SIGTERM
	// (as upstream's Rust template under a process that ignores SIGTERM);
	// stubbornStopHangsImage does not answer Stop either.
	stubbornImage          = "edgeless-runtime-test-stubborn:dev"
	stubbornStopHangsImage = "edgeless-runtime-test-stubborn-stop-hangs:dev"
)

var fakeImages struct {
	once sync.Once
	err  error
}

// buildFakeImages builds the images of testdata/fakefn.
func buildFakeImages(t *testing.T) {
	t.Helper()
	containertest.RequireDocker(t)
	fakeImages.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				fakeImages.err = fmt.Errorf("%v", r)
			}
		}()
		bin := containertest.BuildStaticBinary(t, ".", "./testdata/fakefn")
		for tag, cmd := range map[string]string{exitImage: `["exit", "3"]`, hangImage: `["hang"]`, oomImage: `["oom"]`, probeImage: `["probe"]`,
			stubbornImage: `["stubborn"]`, stubbornStopHangsImage: `["stubborn-stop-hangs"]`} {
			containertest.BuildImage(t, tag, map[string][]byte{
				"Dockerfile": fmt.Appendf(nil, "FROM scratch\nCOPY fakefn /fakefn\nEXPOSE 7101\nENTRYPOINT [\"/fakefn\"]\nCMD %s\n", cmd),
				"fakefn":     bin,
			})
		}
	})
	if fakeImages.err != nil {
		t.Fatalf("build fake images: %v", fakeImages.err)
	}
}

// dockerNode is a test node with Docker and the example image.
func dockerNode(t testing.TB, cfg func(*container.Config)) (*testNode, string, *client.Client) {
	t.Helper()
	c := containertest.RequireDocker(t)
	img := containertest.BuildExampleImage(t)
	return newTestNode(t, nodeOptions{docker: true, cfg: cfg}), img, c
}

// wantNoContainers fails if any container of the node is left.
func wantNoContainers(t *testing.T, c *client.Client, nodeID string) {
	t.Helper()
	ids, err := containertest.NodeContainers(context.Background(), c, nodeID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 0 {
		t.Fatalf("%d container(s) of node %s left: %v", len(ids), nodeID, ids)
	}
}

func inspect(t *testing.T, c *client.Client, id string) dcontainer.InspectResponse {
	t.Helper()
	res, err := c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return res.Container
}

func TestContainer_Lifecycle(t *testing.T) {
	t.Parallel()
	for _, publish := range []bool{false, true} {
		t.Run(fmt.Sprintf("publish=%v", publish), func(t *testing.T) {
			t.Parallel()
			n, img, c := dockerNode(t, func(cfg *container.Config) {
				cfg.PublishPort = publish
				cfg.Defaults = container.Limits{MemoryBytes: 256 << 20, PidsLimit: 100}
				// Shorter than an HTTP/2 server's wait for its clients to
				// close idle connections (1 s): the function must still exit
				// by itself, because Stop closes the node's connection.
				cfg.StopGrace = 500 * time.Millisecond
			})
			spec := n.spec("container:" + img)
			spec.ClassID = "lifecycle"
			spec.InitPayload = "cast-delay-ms=0"
			spec.State = []byte("saved state")
			spec.Annotations = map[string]string{container.AnnotationMemory: "64MiB", container.AnnotationCPUs: "0.5"}
			inst := n.start(t, spec)
			info := inst.Info()
			if info.State != contract.StateRunning || info.ContainerID == "" ||
				info.ContainerName != "edgeless-"+inst.ID().FunctionID || info.Image != img {
				t.Fatalf("Info() = %+v, want running, container edgeless-%s from %s", info, inst.ID().FunctionID, img)
			}

			if info.ImageDuration <= 0 || info.CreateDuration <= 0 || info.BootDuration <= 0 || info.InitDuration <= 0 {
				t.Errorf("Info() steps = image %v, create %v, boot %v, init %v; want each measured",
					info.ImageDuration, info.CreateDuration, info.BootDuration, info.InitDuration)
			}

			ins := inspect(t, c, info.ContainerID)
			wantLabels := map[string]string{
				container.LabelNodeID: n.id, container.LabelInstanceID: inst.ID().FunctionID,
				container.LabelFunctionClass: "lifecycle", container.LabelImage: img,
			}
			for k, v := range wantLabels {
				if got := ins.Config.Labels[k]; got != v {
					t.Errorf("label %s = %q, want %q", k, got, v)
				}
			}
			if ins.Config.Labels[container.LabelStarted] == "" {
				t.Errorf("label %s missing", container.LabelStarted)
			}
			hc := ins.HostConfig
			if hc.Init == nil || !*hc.Init {
				t.Error("container runs without an init process")
			}
			if !strings.Contains(strings.Join(hc.SecurityOpt, ","), "no-new-privileges") {
				t.Errorf("SecurityOpt = %v, want no-new-privileges", hc.SecurityOpt)
			}
			if hc.Memory != 64<<20 || hc.NanoCPUs != 5e8 || hc.PidsLimit == nil || *hc.PidsLimit != 100 {
				t.Errorf("limits = memory %d, cpus %d, pids %v; want 64MiB, 0.5, 100", hc.Memory, hc.NanoCPUs, hc.PidsLimit)
			}
			if !slices.Contains(ins.Config.Env, "GOMAXPROCS=1") {
				t.Errorf("Env = %q, want GOMAXPROCS=1 (0.5 CPUs)", ins.Config.Env)
			}
			if hc.PublishAllPorts {
				t.Error("PublishAllPorts is set")
			}
			for port, bs := range ins.NetworkSettings.Ports {
				for _, b := range bs {
					if !publish || !b.HostIP.IsLoopback() {
						t.Errorf("port %v published on %v:%s", port, b.HostIP, b.HostPort)
					}
				}
			}

			src := n.sinkID()
			wantReply(t, "Call(hello)", call(t, inst, src, "hello"), "hello")
			wantReply(t, "Call(state)", call(t, inst, src, "state"), "saved state")
			wantReply(t, "Call(self)", call(t, inst, src, "self"), inst.ID().NodeID+" "+inst.ID().FunctionID)
			wantReply(t, "Call(sync)", call(t, inst, src, "sync next"), "ok")
			if got := n.host(inst.ID()).syncedState(); string(got) != "next" {
				t.Errorf("synced state = %q, want next", got)
			}
			if err := inst.Cast(t.Context(), src, []byte("cast me")); err != nil {
				t.Fatalf("Cast: %v", err)
			}
			if ev := n.next(t); string(ev.msg) != "cast me" || ev.src != inst.ID() {
				t.Fatalf("sink got %q from %v, want %q from %v", ev.msg, ev.src, "cast me", inst.ID())
			}
			wantReply(t, "Call(delayed)", call(t, inst, src, "delayed 20 output later"), "ok")
			if ev := n.next(t); string(ev.msg) != "later" {
				t.Fatalf("sink got %q, want later", ev.msg)
			}

			// The function's output reached the instance's log.
			if logs := inst.Logs(); len(logs) == 0 || logs[0].Stream == "" || logs[0].Time.IsZero() {
				t.Errorf("Logs() = %+v, want the container's output lines", logs)
			}

			if err := inst.Stop(t.Context()); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			if err := inst.Stop(t.Context()); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
			if !loggedLine(inst.Logs(), `msg="shut down"`) {
				t.Errorf("Logs() after Stop = %+v, want the function's own clean exit (\"shut down\") before SIGKILL", inst.Logs())
			}
			if _, err := c.ContainerInspect(t.Context(), info.ContainerID, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
				t.Fatalf("container after Stop: inspect err = %v, want not found", err)
			}
			wantNoContainers(t, c, n.id)
		})
	}
}

func TestContainer_MissingImage(t *testing.T) {
	t.Parallel()
	n, _, c := dockerNode(t, nil)
	img := "edgeless-no-such-image-" + n.id[:8] + ":none"
	_, err := n.rt.Start(t.Context(), n.spec("container:"+img))
	if !errors.Is(err, container.ErrImageNotFound) || !strings.Contains(err.Error(), img) {
		t.Fatalf("Start = %v, want ErrImageNotFound naming %s", err, img)
	}
	wantNoContainers(t, c, n.id)
}

func TestContainer_ExitsAtOnce(t *testing.T) {
	t.Parallel()
	buildFakeImages(t)
	n, _, c := dockerNode(t, nil)
	_, err := n.rt.Start(t.Context(), n.spec("container:"+exitImage))
	be, ok := errorsAs[*container.BootError](err)
	if !ok || !be.Exited || be.ExitCode != 3 {
		t.Fatalf("Start = %v, want a BootError with exit code 3", err)
	}
	if !strings.Contains(strings.Join(be.LastLogs, "\n"), "fatal: cannot start") {
		t.Fatalf("BootError.LastLogs = %q, want the container's last output", be.LastLogs)
	}
	if strings.Contains(err.Error(), "not booted within") {
		t.Fatalf("Start waited for the boot deadline: %v", err)
	}
	wantNoContainers(t, c, n.id)
}

func TestContainer_OOMKilledWhileBooting(t *testing.T) {
	t.Parallel()
	buildFakeImages(t)
	n, _, c := dockerNode(t, nil)
	spec := n.spec("container:" + oomImage)
	spec.Annotations = map[string]string{container.AnnotationMemory: "16MiB"}
	_, err := n.rt.Start(t.Context(), spec)
	be, ok := errorsAs[*container.BootError](err)
	if !ok || be.Reason != "oom-killed" {
		t.Fatalf("Start = %v, want a BootError with reason oom-killed", err)
	}
	wantNoContainers(t, c, n.id)
}

func TestContainer_BootDeadline(t *testing.T) {
	t.Parallel()
	buildFakeImages(t)
	n, _, c := dockerNode(t, func(cfg *container.Config) { cfg.BootTimeout = 1500 * time.Millisecond })
	_, err := n.rt.Start(t.Context(), n.spec("container:"+hangImage))
	if be, ok := errorsAs[*container.BootError](err); !ok || be.Exited || !strings.Contains(err.Error(), "not booted within") {
		t.Fatalf("Start = %v, want a BootError for the deadline", err)
	}
	wantNoContainers(t, c, n.id)
}

func TestContainer_KilledMidCall(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, nil)
	exits := make(chan contract.ExitInfo, 1)
	spec := n.spec("container:" + img)
	spec.OnExit = func(e contract.ExitInfo) { exits <- e }
	inst := n.start(t, spec)

	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := inst.Call(context.Background(), n.sinkID(), []byte("sleep 60000"))
		done <- result{err, time.Now()}
	}()
	time.Sleep(100 * time.Millisecond) // let the call reach the function
	killed := time.Now()
	if _, err := c.ContainerKill(t.Context(), inst.Info().ContainerID, client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		t.Fatalf("docker kill: %v", err)
	}
	select {
	case r := <-done:
		ee, ok := errorsAs[*container.ExitError](r.err)
		if !ok || ee.Info.Reason != "killed" {
			t.Fatalf("pending Call: err = %v, want an ExitError with reason killed", r.err)
		}
		t.Logf("pending call failed %v after docker kill", r.at.Sub(killed))
	case <-time.After(10 * time.Second):
		t.Fatal("pending Call still blocked 10s after docker kill")
	}
	select {
	case e := <-exits:
		if e.ID != inst.ID() || e.Reason != "killed" || e.ExitCode != 137 {
			t.Fatalf("OnExit(%+v), want %v killed with 137", e, inst.ID())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnExit not called")
	}
	if _, err := inst.Call(t.Context(), n.sinkID(), []byte("x")); err == nil {
		t.Fatal("Call after the container died succeeded")
	} else if _, ok := errorsAs[*container.ExitError](err); !ok {
		t.Fatalf("Call after death: err = %v, want an ExitError", err)
	}
	if st := inst.Info().State; st != contract.StateExited {
		t.Fatalf("state = %q, want exited", st)
	}
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop after death: %v", err)
	}
	wantNoContainers(t, c, n.id)
}

func TestContainer_ExitCommand(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, nil)
	exits := make(chan contract.ExitInfo, 1)
	spec := n.spec("container:" + img)
	spec.OnExit = func(e contract.ExitInfo) { exits <- e }
	inst := n.start(t, spec)
	if _, err := inst.Call(t.Context(), n.sinkID(), []byte("exit 7")); err == nil {
		t.Fatal("Call(exit 7) succeeded")
	}
	select {
	case e := <-exits:
		if e.Reason != "exited" || e.ExitCode != 7 {
			t.Fatalf("OnExit(%+v), want exited with 7", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnExit not called")
	}
	wantNoContainers(t, c, n.id)
}

func TestContainer_StopDuringLongCall(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, nil)
	inst := n.start(t, n.spec("container:"+img))
	done := make(chan error, 1)
	go func() {
		_, err := inst.Call(context.Background(), n.sinkID(), []byte("sleep 60000"))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := inst.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, contract.ErrInstanceStopped) {
			t.Fatalf("long Call across Stop = %v, want ErrInstanceStopped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long Call still blocked after Stop returned")
	}
	wantNoContainers(t, c, n.id)
}

func TestContainer_ConcurrentStarts(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, nil)
	const count = 20
	insts := make([]contract.Instance, count)
	var wg sync.WaitGroup
	for k := range count {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			inst, err := n.rt.Start(ctx, n.spec("container:"+img))
			if err != nil {
				t.Errorf("Start #%d: %v", k, err)
				return
			}
			insts[k] = inst
			msg := fmt.Sprintf("instance %d", k)
			if r, err := inst.Call(ctx, n.sinkID(), []byte(msg)); err != nil || string(r.Msg) != msg {
				t.Errorf("Call #%d = %q, %v; want %q", k, r.Msg, err, msg)
			}
		})
	}
	wg.Wait()
	for _, inst := range insts {
		if inst == nil {
			continue
		}
		wg.Go(func() {
			if err := inst.Stop(context.Background()); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	wg.Wait()
	wantNoContainers(t, c, n.id)
}

// A Start abandoned at any point (its ctx ends during create, start or
// boot) removes what it created.
func TestContainer_StartCancelled(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, nil)
	for _, after := range []time.Duration{0, 5 * time.Millisecond, 15 * time.Millisecond, 40 * time.Millisecond, 150 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(t.Context(), after)
		inst, err := n.rt.Start(ctx, n.spec("container:"+img))
		cancel()
		if err == nil {
			// Fast enough to finish: stop it like any instance.
			if err := inst.Stop(t.Context()); err != nil {
				t.Fatalf("Stop: %v", err)
			}
		}
		wantNoContainers(t, c, n.id)
	}
}

func TestContainer_ReconcileLeftovers(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, nil)
	// The first runtime starts two instances, then is dropped without
	// cleanup (as if the node crashed).
	var insts []contract.Instance
	for range 2 {
		inst, err := n.rt.Start(t.Context(), n.spec("container:"+img))
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, inst)
	}
	// A container that never started is a leftover too.
	leftover := func() {
		if _, err := c.ContainerCreate(t.Context(), client.ContainerCreateOptions{
			Config: &dcontainer.Config{Image: img, Labels: map[string]string{container.LabelNodeID: n.id}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	leftover()
	// A live runtime's reconciler removes only what it does not track.
	if removed, err := n.rt.Reconcile(t.Context()); err != nil || removed != 1 {
		t.Fatalf("Reconcile = %d, %v; want 1 (the untracked container)", removed, err)
	}
	for _, inst := range insts {
		wantReply(t, "Call after Reconcile", call(t, inst, n.sinkID(), "still here"), "still here")
	}
	leftover()
	// Another node's container is not ours to remove.
	other := containertest.NewNodeID()
	containertest.CleanupNode(t, other)
	if _, err := c.ContainerCreate(t.Context(), client.ContainerCreateOptions{
		Config: &dcontainer.Config{Image: img, Labels: map[string]string{container.LabelNodeID: other}},
	}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := containertest.NodeContainers(t.Context(), c, n.id); len(ids) != 3 {
		t.Fatalf("node has %d containers before the restart, want 3", len(ids))
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rt2, err := container.New(ctx, container.Config{NodeID: n.id, GuestAPIHostURL: n.hostURL, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer rt2.Close(ctx)
	wantNoContainers(t, c, n.id)
	if ids, _ := containertest.NodeContainers(t.Context(), c, other); len(ids) != 1 {
		t.Fatalf("the reconciler touched another node's container: %d left, want 1", len(ids))
	}
}

func TestContainer_SpoofedOriginator(t *testing.T) {
	t.Parallel()
	n, img, _ := dockerNode(t, nil)
	a := n.start(t, n.spec("container:"+img))
	b := n.start(t, n.spec("container:"+img))
	n.link(b.ID(), "a", a.ID())
	// The test process is not a's container: it may not act as a.
	for name, hc := range hostClients(t, n.hostURL) {
		_, err := hc.Cast(t.Context(), &edgelessapi.OutputEventData{Originator: pid(a.ID()), Alias: "output", Msg: []byte("spoof")})
		wantCode(t, name+" Cast as a", err, connect.CodePermissionDenied)
		_, err = hc.Sync(t.Context(), &edgelessapi.SyncData{Originator: pid(a.ID()), SerializedState: []byte("evil")})
		wantCode(t, name+" Sync as a", err, connect.CodePermissionDenied)
	}
	if got := n.host(a.ID()).syncedState(); got != nil {
		t.Fatalf("a's state = %q after a spoofed Sync", got)
	}
	// Each container is still itself.
	wantReply(t, "a self", call(t, a, n.sinkID(), "self"), a.ID().NodeID+" "+a.ID().FunctionID)
	wantReply(t, "b self", call(t, b, n.sinkID(), "self"), b.ID().NodeID+" "+b.ID().FunctionID)
}

func TestContainer_NonUTF8AndNested(t *testing.T) {
	t.Parallel()
	n, img, _ := dockerNode(t, nil)
	a := n.start(t, n.spec("container:"+img))
	b := n.start(t, n.spec("container:"+img))
	n.link(a.ID(), "b", b.ID())
	n.link(b.ID(), "a", a.ID())
	bin := []byte{0xff, 0x00, 0xfe, 'z', 0x80}
	r, err := a.Call(t.Context(), n.sinkID(), bin)
	if err != nil || !bytes.Equal(r.Msg, bin) {
		t.Fatalf("Call(% x) = % x, %v; want the same bytes", bin, r.Msg, err)
	}
	if err := a.Cast(t.Context(), n.sinkID(), bin); err != nil {
		t.Fatal(err)
	}
	if ev := n.next(t); !bytes.Equal(ev.msg, bin) {
		t.Fatalf("sink got % x, want % x", ev.msg, bin)
	}
	// A -> B -> A, with binary payloads.
	r, err = a.Call(t.Context(), n.sinkID(), append([]byte("recall b recall a "), bin...))
	if err != nil || !bytes.Equal(r.Msg, bin) {
		t.Fatalf("A->B->A = % x, %v; want % x", r.Msg, err, bin)
	}
}

// loggedLine reports whether one of the lines contains text.
func loggedLine(lines []contract.LogLine, text string) bool {
	for _, l := range lines {
		if strings.Contains(l.Text, text) {
			return true
		}
	}
	return false
}

// A failed Init is reported with the function's own message, said once:
// no RPC code, no repeated "Init".
func TestContainer_InitFailureSaysItOnce(t *testing.T) {
	t.Parallel()
	n, img, c := dockerNode(t, nil)
	spec := n.spec("container:" + img)
	spec.InitPayload = "cast-delay-ms=abc"
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	inst, err := n.rt.Start(ctx, spec)
	if err == nil {
		_ = inst.Stop(ctx)
		t.Fatal("Start with a bad init payload succeeded")
	}
	const want = `init: init payload option cast-delay-ms="abc": want a non-negative integer of milliseconds`
	if got, want := err.Error(), "start instance "+spec.ID.FunctionID+": "+want; got != want {
		t.Errorf("Start() = %q, want %q", got, want)
	}
	wantNoContainers(t, c, n.id)
}
