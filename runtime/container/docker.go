package container

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Labels put on every container the runtime creates. The reconciler and the
// test helpers find a node's containers by LabelNodeID.
const (
	LabelNodeID        = "edgeless.node-id"
	LabelInstanceID    = "edgeless.instance-id"
	LabelFunctionClass = "edgeless.function-class"
	LabelImage         = "edgeless.image"
	LabelStarted       = "edgeless.started"
)

// ContainerNamePrefix starts the name of every container the runtime
// creates; the rest is the instance's function UUID.
const ContainerNamePrefix = "edgeless-"

// dockerTimeout bounds one Engine API request that does not wait for a
// container (create, start, inspect, kill, remove, list).
const dockerTimeout = 30 * time.Second

// containerAPI is the part of the Engine API the runtime uses.
type containerAPI interface {
	ImageInspect(ctx context.Context, image string, options ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ContainerStart(ctx context.Context, container string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerRename(ctx context.Context, container string, options client.ContainerRenameOptions) (client.ContainerRenameResult, error)
	ContainerKill(ctx context.Context, container string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
	ContainerRemove(ctx context.Context, container string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
	ContainerWait(ctx context.Context, container string, options client.ContainerWaitOptions) client.ContainerWaitResult
	ContainerLogs(ctx context.Context, container string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	NetworkInspect(ctx context.Context, network string, options client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	NetworkList(ctx context.Context, options client.NetworkListOptions) (client.NetworkListResult, error)
	NetworkCreate(ctx context.Context, name string, options client.NetworkCreateOptions) (client.NetworkCreateResult, error)
	NetworkRemove(ctx context.Context, network string, options client.NetworkRemoveOptions) (client.NetworkRemoveResult, error)
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	Close() error
}

var _ containerAPI = (*client.Client)(nil)

// newDockerClient connects to the engine at host (empty: DOCKER_HOST or
// the default socket), negotiating the API version, so engines older than
// the client (API 1.41) work.
func newDockerClient(host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return c, nil
}

// createParams is what createContainer needs.
type createParams struct {
	name    string
	image   string
	labels  map[string]string
	port    uint16
	publish bool // publish the port on 127.0.0.1
	limits  Limits
	network string // id of the network to join (its name may be ambiguous for a moment)
	// guestDir, if set, is the container's guest socket directory: it is
	// bind-mounted read-only at GuestSocketsMount and named by
	// EnvGuestSockets.
	guestDir string
	hardening
}

// goMaxProcs is the GOMAXPROCS of a container given nanoCPUs of CPU time
// (0: no limit, no value): the limit rounded up, at least 1.
//
// Go reads the container's CPU limit itself (Go 1.25 and later) but never
// goes below 2, and at the default limit of one CPU a function's second
// thread only hands each event between threads: in BenchmarkNode a
// function used about a third less CPU per event with GOMAXPROCS=1, and
// the node carried 1.4x the events/s. The value is set in the container's
// environment, which wins over the image's; a function that wants more
// threads asks for more CPUs (the AnnotationCPUs annotation). Programs not
// written in Go ignore it.
func goMaxProcs(nanoCPUs int64) int {
	if nanoCPUs <= 0 {
		return 0
	}
	return int((nanoCPUs + 1e9 - 1) / 1e9)
}

// createContainer creates (does not start) a function's container. A
// missing image gives ErrImageNotFound naming the image.
func createContainer(ctx context.Context, api containerAPI, p createParams) (string, error) {
	port, ok := network.PortFrom(p.port, network.TCP)
	if !ok {
		return "", fmt.Errorf("create container %s: bad port %d", p.name, p.port)
	}
	yes := true
	hc := &dcontainer.HostConfig{
		// docker-init (tini) as PID 1 forwards signals to the function and
		// reaps zombies.
		Init:        &yes,
		SecurityOpt: []string{"no-new-privileges"},
		Resources: dcontainer.Resources{
			Memory:   p.limits.MemoryBytes,
			NanoCPUs: p.limits.NanoCPUs,
		},
	}
	if p.limits.MemoryBytes > 0 {
		hc.MemorySwap = p.limits.MemoryBytes // no swap beyond the limit
	}
	if p.limits.PidsLimit > 0 {
		pids := p.limits.PidsLimit
		hc.PidsLimit = &pids
	}
	p.hardening.apply(hc, p.limits)
	if p.network != "" {
		hc.NetworkMode = dcontainer.NetworkMode(p.network)
	}
	var env []string
	if n := goMaxProcs(p.limits.NanoCPUs); n > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(n))
	}
	if p.guestDir != "" {
		hc.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: p.guestDir, Target: GuestSocketsMount, ReadOnly: true}}
		env = append(env, EnvGuestSockets+"="+GuestSocketsMount)
	}
	if p.publish {
		hc.PortBindings = network.PortMap{port: {{HostIP: netip.AddrFrom4([4]byte{127, 0, 0, 1})}}}
	}
	res, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: p.name,
		Config: &dcontainer.Config{
			Image:        p.image,
			Labels:       p.labels,
			Env:          env,
			ExposedPorts: network.PortSet{port: {}},
		},
		HostConfig: hc,
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("create container %s: %w: %s", p.name, ErrImageNotFound, p.image)
		}
		return "", fmt.Errorf("create container %s from image %s: %w", p.name, p.image, err)
	}
	return res.ID, nil
}

// checkImage makes sure the image is on the engine; it is never pulled.
func checkImage(ctx context.Context, api containerAPI, image string) error {
	if _, err := api.ImageInspect(ctx, image); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%w: %s", ErrImageNotFound, image)
		}
		return fmt.Errorf("inspect image %s: %w", image, err)
	}
	return nil
}

// containerEndpoint reads, from an inspect result, the address at which the
// function's port is reached: the container's bridge address, or the
// 127.0.0.1 port it is published on.
func containerEndpoint(ins dcontainer.InspectResponse, netName string, port uint16, publish bool) (ip netip.Addr, hostPort netip.AddrPort, err error) {
	ns := ins.NetworkSettings
	if ns == nil {
		return netip.Addr{}, netip.AddrPort{}, errors.New("no network settings")
	}
	if netName == "" {
		netName = "bridge"
	}
	if ep, ok := ns.Networks[netName]; ok && ep != nil && ep.IPAddress.IsValid() {
		ip = ep.IPAddress
	} else {
		for _, ep := range ns.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				ip = ep.IPAddress
				break
			}
		}
	}
	if !ip.IsValid() {
		return netip.Addr{}, netip.AddrPort{}, errors.New("container has no IP address")
	}
	if !publish {
		return ip, netip.AddrPortFrom(ip, port), nil
	}
	p, _ := network.PortFrom(port, network.TCP)
	for _, b := range ns.Ports[p] {
		if !b.HostIP.IsLoopback() {
			continue
		}
		n, err := strconv.ParseUint(b.HostPort, 10, 16)
		if err != nil {
			continue
		}
		return ip, netip.AddrPortFrom(b.HostIP, uint16(n)), nil
	}
	return netip.Addr{}, netip.AddrPort{}, fmt.Errorf("port %d is not published on 127.0.0.1", port)
}

// removeContainer force-removes a container; a container that is already
// gone is not an error. It returns nil only once the container is gone:
// if another removal is in progress (the engine answers Conflict), it
// waits for that one to end, within ctx.
func removeContainer(ctx context.Context, api containerAPI, id string) error {
	_, err := api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil || cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsConflict(err):
		res := api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: dcontainer.WaitConditionRemoved})
		select {
		case <-res.Result:
			return nil
		case werr := <-res.Error:
			if cerrdefs.IsNotFound(werr) {
				return nil
			}
			return fmt.Errorf("remove container %s: %w; waiting for that removal: %w", id, err, werr)
		}
	}
	return fmt.Errorf("remove container %s: %w", id, err)
}

// GatewayOf returns the IPv4 gateway of a Docker bridge network: the one
// in its IPAM configuration, else the address of its Linux bridge
// interface within the subnet (the default bridge often reports only its
// subnet), else the subnet's first address.
func GatewayOf(n network.Inspect) (netip.Addr, error) {
	var subnets []netip.Prefix
	for _, c := range n.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			return c.Gateway, nil
		}
		if c.Subnet.IsValid() && c.Subnet.Addr().Is4() {
			subnets = append(subnets, c.Subnet.Masked())
		}
	}
	if len(subnets) == 0 {
		return netip.Addr{}, fmt.Errorf("network %s has no IPv4 subnet", n.Name)
	}
	if name := n.Options["com.docker.network.bridge.name"]; name != "" {
		if ifc, err := net.InterfaceByName(name); err == nil {
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				p, err := netip.ParsePrefix(a.String())
				if err != nil {
					continue
				}
				for _, s := range subnets {
					if s.Contains(p.Addr()) {
						return p.Addr(), nil
					}
				}
			}
		}
	}
	return subnets[0].Addr().Next(), nil
}
