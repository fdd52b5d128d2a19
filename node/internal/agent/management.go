package agent

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

// UpdatePeers adds, removes or clears the node's data-plane peers. The node
// itself is never a peer: events to its own instances are delivered
// locally, so the orchestrator's ADD of this node is acknowledged and
// ignored.
func (a *Agent) UpdatePeers(ctx context.Context, req *edgelessapi.UpdatePeersRequest) (*emptypb.Empty, error) {
	dp := a.cfg.Dataplane
	switch req.GetRequestType() {
	case edgelessapi.UpdatePeersRequestType_ADD:
		nodeID, err := a.peerID(req)
		if err != nil {
			return nil, err
		}
		if req.InvocationUrl == nil || req.GetInvocationUrl() == "" {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("UpdatePeers ADD of node %s without invocation_url", contract.Shorten(nodeID)))
		}
		if nodeID == a.cfg.NodeID {
			a.log.Debug("UpdatePeers ADD of this node ignored: local events need no peer")
			return &emptypb.Empty{}, nil
		}
		if err := dp.AddPeer(nodeID, req.GetInvocationUrl()); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, err)
		}
		a.log.Info("peer added", "peer", nodeID, "invocation_url", req.GetInvocationUrl())
	case edgelessapi.UpdatePeersRequestType_DEL:
		nodeID, err := a.peerID(req)
		if err != nil {
			return nil, err
		}
		if nodeID != a.cfg.NodeID {
			dp.DelPeer(nodeID)
			a.log.Info("peer removed", "peer", nodeID)
		}
	case edgelessapi.UpdatePeersRequestType_CLEAR:
		dp.ClearPeers()
		a.log.Info("peers cleared")
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("unknown UpdatePeers request type %d", req.GetRequestType()))
	}
	return &emptypb.Empty{}, nil
}

func (a *Agent) peerID(req *edgelessapi.UpdatePeersRequest) (string, error) {
	if req.NodeId == nil {
		return "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("UpdatePeers %s without node_id", req.GetRequestType()))
	}
	u, err := uuid.Parse(req.GetNodeId())
	if err != nil {
		return "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("UpdatePeers %s: node_id %q is not a UUID", req.GetRequestType(), contract.Shorten(req.GetNodeId())))
	}
	return u.String(), nil
}

// Reset stops every function and resource instance. The orchestrator sends
// it when the node (re)joins.
func (a *Agent) Reset(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	n := len(a.all())
	if err := a.StopAll(ctx); err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("reset: %w", err))
	}
	var r int
	if a.cfg.Resources != nil {
		r = a.cfg.Resources.StopAll()
	}
	a.log.Info("reset: every instance stopped", "instances", n, "resources", r)
	return &emptypb.Empty{}, nil
}

// resourceConfiguration answers ResourceConfiguration when the node has no
// resource providers (Config.Resources is nil).
type resourceConfiguration struct{ a *Agent }

// Start answers a ResponseError: there is no provider for any class type.
func (r resourceConfiguration) Start(_ context.Context, req *edgelessapi.ResourceInstanceSpecification) (*edgelessapi.StartComponentResponse, error) {
	return &edgelessapi.StartComponentResponse{ResponseError: &edgelessapi.ResponseError{
		Summary: "Error when creating a resource instance",
		Detail:  ptr(fmt.Sprintf("this node has no resource providers; cannot create a resource of class type %q", req.GetResourceClassType())),
	}}, nil
}

// Stop answers NOT_FOUND: no resource instance exists.
func (r resourceConfiguration) Stop(_ context.Context, req *edgelessapi.InstanceIdVariant) (*emptypb.Empty, error) {
	return nil, connect.NewError(connect.CodeNotFound, errors.New("this node has no resource providers, hence no resource instance "+req.GetInstanceId().GetFunctionId()))
}

// Patch answers NOT_FOUND: no resource instance exists.
func (r resourceConfiguration) Patch(_ context.Context, req *edgelessapi.PatchRequest) (*emptypb.Empty, error) {
	return nil, connect.NewError(connect.CodeNotFound, errors.New("this node has no resource providers, hence no resource instance "+req.GetFunctionId()))
}

func ptr[T any](v T) *T { return &v }
