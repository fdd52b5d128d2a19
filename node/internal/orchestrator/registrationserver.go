package orchestrator

import (
	"context"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

// registrationServer is the NodeRegistration edge.
type registrationServer struct {
	o *Orchestrator
}

var _ edgelessapiconnect.NodeRegistrationHandler = (*registrationServer)(nil)

// UpdateNode answers a refused update in response_error, as upstream.
func (s *registrationServer) UpdateNode(_ context.Context, req *edgelessapi.UpdateNodeRequest) (*edgelessapi.UpdateNodeResponse, error) {
	if err := s.o.UpdateNode(req); err != nil {
		s.o.log.Warn("node update refused", "node", req.GetNodeId(), "err", err)
		detail := err.Error()
		return &edgelessapi.UpdateNodeResponse{ResponseError: &edgelessapi.ResponseError{
			Summary: "node update refused", Detail: &detail,
		}}, nil
	}
	return &edgelessapi.UpdateNodeResponse{}, nil
}
