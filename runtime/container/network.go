package container

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// DefaultNetwork is the Docker network function containers join unless
// Config.Network names another. It is shared by every node on the host
// (Docker's default address pools hold only about 30 networks) and never
// removed by the runtime.
const DefaultNetwork = "edgeless"

// LabelNetwork marks a network created by the runtime.
const LabelNetwork = "edgeless.network"

// iccOption is the bridge driver's option that lets containers on the
// network reach each other; the runtime creates its network with it off.
const iccOption = "com.docker.network.bridge.enable_icc"

// Network is the Docker network the containers of a runtime join.
type Network struct {
	// Name and ID are the network's.
	Name, ID string
	// Gateway is the host's address on the network: where the GuestAPIHost
	// server must listen for containers to reach it.
	Gateway netip.Addr
}

// EnsureNetwork returns the Docker network name, creating it if it does not
// exist: a bridge labelled LabelNetwork on which containers cannot reach
// each other (enable_icc=false), so that a function reaches only its node.
// An existing network that lets containers reach each other is refused.
// Nodes starting at the same time on the engine agree on one network even
// though the engine (before API 1.44) may create two of the same name.
func EnsureNetwork(ctx context.Context, name string) (Network, error) {
	c, err := newDockerClient("")
	if err != nil {
		return Network{}, err
	}
	defer c.Close()
	return ensureNetwork(ctx, c, name)
}

func ensureNetwork(ctx context.Context, api containerAPI, name string) (Network, error) {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	n, err := findNetwork(ctx, api, name)
	if errors.Is(err, errNoNetwork) {
		res, cerr := api.NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver:  "bridge",
			Options: map[string]string{iccOption: "false"},
			Labels:  map[string]string{LabelNetwork: "shared"},
		})
		if cerr != nil && !cerrdefs.IsConflict(cerr) {
			return Network{}, fmt.Errorf("create network %s: %w", name, cerr)
		}
		if cerr == nil {
			// Another node may be creating one too: let its create
			// finish, so that both see both and agree on the winner.
			select {
			case <-time.After(networkSettle):
			case <-ctx.Done():
			}
		}
		n, err = findNetwork(ctx, api, name)
		if err == nil && cerr == nil && n.ID != res.ID {
			// Another node created one at the same time, and the engine
			// kept both: the older one wins; remove ours (nothing uses it
			// yet).
			if _, rerr := api.NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{}); rerr != nil && !cerrdefs.IsNotFound(rerr) {
				return Network{}, fmt.Errorf("remove duplicate network %s: %w", name, rerr)
			}
		}
	}
	if err != nil {
		return Network{}, err
	}
	if n.Driver != "bridge" || n.Options[iccOption] != "false" {
		return Network{}, fmt.Errorf("network %s (driver %s) lets containers reach each other: want a bridge with %s=false; remove it or name another network",
			name, n.Driver, iccOption)
	}
	res, err := api.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{})
	if err != nil {
		return Network{}, fmt.Errorf("inspect network %s: %w", name, err)
	}
	gw, err := GatewayOf(res.Network)
	if err != nil {
		return Network{}, err
	}
	return Network{Name: name, ID: n.ID, Gateway: gw}, nil
}

var errNoNetwork = errors.New("no such network")

// networkSettle is how long a node that created the network waits before
// it looks for a twin created at the same time (once per host).
const networkSettle = time.Second

// findNetwork returns the network called name; of several (created at the
// same time), the oldest, then the smallest id, so every node picks the
// same one.
func findNetwork(ctx context.Context, api containerAPI, name string) (network.Summary, error) {
	res, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		return network.Summary{}, fmt.Errorf("list networks: %w", err)
	}
	var found []network.Summary
	for _, n := range res.Items {
		if n.Name == name { // the filter matches substrings
			found = append(found, n)
		}
	}
	if len(found) == 0 {
		return network.Summary{}, fmt.Errorf("network %s: %w", name, errNoNetwork)
	}
	sort.Slice(found, func(a, b int) bool {
		ta, tb := found[a].Created, found[b].Created
		if !ta.Equal(tb) {
			return ta.Before(tb)
		}
		return found[a].ID < found[b].ID
	})
	return found[0], nil
}
