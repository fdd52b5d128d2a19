package guest

import (
	"context"
	"crypto/subtle"
	"errors"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/protobuf/types/known/emptypb"
)

// rpcHandler is the connect-go edge (Server.Handler, and HTTP/1.1 in
// Serve): it maps the Server's errors to gRPC codes. grpcHandler is the
// grpc-go one.
type rpcHandler struct{ s *Server }

// invalidArgumentError marks bad input (INVALID_ARGUMENT).
type invalidArgumentError struct{ err error }

func (e *invalidArgumentError) Error() string { return e.err.Error() }
func (e *invalidArgumentError) Unwrap() error { return e.err }

// unavailableError marks an unreachable host (UNAVAILABLE).
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// SecretHeader is the request header in which the node sends the
// instance's secret (the Go node sends one; upstream's nodes do not). When
// Boot carried one, every later request must carry the same value, or it
// is refused with PERMISSION_DENIED: a process on the network that is not
// the node cannot drive the function. Without one the SDK accepts every
// request, as upstream's templates do. HTTP/2 sends header names in lower
// case (gRPC metadata key "edgeless-instance-secret"); the SDK matches the
// name in any case.
const SecretHeader = "Edgeless-Instance-Secret"

// errWrongSecret refuses a request without the secret sent at Boot.
var errWrongSecret = errors.New("request without this instance's secret (" + SecretHeader + ")")

// secretMatches reports whether got is the secret want; any request
// matches when there is no secret.
func secretMatches(got, want string) bool {
	return want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// requestSecret returns the SecretHeader of the request being handled by
// the connect-go handler.
func requestSecret(ctx context.Context) string {
	if ci, ok := connect.CallInfoForHandlerContext(ctx); ok {
		return ci.RequestHeader().Get(SecretHeader)
	}
	return ""
}

// checkSecret refuses (errWrongSecret) a request whose secret got is not
// the secret of the current life.
func (s *Server) checkSecret(got string) error {
	s.mu.Lock()
	want := s.secret
	s.mu.Unlock()
	if !secretMatches(got, want) {
		return errWrongSecret
	}
	return nil
}

// checkSecret refuses a request that does not carry the secret of the
// current life.
func (h *rpcHandler) checkSecret(ctx context.Context) error {
	if err := h.s.checkSecret(requestSecret(ctx)); err != nil {
		return rpcError(err)
	}
	return nil
}

// errorCode classifies err: the gRPC code to answer it with (connect's
// codes are gRPC's, number for number); internal is the code of anything
// not otherwise classified.
func errorCode(err error) connect.Code {
	var (
		wrong   *WrongStateError
		invalid *invalidArgumentError
		unavail *unavailableError
	)
	switch {
	case errors.Is(err, errWrongSecret):
		return connect.CodePermissionDenied
	case errors.As(err, &wrong):
		return connect.CodeFailedPrecondition
	case errors.As(err, &invalid):
		return connect.CodeInvalidArgument
	case errors.Is(err, context.DeadlineExceeded):
		return connect.CodeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return connect.CodeCanceled
	case errors.As(err, &unavail):
		return connect.CodeUnavailable
	default:
		return connect.CodeInternal
	}
}

// rpcError maps err to a connect error.
func rpcError(err error) error { return connect.NewError(errorCode(err), err) }

// Boot implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Boot(ctx context.Context, req *edgelessapi.BootData) (*emptypb.Empty, error) {
	if err := h.s.boot(ctx, req, requestSecret(ctx)); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Init implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Init(ctx context.Context, req *edgelessapi.FunctionInstanceInit) (*emptypb.Empty, error) {
	if err := h.checkSecret(ctx); err != nil {
		return nil, err
	}
	if err := h.s.init(ctx, req); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Cast implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Cast(ctx context.Context, req *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	if err := h.checkSecret(ctx); err != nil {
		return nil, err
	}
	if err := h.s.cast(ctx, req); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Call implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Call(ctx context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	if err := h.checkSecret(ctx); err != nil {
		return nil, err
	}
	res, err := h.s.call(ctx, req)
	if err != nil {
		return nil, rpcError(err)
	}
	return res, nil
}

// Stop implements edgelessapiconnect.GuestAPIFunctionHandler.
func (h *rpcHandler) Stop(ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
	if err := h.checkSecret(ctx); err != nil {
		return nil, err
	}
	if err := h.s.stop(ctx); err != nil {
		return nil, rpcError(err)
	}
	return &emptypb.Empty{}, nil
}
