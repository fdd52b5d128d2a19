package container_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moby/moby/api/pkg/stdcopy"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/containertest"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// TestNetwork_EnsureConcurrent creates a network from several goroutines
// at once, as nodes starting together do: the engine (API 1.41) may create
// two of the same name, and every caller must end up with the same one.
// Not parallel: creating and removing a network makes the engine rewrite
// its isolation rules, and TestContainer_ForeignContainerCannotReachFunction
// must not run in that window.
func TestNetwork_EnsureConcurrent(t *testing.T) {
	c := containertest.RequireDocker(t)
	name := "edgeless-test-" + uuid.NewString()[:8]
	t.Cleanup(func() {
		res, err := c.NetworkList(context.Background(), client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
		if err != nil {
			t.Errorf("list networks: %v", err)
			return
		}
		for _, n := range res.Items {
			if n.Name == name {
				if _, err := c.NetworkRemove(context.Background(), n.ID, client.NetworkRemoveOptions{}); err != nil {
					t.Errorf("remove network %s: %v", n.ID, err)
				}
			}
		}
	})
	const callers = 4
	got := make([]container.Network, callers)
	var wg sync.WaitGroup
	for k := range callers {
		wg.Go(func() {
			n, err := container.EnsureNetwork(t.Context(), name)
			if err != nil {
				t.Errorf("EnsureNetwork #%d: %v", k, err)
			}
			got[k] = n
		})
	}
	wg.Wait()
	for k, n := range got {
		if n.ID != got[0].ID || !n.Gateway.IsValid() {
			t.Errorf("EnsureNetwork #%d = %+v, want %+v", k, n, got[0])
		}
	}
	res, err := c.NetworkList(t.Context(), client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("networks named %s = %d, want 1", name, len(res.Items))
	}
	ins, err := c.NetworkInspect(t.Context(), res.Items[0].ID, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ins.Network.Options["com.docker.network.bridge.enable_icc"] != "false" || ins.Network.Labels[container.LabelNetwork] == "" {
		t.Errorf("network options %v, labels %v; want enable_icc=false and the %s label", ins.Network.Options, ins.Network.Labels, container.LabelNetwork)
	}
}

// TestContainer_ForeignContainerCannotReachFunction runs containers that
// the node did not start, on Docker's default bridge and on the function
// network itself, and has them dial a function's port: they must fail,
// while the node's GuestAPIHost server (the control) answers them.
func TestContainer_ForeignContainerCannotReachFunction(t *testing.T) {
	t.Parallel()
	buildFakeImages(t)
	n, img, c := dockerNode(t, nil)
	inst := n.start(t, n.spec("container:"+img))
	fn, err := url.Parse(inst.Info().Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	host, err := url.Parse(n.hostURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, net := range []string{"bridge", container.DefaultNetwork} {
		t.Run(net, func(t *testing.T) {
			if code := runForeign(t, c, n.id, net, "dial", host.Host); code != 0 {
				t.Fatalf("foreign container on %s: dial the node's host API %s = exit %d, want 0 (the control)", net, host.Host, code)
			}
			if code := runForeign(t, c, n.id, net, "dial", fn.Host); code == 0 {
				t.Errorf("foreign container on %s: dial function %s = exit 0, want it refused", net, fn.Host)
			}
		})
	}
	// The function still serves its node.
	wantReply(t, "Call(hello)", call(t, inst, n.sinkID(), "hello"), "hello")
	// A foreign container that reaches the node's host API is refused
	// before its request's body (over the payload limit here, so the read
	// limit would answer otherwise) is read: its connection is closed at
	// accept, and counted.
	before := n.rt.RefusedCallers()
	castURL := n.hostURL + edgelessapiconnect.GuestAPIHostCastProcedure
	// (fakefn exits 1 on any HTTP answer but 403, 0 when the server closed
	// the connection without one; 2 for any other failure, which is what a
	// fakefn built from an older tree, under the shared image tag, says for
	// a closed connection too: the counter tells that apart.)
	if code := runForeign(t, c, n.id, "bridge", "post", castURL, strconv.Itoa(transport.DefaultPayloadMaxBytes+1)); code != 0 && code != 2 {
		t.Errorf("foreign container: POST Cast to the node's host API = exit %d, want 0 (closed without an answer)", code)
	}
	if got := n.rt.RefusedCallers(); got <= before {
		t.Errorf("RefusedCallers = %d after a foreign container's POST, want more than %d", got, before)
	}
}

// runForeign runs the fake function image with args on network net, as a
// container the runtime does not track (labelled with nodeID only so that
// the test's cleanup finds it), and returns its exit code.
func runForeign(t *testing.T, c *client.Client, nodeID, net string, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "edgeless-test-foreign-" + uuid.NewString()[:8],
		Config: &dcontainer.Config{Image: probeImage, Cmd: args,
			Labels: map[string]string{container.LabelNodeID: nodeID}},
		HostConfig: &dcontainer.HostConfig{NetworkMode: dcontainer.NetworkMode(net)},
	})
	if err != nil {
		t.Fatalf("create foreign container: %v", err)
	}
	defer func() {
		if _, err := c.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Errorf("remove foreign container: %v", err)
		}
	}()
	wait := c.ContainerWait(ctx, res.ID, client.ContainerWaitOptions{Condition: dcontainer.WaitConditionNextExit})
	if _, err := c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start foreign container: %v", err)
	}
	select {
	case r := <-wait.Result:
		if r.StatusCode != 0 {
			// Its output says why.
			if rc, err := c.ContainerLogs(ctx, res.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
				var out strings.Builder
				_, _ = stdcopy.StdCopy(&out, &out, rc)
				rc.Close()
				t.Logf("foreign container %v exited %d: %s", args, r.StatusCode, out.String())
			}
		}
		return int(r.StatusCode)
	case err := <-wait.Error:
		t.Fatalf("wait for foreign container: %v", err)
	}
	return -1
}
