package container_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
)

var socketBins struct {
	once            sync.Once
	example, fakefn []byte
	dockerfile      []byte
	err             error
}

// buildSocketBinaries builds, once, the example function from this
// tree's SDK and testdata/fakefn: the shared example image may be rebuilt
// from another tree while the tests run.
func buildSocketBinaries(t testing.TB) {
	t.Helper()
	containertest.RequireDocker(t)
	socketBins.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				socketBins.err = fmt.Errorf("%v", r)
			}
		}()
		tmpl := filepath.Join("..", "..", "function-template")
		socketBins.example = containertest.BuildStaticBinary(t, tmpl, "./cmd/example")
		socketBins.fakefn = containertest.BuildStaticBinary(t, ".", "./testdata/fakefn")
		socketBins.dockerfile, socketBins.err = os.ReadFile(filepath.Join(tmpl, "Dockerfile"))
	})
	if socketBins.err != nil {
		t.Fatalf("build: %v", socketBins.err)
	}
}

// socketExampleImage builds the example function image of this tree under
// a tag of the test's own, removed at the end of the test.
func socketExampleImage(t testing.TB) string {
	t.Helper()
	buildSocketBinaries(t)
	tag := "edgeless-uds-example-" + uuid.NewString()[:8] + ":dev"
	// (A label of its own makes the image's id its own: removing two tags
	// of one image at once fails in the engine.)
	dockerfile := fmt.Appendf(append([]byte(nil), socketBins.dockerfile...), "\nLABEL edgeless.test=%q\n", tag)
	containertest.BuildImage(t, tag, map[string][]byte{"Dockerfile": dockerfile, "function": socketBins.example})
	t.Cleanup(func() { containertest.RemoveImage(t, tag) })
	return tag
}

// guestProbeImage builds a fakefn image that runs "guestprobe NODE FN".
func guestProbeImage(t *testing.T, nodeID, fnID string) string {
	t.Helper()
	buildSocketBinaries(t)
	tag := "edgeless-uds-guestprobe-" + uuid.NewString()[:8] + ":dev"
	containertest.BuildImage(t, tag, map[string][]byte{
		"Dockerfile": fmt.Appendf(nil, "FROM scratch\nCOPY fakefn /fakefn\nEXPOSE 7101\nENTRYPOINT [\"/fakefn\"]\nCMD [\"guestprobe\", %q, %q]\n", nodeID, fnID),
		"fakefn":     socketBins.fakefn,
	})
	t.Cleanup(func() { containertest.RemoveImage(t, tag) })
	return tag
}

// socketDirs returns the container directories under root.
func socketDirs(t *testing.T, root string) []string {
	t.Helper()
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatalf("read %s: %v", root, err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// wantMode fails unless path has permissions mode.
func wantMode(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != mode {
		t.Errorf("mode of %s = %v, want %v", path, got, mode)
	}
}

// TestGuestSockets_Transports runs an instance of the Go SDK's example
// function with guest sockets on (it uses them: calls, and host calls
// over host.sock), off, on but unusable (the function socket is gone
// before the container starts: the function logs it and both sides use
// TCP), and on with PublishPort. Every start leaves nothing on disk after Stop, and Close removes
// the socket root.
func TestGuestSockets_Transports(t *testing.T) {
	t.Parallel()
	img := socketExampleImage(t)
	for _, tt := range []struct {
		name       string
		mode       string
		unusable   bool
		wantSocket bool
		publish    bool
	}{
		{"auto", "", false, true, false},
		{"off", container.GuestSocketsOff, false, false, false},
		{"unusable", "", true, false, false},
		{"publish", "", false, true, true}, // the bridge address is probed, not docker-proxy's port
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := newTestNode(t, nodeOptions{docker: true, cfg: func(c *container.Config) { c.GuestSockets, c.PublishPort = tt.mode, tt.publish }})
			root := container.GuestSocketRoot(n.rt)
			if (root != "") != (tt.mode != container.GuestSocketsOff) {
				t.Fatalf("socket root = %q with guest_sockets %q", root, tt.mode)
			}
			if tt.unusable {
				container.SetGuestSocketHook(n.rt, func(dir string) {
					if err := os.Remove(filepath.Join(dir, "function.sock")); err != nil {
						t.Error(err)
					}
				})
			}
			if root != "" {
				wantMode(t, root, 0o700)
			}
			before := n.rt.GuestSocketInstances()
			spec := n.spec("container:" + img)
			inst := n.start(t, spec)
			if got := n.rt.GuestSocketInstances() - before; (got == 1) != tt.wantSocket {
				t.Fatalf("instances on guest sockets: +%d, want socket use %v", got, tt.wantSocket)
			}
			if root != "" {
				dirs := socketDirs(t, root)
				if len(dirs) != 1 {
					t.Fatalf("socket dirs = %v, want one", dirs)
				}
				wantMode(t, filepath.Join(root, dirs[0]), 0o755)
				wantMode(t, filepath.Join(root, dirs[0], "host.sock"), 0o666)
			}
			wantReply(t, "Call(echo)", call(t, inst, n.sinkID(), "hello"), "hello")
			hostReqs := container.HostSocketRequests(n.rt)
			wantReply(t, "Call(recast)", call(t, inst, n.sinkID(), "recast output via host"), "ok")
			if got := container.HostSocketRequests(n.rt) - hostReqs; (got > 0) != tt.wantSocket {
				t.Errorf("host requests on host.sock during the recast: %d, want some %v", got, tt.wantSocket)
			}
			ev := n.next(t)
			if ev.src != inst.ID() || string(ev.msg) != "via host" {
				t.Fatalf("sink got %+v, want the recast from %v", ev, inst.ID())
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := inst.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if root != "" {
				if dirs := socketDirs(t, root); len(dirs) != 0 {
					t.Errorf("socket dirs after Stop = %v, want none", dirs)
				}
			}
			if err := n.rt.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if root != "" {
				if _, err := os.Stat(root); !os.IsNotExist(err) {
					t.Errorf("socket root after Close: %v, want it gone", err)
				}
			}
		})
	}
}

// TestGuestSockets_Confined: a container cannot create, replace or remove
// files in its guest socket directory (a read-only mount), and a request
// on its host socket acts as its own instance only, whatever originator it
// names (PERMISSION_DENIED, counted); Slf there answers its own id.
func TestGuestSockets_Confined(t *testing.T) {
	t.Parallel()
	img := socketExampleImage(t)
	container.SkipUnlessEngineSharesFiles(t)
	n := newTestNode(t, nodeOptions{docker: true, cfg: func(c *container.Config) { c.GuestSocketDir = t.TempDir() }})
	other := n.start(t, n.spec("container:"+img))
	probe := n.spec("container:" + guestProbeImage(t, other.ID().NodeID, other.ID().FunctionID))
	refused := n.rt.RefusedCallers()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := n.rt.Start(ctx, probe)
	be, ok := errorsAs[*container.BootError](err)
	if !ok || !be.Exited {
		t.Fatalf("Start = %v, want a BootError for the probe's exit", err)
	}
	got := strings.Join(be.LastLogs, "\n")
	for _, w := range []string{
		`guest sockets: "` + container.GuestSocketsMount + `"`,
		"create file: open " + container.GuestSocketsMount + "/x: read-only file system",
		"remove host.sock: remove " + container.GuestSocketsMount + "/host.sock: read-only file system",
		"replace host.sock: rename " + container.GuestSocketsMount + "/function.sock " + container.GuestSocketsMount + "/host.sock: read-only file system",
		"listen: listen unix " + container.GuestSocketsMount + "/mine.sock: bind: read-only file system",
		"cast as another: PermissionDenied",
		"slf: " + probe.ID.FunctionID + " OK",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("probe output = %q, want a line %q", got, w)
		}
	}
	if n.rt.RefusedCallers() == refused {
		t.Error("the spoofed cast was not counted as a refused caller")
	}
	select {
	case ev := <-n.sink:
		t.Errorf("sink got %+v from a spoofed cast", ev)
	default:
	}
}

// TestGuestSockets_Pool: a pooled container gets its sockets at create;
// the Start that takes it uses them, and its directory goes with it.
func TestGuestSockets_Pool(t *testing.T) {
	t.Parallel()
	img := socketExampleImage(t)
	container.SkipUnlessEngineSharesFiles(t)
	n := newTestNode(t, nodeOptions{docker: true, cfg: func(c *container.Config) {
		c.Prewarm = container.Prewarm{Enabled: true, Images: []string{img}, History: -1}
		c.GuestSocketDir = t.TempDir()
	}})
	root := container.GuestSocketRoot(n.rt)
	waitPool(t, n.rt, "an idle container", idle(1))
	if dirs := socketDirs(t, root); len(dirs) != 1 {
		t.Fatalf("socket dirs with one pooled container = %v, want one", dirs)
	}
	before := n.rt.GuestSocketInstances()
	inst := n.start(t, n.spec("container:"+img))
	if !inst.Info().PoolHit {
		t.Fatal("not a pool hit")
	}
	if got := n.rt.GuestSocketInstances() - before; got != 1 {
		t.Fatalf("instances on guest sockets: +%d, want 1", got)
	}
	hostReqs := container.HostSocketRequests(n.rt)
	wantReply(t, "Call(recast)", call(t, inst, n.sinkID(), "recast output pooled"), "ok")
	if container.HostSocketRequests(n.rt) == hostReqs {
		t.Error("the recast's host call did not come in on host.sock")
	}
	if ev := n.next(t); ev.src != inst.ID() || string(ev.msg) != "pooled" {
		t.Fatalf("sink got %+v, want the recast from %v", ev, inst.ID())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := inst.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("socket root after Close: %v, want it gone", err)
	}
}
