package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

// nodeStatus is where a registered node is in being added.
type nodeStatus string

const (
	// nodeAdding: the node is registered; Reset has not answered yet.
	nodeAdding nodeStatus = "adding"
	// nodeReady: the node was Reset and may host instances.
	nodeReady nodeStatus = "ready"
	// nodeFailed: Reset failed; it is retried at the node's next update.
	nodeFailed nodeStatus = "failed"
)

// node is a registered node. Fields other than the immutable ones are
// guarded by Orchestrator.mu.
type node struct {
	// Immutable after add.
	id            string
	agentURL      string
	invocationURL string
	nonce         uint64
	incarnation   uint64
	client        agentClient
	ops           *opQueue
	registeredAt  time.Time
	// stopWatch ends the watch of the node's exits.
	stopWatch context.CancelFunc

	caps      *edgelessapi.NodeCapabilities
	providers []string
	// resources are the node's resource providers as announced.
	resources []*edgelessapi.ResourceProviderSpecification
	// health is the last health status the node sent.
	health   *edgelessapi.NodeHealthStatus
	deadline time.Time
	lastSeen time.Time
	status   nodeStatus
	lastErr  string
}

// checkUpdate validates an UpdateNodeRequest.
func checkUpdate(req *edgelessapi.UpdateNodeRequest, now time.Time) error {
	if _, err := uuid.Parse(req.GetNodeId()); err != nil {
		return fmt.Errorf("node_id %q is not a UUID", req.GetNodeId())
	}
	for _, u := range []struct{ name, v string }{{"agent_url", req.GetAgentUrl()}, {"invocation_url", req.GetInvocationUrl()}} {
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s %q: want http://<host>:<port>", u.name, u.v)
		}
	}
	if d := time.Unix(int64(req.GetRefreshDeadline()), 0); !d.After(now) {
		return fmt.Errorf("refresh_deadline %d (%s) is not in the future (now %s): is the node's clock wrong?",
			req.GetRefreshDeadline(), d.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	for _, p := range req.GetResourceProviders() {
		if p.GetProviderId() == "" {
			return errors.New("resource provider with an empty provider_id")
		}
	}
	return nil
}

// UpdateNode handles one registration update (upstream's node_register):
// unknown node -> add; same nonce -> refresh; new nonce or new URLs -> remove
// and add again. It never calls the node: agent calls go to the node's
// queue.
func (o *Orchestrator) UpdateNode(req *edgelessapi.UpdateNodeRequest) error {
	now := time.Now()
	if err := checkUpdate(req, now); err != nil {
		return err
	}
	deadline := time.Unix(int64(req.GetRefreshDeadline()), 0)
	var providers []string
	for _, p := range req.GetResourceProviders() {
		providers = append(providers, p.GetProviderId())
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ctx.Err() != nil {
		return errors.New("the orchestrator is shutting down")
	}
	o.recordLogsLocked(req.GetPerformanceSamples())
	n, known := o.nodes[req.GetNodeId()]
	if known && n.nonce == req.GetNonce() && n.agentURL == req.GetAgentUrl() && n.invocationURL == req.GetInvocationUrl() {
		n.deadline, n.lastSeen, n.caps, n.providers = deadline, now, req.GetCapabilities(), providers
		n.resources, n.health = req.GetResourceProviders(), req.GetHealthStatus()
		if n.status == nodeFailed {
			n.status = nodeAdding
			o.log.Info("retrying to add node", "node", n.id, "agent_url", n.agentURL)
			o.enqueueAddLocked(n)
		}
		return nil
	}
	if known {
		o.log.Info("node restarted or moved; removing it and adding it again", "node", n.id,
			"old_nonce", n.nonce, "new_nonce", req.GetNonce())
		o.delNodeLocked(n, "restarted (new nonce)")
	}
	o.incarnation++
	n = &node{
		id:            req.GetNodeId(),
		agentURL:      req.GetAgentUrl(),
		invocationURL: req.GetInvocationUrl(),
		nonce:         req.GetNonce(),
		incarnation:   o.incarnation,
		client:        newAgentClient(o.agentHTTP, req.GetAgentUrl()),
		ops:           newOpQueue(),
		registeredAt:  now,
		caps:          req.GetCapabilities(),
		providers:     providers,
		resources:     req.GetResourceProviders(),
		health:        req.GetHealthStatus(),
		deadline:      deadline,
		lastSeen:      now,
		status:        nodeAdding,
	}
	var watchCtx context.Context
	watchCtx, n.stopWatch = context.WithCancel(o.ctx)
	o.nodes[n.id] = n
	o.log.Info("node registered", "node", n.id, "agent_url", n.agentURL, "invocation_url", n.invocationURL,
		"runtimes", n.caps.GetRuntimes())
	o.wg.Go(func() { n.ops.run(o.ctx) })
	o.wg.Go(func() { o.watchExits(watchCtx, n) })
	o.enqueueAddLocked(n)
	for _, other := range o.nodes {
		if other != n {
			other.ops.push(o.updatePeerOp(other, edgelessapi.UpdatePeersRequestType_ADD, n.id, n.invocationURL))
		}
	}
	return nil
}

// enqueueAddLocked queues upstream's AddNode calls on n: Reset, then
// UpdatePeers ADD for itself and for every other node.
func (o *Orchestrator) enqueueAddLocked(n *node) {
	n.ops.push(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, o.cfg.StopTimeout)
		defer cancel()
		_, err := n.client.nm.Reset(ctx, &emptypb.Empty{})
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.nodes[n.id] != n {
			return
		}
		if err != nil {
			n.status, n.lastErr = nodeFailed, fmt.Sprintf("reset: %v", err)
			o.log.Warn("cannot reset new node; retrying at its next update", "node", n.id, "agent_url", n.agentURL, "err", err)
			return
		}
		n.status, n.lastErr = nodeReady, ""
		o.log.Info("node ready", "node", n.id)
		o.cond.Broadcast()
		o.retryWaitingLocked()
	})
	n.ops.push(o.updatePeerOp(n, edgelessapi.UpdatePeersRequestType_ADD, n.id, n.invocationURL))
	for _, other := range o.nodes {
		if other != n {
			n.ops.push(o.updatePeerOp(n, edgelessapi.UpdatePeersRequestType_ADD, other.id, other.invocationURL))
		}
	}
}

// updatePeerOp returns the op that tells target about peer.
func (o *Orchestrator) updatePeerOp(target *node, typ edgelessapi.UpdatePeersRequestType, peerID, invocationURL string) func(context.Context) {
	return func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, o.cfg.AgentTimeout)
		defer cancel()
		req := &edgelessapi.UpdatePeersRequest{RequestType: typ, NodeId: &peerID}
		if typ == edgelessapi.UpdatePeersRequestType_ADD {
			req.InvocationUrl = &invocationURL
		}
		if _, err := target.client.nm.UpdatePeers(ctx, req); err != nil {
			o.log.Warn("update peers", "node", target.id, "op", typ.String(), "peer", peerID, "err", err)
		}
	}
}

// delNodeLocked removes n (upstream's DelNode): its queue stops and every
// other node is told to drop it. Instances placed on n are gone with it:
// they are re-placed on the nodes that remain. why says what happened to
// the node.
func (o *Orchestrator) delNodeLocked(n *node, why string) {
	delete(o.nodes, n.id)
	n.ops.close()
	n.stopWatch()
	for _, other := range o.nodes {
		other.ops.push(o.updatePeerOp(other, edgelessapi.UpdatePeersRequestType_DEL, n.id, ""))
	}
	o.nodeLostLocked(n, why)
}

// Drain stops the sweeping of nodes that miss their refresh deadline (and
// so the re-placement of their instances). In-a-box calls it when it shuts
// down: its node stops first, taking its instances with it, and that is no
// node loss to heal or warn about.
func (o *Orchestrator) Drain() { o.draining.Store(true) }

// sweepGrace is how long past its refresh deadline a node is kept: the
// deadline is in whole seconds, and a busy node's update can be a little
// late; removing a live node stops its functions' traffic.
const sweepGrace = 2 * time.Second

// sweep removes the nodes whose refresh deadline has passed (by more than
// sweepGrace).
func (o *Orchestrator) sweep(now time.Time) {
	if o.draining.Load() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, n := range o.nodes {
		if now.After(n.deadline.Add(sweepGrace)) {
			o.log.Warn("node missed its refresh deadline; removing it", "node", n.id,
				"deadline", n.deadline.UTC().Format(time.RFC3339))
			o.delNodeLocked(n, "missed its refresh deadline "+n.deadline.UTC().Format(time.RFC3339))
		}
	}
}

// liveNode returns the node that hosts an instance placed on nodeID during
// the given incarnation, or nil when that node has gone (and the instance
// with it).
func (o *Orchestrator) liveNode(nodeID string, incarnation uint64) *node {
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := o.nodes[nodeID]; n != nil && n.incarnation == incarnation {
		return n
	}
	return nil
}

// WaitNodeReady waits until the node with this id is registered and ready
// to host instances, or ctx is done.
func (o *Orchestrator) WaitNodeReady(ctx context.Context, nodeID string) error {
	stop := context.AfterFunc(ctx, func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.cond.Broadcast()
	})
	defer stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		if n := o.nodes[nodeID]; n != nil && n.status == nodeReady {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("wait for node %s: %w", nodeID, err)
		}
		o.cond.Wait()
	}
}

// sortedNodesLocked returns the registered nodes ordered by id.
func (o *Orchestrator) sortedNodesLocked() []*node {
	ns := make([]*node, 0, len(o.nodes))
	for _, n := range o.nodes {
		ns = append(ns, n)
	}
	slices.SortFunc(ns, func(a, b *node) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return ns
}
