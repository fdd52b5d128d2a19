package dataplane

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// peer is another node's FunctionInvocation endpoint, reached with
// grpc-go's client: on this hot path (every event to another node) it costs
// fewer system calls than connect-go over net/http (README, benchmarks).
type peer struct {
	nodeID string
	url    string
	conn   *grpc.ClientConn
	client edgelessapi.FunctionInvocationClient // grpc-go stub, on conn
}

// AddPeer makes node nodeID reachable at invocationURL (UpdatePeers ADD),
// replacing any previous URL of that node. It does no I/O: the connection
// is made by the first send, so an unreachable peer never blocks the
// caller. http:// URLs are dialled as h2c, or with TLS when the data plane
// has a TLS client config, which https:// URLs need.
func (d *Dataplane) AddPeer(nodeID, invocationURL string) error {
	id, err := uuid.Parse(nodeID)
	if err != nil {
		return fmt.Errorf("add peer %q: node id is not a UUID: %w", nodeID, err)
	}
	if err := d.cfg.Transport.CheckURL(invocationURL); err != nil {
		return fmt.Errorf("add peer %s: invocation %w", id, err)
	}
	p, err := d.newPeer(id.String(), invocationURL)
	if err != nil {
		return fmt.Errorf("add peer %s: %w", id, err)
	}
	d.mu.Lock()
	old := d.peers[p.nodeID]
	d.peers[p.nodeID] = p
	d.mu.Unlock()
	if old != nil {
		old.close()
	}
	d.log.Info("peer added", "peer", p.nodeID, "url", invocationURL)
	return nil
}

func (d *Dataplane) newPeer(nodeID, invocationURL string) (*peer, error) {
	conn, err := d.cfg.Transport.NewGRPCConn(invocationURL, d.cfg.MaxPayloadBytes)
	if err != nil {
		return nil, err
	}
	return &peer{nodeID: nodeID, url: invocationURL, conn: conn, client: edgelessapi.NewFunctionInvocationClient(conn)}, nil
}

// close closes the peer's connection; sends still in flight on it fail
// (Canceled).
func (p *peer) close() { p.conn.Close() }

// DelPeer forgets node nodeID (UpdatePeers DEL); calls waiting for its
// instances fail at once with ErrUnknownPeer.
func (d *Dataplane) DelPeer(nodeID string) {
	id := canonUUID(nodeID)
	d.mu.Lock()
	p := d.peers[id]
	delete(d.peers, id)
	d.mu.Unlock()
	if p == nil {
		return
	}
	d.dropPeers(p)
}

// ClearPeers forgets every peer (UpdatePeers CLEAR, which upstream does not
// implement); calls waiting for their instances fail at once.
func (d *Dataplane) ClearPeers() {
	d.mu.Lock()
	ps := d.peers
	d.peers = make(map[string]*peer)
	d.mu.Unlock()
	for _, p := range ps {
		d.dropPeers(p)
	}
}

func (d *Dataplane) dropPeers(p *peer) {
	p.close()
	err := fmt.Errorf("peer %s removed: %w", p.nodeID, ErrUnknownPeer)
	n := d.pending.failWhere(func(_ pendingKey, dst contract.InstanceID) bool { return dst.NodeID == p.nodeID }, err)
	d.log.Info("peer removed", "peer", p.nodeID, "url", p.url, "failed_calls", n)
}

// Peers returns the known peers: node id to invocation URL.
func (d *Dataplane) Peers() map[string]string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	m := make(map[string]string, len(d.peers))
	for id, p := range d.peers {
		m[id] = p.url
	}
	return m
}

// sendRemote delivers ev to node nodeID within SendTimeout. The peer's
// NOT_FOUND and RESOURCE_EXHAUSTED answers come back as ErrUnknownInstance
// and ErrQueueFull, like their local counterparts; a send cut short because
// the peer was removed meanwhile, as ErrUnknownPeer.
func (d *Dataplane) sendRemote(ctx context.Context, nodeID string, ev *edgelessapi.Event) error {
	d.mu.RLock()
	p := d.peers[nodeID]
	d.mu.RUnlock()
	if p == nil {
		return fmt.Errorf("node %s: %w", nodeID, ErrUnknownPeer)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	defer cancel()
	if _, err := p.client.Handle(ctx, ev); err != nil {
		var sentinel error
		switch status.Code(err) {
		case codes.NotFound:
			sentinel = ErrUnknownInstance
		case codes.ResourceExhausted:
			sentinel = ErrQueueFull
		case codes.Canceled:
			if ctx.Err() == nil { // not our ctx: the peer was removed or replaced, closing its connection
				sentinel = ErrUnknownPeer
			}
		case codes.DeadlineExceeded:
			// The deadline passed, here or at the peer (which enforces the
			// grpc-timeout it was sent, possibly a moment before our
			// timer): callers check it with errors.Is, and grpc-go's status
			// errors do not wrap the ctx's error.
			sentinel = context.DeadlineExceeded
		}
		if sentinel == nil && ctx.Err() != nil {
			sentinel = ctx.Err()
		}
		if sentinel != nil {
			return fmt.Errorf("send to node %s at %s: %w: %w", nodeID, p.url, sentinel, err)
		}
		return fmt.Errorf("send to node %s at %s: %w", nodeID, p.url, err)
	}
	return nil
}
