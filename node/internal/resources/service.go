package resources

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Service serves ResourceConfiguration with a Manager.
type Service struct{ M *Manager }

var _ edgelessapiconnect.ResourceConfigurationHandler = Service{}

// The summaries upstream's node answers with.
const (
	summaryCreate  = "Error when creating a resource"
	summaryInvalid = "Invalid resource configuration"
)

// Start creates a resource instance; a class no provider offers or a
// refused configuration is a ResponseError, as upstream answers.
func (s Service) Start(ctx context.Context, req *edgelessapi.ResourceInstanceSpecification) (*edgelessapi.StartComponentResponse, error) {
	id, err := s.M.Start(ctx, Spec{
		ClassType:     req.GetResourceClassType(),
		Configuration: req.GetConfiguration(),
		WorkflowID:    req.GetWorkflowId(),
	})
	if err != nil {
		summary := summaryCreate
		if errors.Is(err, ErrConfiguration) {
			summary = summaryInvalid
		}
		detail := err.Error()
		return &edgelessapi.StartComponentResponse{ResponseError: &edgelessapi.ResponseError{Summary: summary, Detail: &detail}}, nil
	}
	return &edgelessapi.StartComponentResponse{InstanceId: &edgelessapi.InstanceIdVariant{
		InstanceIdType: &edgelessapi.InstanceIdVariant_InstanceId{
			InstanceId: &edgelessapi.InstanceId{NodeId: id.NodeID, FunctionId: id.FunctionID},
		},
	}}, nil
}

// Stop removes a resource instance; an unknown one is already stopped.
func (s Service) Stop(_ context.Context, req *edgelessapi.InstanceIdVariant) (*emptypb.Empty, error) {
	id := req.GetInstanceId()
	if id == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("resource stop: want an InstanceId, not a DomainManagedInstanceId"))
	}
	n, err1 := uuid.Parse(id.GetNodeId())
	f, err2 := uuid.Parse(id.GetFunctionId())
	if err1 != nil || err2 != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("resource stop: instance id %q/%q: want two UUIDs", id.GetNodeId(), id.GetFunctionId()))
	}
	if n.String() != s.M.dp.NodeID() {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("resource stop: instance %s belongs to node %s, not to this node %s", f, n, s.M.dp.NodeID()))
	}
	if !s.M.Stop(f.String()) {
		s.M.log.Info("resource stop: no such instance (already stopped?)", "instance", f.String())
	}
	return &emptypb.Empty{}, nil
}

// Patch replaces a resource instance's output mapping.
func (s Service) Patch(_ context.Context, req *edgelessapi.PatchRequest) (*emptypb.Empty, error) {
	f, err := uuid.Parse(req.GetFunctionId())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("resource patch: function_id %q is not a UUID", req.GetFunctionId()))
	}
	outputs, err := Outputs(req.GetOutputMapping())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("resource patch %s: %w", f, err))
	}
	if err := s.M.Patch(f.String(), outputs); err != nil {
		code := connect.CodeInvalidArgument
		if errors.Is(err, ErrUnknownInstance) {
			code = connect.CodeNotFound
		}
		return nil, connect.NewError(code, err)
	}
	return &emptypb.Empty{}, nil
}

// Outputs converts a PatchRequest's output_mapping, refusing a target that
// is not a pair of UUIDs.
func Outputs(m map[string]*edgelessapi.InstanceId) (map[string]contract.InstanceID, error) {
	out := make(map[string]contract.InstanceID, len(m))
	for alias, t := range m {
		n, err1 := uuid.Parse(t.GetNodeId())
		f, err2 := uuid.Parse(t.GetFunctionId())
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("output %q: target %q/%q is not a pair of UUIDs", alias, t.GetNodeId(), t.GetFunctionId())
		}
		out[alias] = contract.InstanceID{NodeID: n.String(), FunctionID: f.String()}
	}
	return out, nil
}
