package dataplane

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// RegisterGRPC registers the FunctionInvocation service on s, a grpc-go
// server (transport.NewGRPCServer): every event from another node arrives
// here, and grpc-go's server costs fewer system calls per event than
// connect-go's on net/http (README, benchmarks). It accepts events exactly
// as Handler does; the node still serves Handler on invocation_url (the
// switch waits for the TLS and admin-token wiring of that server).
func (d *Dataplane) RegisterGRPC(s grpc.ServiceRegistrar) {
	edgelessapi.RegisterFunctionInvocationServer(s, grpcInvocation{d: d})
}

// grpcInvocation is the grpc-go RPC edge of the data plane.
type grpcInvocation struct {
	edgelessapi.UnimplementedFunctionInvocationServer
	d *Dataplane
}

// Handle accepts one event from a peer.
func (s grpcInvocation) Handle(ctx context.Context, ev *edgelessapi.Event) (*emptypb.Empty, error) {
	if err := s.d.acceptEvent(ctx, ev); err != nil {
		// connect's codes are gRPC's, number for number.
		return nil, status.Error(codes.Code(s.d.reject(ctx, err)), err.Error())
	}
	return &emptypb.Empty{}, nil
}
