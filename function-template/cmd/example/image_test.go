package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/google/uuid"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// dockerClient returns a client of the local Docker engine (API version
// negotiated). Without an engine the test is skipped, or fails when
// EDGELESS_REQUIRE_DOCKER=1.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	}
	if err != nil {
		if os.Getenv("EDGELESS_REQUIRE_DOCKER") == "1" {
			t.Fatalf("no Docker engine answers, and EDGELESS_REQUIRE_DOCKER=1: %v", err)
		}
		t.Skipf("skipped: no Docker engine answers (set EDGELESS_REQUIRE_DOCKER=1 to fail instead): %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// buildImage builds the example image as the README says (a static binary
// and the Dockerfile in an otherwise empty context), through the Engine
// API, and tags it tag. t.Cleanup removes the tag.
func buildImage(t *testing.T, ctx context.Context, cli *client.Client, tag string) {
	t.Helper()
	dir := t.TempDir()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the image: %v", err)
	}
	build := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "function"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	binary, err := os.ReadFile(filepath.Join(dir, "function"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, dockerfile}, {"function", 0o755, binary}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := cli.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("build image %s: %v", tag, err)
	}
	defer res.Body.Close()
	var layers []string // the image and its parent layers, once built
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// Without Force: an identical image built by someone else keeps its
		// tags (only this tag goes). PruneChildren: once the image has no tag
		// left, its untagged parent layers go too instead of staying as
		// dangling "<none>" images.
		if _, err := cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			t.Errorf("remove image %s: %v", tag, err)
		}
		for _, id := range layers {
			if res, err := cli.ImageInspect(ctx, id); err == nil && len(res.RepoTags) == 0 {
				t.Errorf("image %s, a layer of %s, is left untagged after the test", id, tag)
			}
		}
	})
	dec := json.NewDecoder(res.Body)
	var log strings.Builder
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("build image %s: read progress: %v", tag, err)
		}
		log.WriteString(msg.Stream)
		if msg.Error != "" {
			t.Fatalf("build image %s: %s\n%s", tag, msg.Error, log.String())
		}
	}
	hist, err := cli.ImageHistory(ctx, tag)
	if err != nil {
		t.Fatalf("history of image %s: %v", tag, err)
	}
	for _, h := range hist.Items {
		if strings.HasPrefix(h.ID, "sha256:") {
			layers = append(layers, h.ID)
		}
	}
}

// bridgeGateway returns the host's address on Docker's default bridge,
// where containers reach the host.
func bridgeGateway(t *testing.T, ctx context.Context, cli *client.Client) netip.Addr {
	t.Helper()
	res, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		t.Fatalf("inspect network bridge: %v", err)
	}
	var subnet netip.Prefix
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			return c.Gateway
		}
		if c.Subnet.Addr().Is4() {
			subnet = c.Subnet
		}
	}
	// Engines that leave Gateway out: the bridge interface's own address.
	if ifi, err := net.InterfaceByName(res.Network.Options["com.docker.network.bridge.name"]); err == nil {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && ip.Is4() {
					return ip
				}
			}
		}
	}
	if subnet.IsValid() {
		return subnet.Masked().Addr().Next()
	}
	t.Fatalf("network bridge has no IPv4 gateway: %+v", res.Network.IPAM)
	return netip.Addr{}
}

// TestImage_Container builds the example image with the real Docker engine
// (no registry), runs it with its port published on 127.0.0.1, and drives
// Boot, Init, Cast, Call and Stop in the container against a fake node on
// the bridge gateway; docker stop then ends it with exit code 0 (SIGTERM
// handled, not SIGKILL).
func TestImage_Container(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cli := dockerClient(t)
	nodeID := uuid.NewString()
	tag := "edgeless-example-function:test-" + nodeID[:8]
	buildImage(t, ctx, cli, tag)

	gateway := bridgeGateway(t, ctx, cli)
	ln, err := net.Listen("tcp", netip.AddrPortFrom(gateway, 0).String())
	if err != nil {
		t.Fatalf("listen on the bridge gateway %s: %v", gateway, err)
	}
	host := guesttest.NewHostListener(t, ln)

	port := network.MustParsePort("7101/tcp")
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: "edgeless-template-test-" + nodeID,
		Config: &container.Config{
			Image:        tag,
			Labels:       map[string]string{"edgeless.node-id": nodeID},
			ExposedPorts: network.PortSet{port: {}},
		},
		HostConfig: &container.HostConfig{
			PortBindings: network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}},
		},
	})
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() { removeContainers(t, cli, nodeID) })
	if _, err := cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start container: %v", err)
	}
	inspect, err := cli.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect container: %v", err)
	}
	if u := inspect.Container.Config.User; u == "" || u == "0" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0:") {
		t.Errorf("container user = %q, want a non-root user", u)
	}
	bindings := inspect.Container.NetworkSettings.Ports[port]
	if len(bindings) == 0 {
		t.Fatalf("port %v is not published: %v", port, inspect.Container.NetworkSettings.Ports)
	}
	url := "http://127.0.0.1:" + bindings[0].HostPort
	c := guesttest.NewClient(t, "grpc", url)

	waitServing(t, ctx, url, cli, created.ID)
	boot := &edgelessapi.BootData{GuestApiHostEndpoint: host.URL, InstanceId: guesttest.NewID()}
	if _, err := c.Boot(ctx, boot); err != nil {
		t.Fatalf("Boot(%s) error = %v\n%s", host.URL, err, containerLogs(cli, created.ID))
	}
	if _, err := c.Init(ctx, &edgelessapi.FunctionInstanceInit{InitPayload: "cast-delay-ms=0"}); err != nil {
		t.Fatalf("Init() error = %v", err)
	}
	for _, protocol := range guesttest.Protocols {
		payload := []byte("hello from " + protocol + " \xff")
		res, err := guesttest.NewClient(t, protocol, url).Call(ctx, &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: payload})
		if err != nil || res.GetType() != edgelessapi.CallRetType_CALL_RET_REPLY || !bytes.Equal(res.GetMsg(), payload) {
			t.Errorf("%s Call(%q) = %v, %v, want the echo", protocol, payload, res, err)
		}
	}
	if _, err := c.Cast(ctx, &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte("ping")}); err != nil {
		t.Fatalf("Cast() error = %v", err)
	}
	got := host.Wait(t, 1)
	want := &edgelessapi.OutputEventData{Originator: boot.InstanceId, Alias: "output", Msg: []byte("ping")}
	if got[0].Method != "Cast" || !proto.Equal(got[0].Msg, want) {
		t.Errorf("host got %s %v from the container, want Cast %v", got[0].Method, got[0].Msg, want)
	}
	if _, err := c.Stop(ctx, &emptypb.Empty{}); err != nil {
		t.Fatalf("Stop() error = %v", err)
	}

	timeout := 10
	if _, err := cli.ContainerStop(ctx, created.ID, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
		t.Fatalf("stop container: %v", err)
	}
	inspect, err = cli.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect container: %v", err)
	}
	if code := inspect.Container.State.ExitCode; code != 0 {
		t.Errorf("exit code after docker stop = %d, want 0 (a clean exit on SIGTERM)\n%s", code, containerLogs(cli, created.ID))
	}
}

// waitServing waits until the function in the container answers HTTP at
// url. Docker's port proxy accepts connections before the process listens,
// and resets them until it does.
func waitServing(t *testing.T, ctx context.Context, url string, cli *client.Client, id string) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := hc.Do(req)
		if err == nil {
			res.Body.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the container never answered at %s: %v\n%s", url, err, containerLogs(cli, id))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// removeContainers removes every container labelled with nodeID.
func removeContainers(t *testing.T, cli *client.Client, nodeID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", "edgeless.node-id="+nodeID),
	})
	if err != nil {
		t.Errorf("list containers of %s: %v", nodeID, err)
		return
	}
	for _, c := range list.Items {
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Errorf("remove container %s: %v", c.ID, err)
		}
	}
}

// containerLogs returns the container's output, for failure messages.
func containerLogs(cli *client.Client, id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<16))
	return "container output:\n" + string(b)
}
