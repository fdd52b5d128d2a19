package guest

import (
	"context"
	"errors"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/protobuf/types/known/emptypb"
)

// rpcHandler is the RPC edge: it maps the Server's errors to gRPC codes.
type rpcHandler struct{ s *Server }

// invalidArgumentError marks bad input (INVALID_ARGUMENT).
type invalidArgumentError struct{ err error }

func (e *invalidArgumentError) Error() string { return e.err.Error() }
func (e *invalidArgumentError) Unwrap() error { return e.err }

// unavailableError marks an unreachable host (UNAVAILABLE).
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// rpcError maps err to a connect error; internal is the code of anything
// not otherwise classified.
func rpcError(err error) error {
	var (
		wrong   *WrongStateError
		invalid *invalidArgumentError
		unavail *unavailableError
	)
	switch {
	case errors.As(err, &wrong):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.As(err, &invalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.As(err, &unavail):
		return connect.NewError(connect.CodeUnavailable, err)
	default:
		return connect.NewError(connect.CodeInternal, err)
	}
}

// Boot implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Boot(ctx context.Context, req *edgelessapi.BootData) (*emptypb.Empty, error) {
	if err := h.s.boot(ctx, req); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Init implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Init(ctx context.Context, req *edgelessapi.FunctionInstanceInit) (*emptypb.Empty, error) {
	if err := h.s.init(ctx, req); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Cast implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Cast(ctx context.Context, req *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	if err := h.s.cast(ctx, req); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Call implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Call(ctx context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	res, err := h.s.call(ctx, req)
	if err != nil {
		return nil, rpcError(err)
	}
	return res, nil
}

// Stop implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Stop(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	if err := h.s.stop(ctx); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}
