package guest

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// grpcHandler is the grpc-go edge of a Server: the GuestAPIFunction
// service that Serve answers gRPC over h2c with. It maps the Server's
// errors to gRPC codes as rpcHandler does, and recovers a panic of the SDK
// itself (grpc-go, unlike connect-go, does not), so no request can end the
// process.
type grpcHandler struct {
	edgelessapi.UnimplementedGuestAPIFunctionServer
	s *Server
}

var _ edgelessapi.GuestAPIFunctionServer = (*grpcHandler)(nil)

// RegisterGRPC registers the GuestAPIFunction service on a grpc-go server
// of your own (Serve does this on its own server). Set the server's
// grpc.MaxRecvMsgSize and grpc.MaxSendMsgSize to Options.MaxPayloadBytes,
// and grpc.MaxHeaderListSize to http.DefaultMaxHeaderBytes (1 MiB, what
// Serve allows; grpc-go's default is 16 MiB, read before the instance
// secret is checked): the limits of a grpc-go server are the server's, not
// the service's.
func (s *Server) RegisterGRPC(r grpc.ServiceRegistrar) {
	edgelessapi.RegisterGuestAPIFunctionServer(r, &grpcHandler{s: s})
}

// secretKey is SecretHeader as a gRPC metadata key (lower-case, as HTTP/2
// sends header names).
var secretKey = strings.ToLower(SecretHeader)

// grpcSecret returns the SecretHeader of the request being handled. (It
// looks up the one key instead of copying the whole metadata, as
// metadata.FromIncomingContext would.)
func grpcSecret(ctx context.Context) string {
	if v := metadata.ValueFromIncomingContext(ctx, secretKey); len(v) > 0 {
		return v[0]
	}
	return ""
}

// grpcError maps err to a gRPC status error.
func grpcError(err error) error {
	return status.Error(codes.Code(errorCode(err)), err.Error())
}

// recoverPanic turns a panic of the SDK into INTERNAL (author code is already
// protected by Server.protect).
func (h *grpcHandler) recoverPanic(ctx context.Context, method string, err *error) {
	if p := recover(); p != nil {
		h.s.log.ErrorContext(ctx, "panic in guest API handler", "procedure", method, "panic", p, "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, fmt.Sprintf("panic in %s", method))
	}
}

// Boot implements edgelessapi.GuestAPIFunctionServer.
func (h *grpcHandler) Boot(ctx context.Context, req *edgelessapi.BootData) (_ *emptypb.Empty, err error) {
	defer h.recoverPanic(ctx, edgelessapi.GuestAPIFunction_Boot_FullMethodName, &err)
	if err := h.s.boot(ctx, req, grpcSecret(ctx)); err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Init implements edgelessapi.GuestAPIFunctionServer.
func (h *grpcHandler) Init(ctx context.Context, req *edgelessapi.FunctionInstanceInit) (_ *emptypb.Empty, err error) {
	defer h.recoverPanic(ctx, edgelessapi.GuestAPIFunction_Init_FullMethodName, &err)
	if err := h.s.checkSecret(grpcSecret(ctx)); err != nil {
		return nil, grpcError(err)
	}
	if err := h.s.init(ctx, req); err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Cast implements edgelessapi.GuestAPIFunctionServer.
func (h *grpcHandler) Cast(ctx context.Context, req *edgelessapi.InputEventData) (_ *emptypb.Empty, err error) {
	defer h.recoverPanic(ctx, edgelessapi.GuestAPIFunction_Cast_FullMethodName, &err)
	if err := h.s.checkSecret(grpcSecret(ctx)); err != nil {
		return nil, grpcError(err)
	}
	if err := h.s.cast(ctx, req); err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}

// Call implements edgelessapi.GuestAPIFunctionServer.
func (h *grpcHandler) Call(ctx context.Context, req *edgelessapi.InputEventData) (_ *edgelessapi.CallReturn, err error) {
	defer h.recoverPanic(ctx, edgelessapi.GuestAPIFunction_Call_FullMethodName, &err)
	if err := h.s.checkSecret(grpcSecret(ctx)); err != nil {
		return nil, grpcError(err)
	}
	res, err := h.s.call(ctx, req)
	if err != nil {
		return nil, grpcError(err)
	}
	return res, nil
}

// Stop implements edgelessapi.GuestAPIFunctionServer.
func (h *grpcHandler) Stop(ctx context.Context, _ *emptypb.Empty) (_ *emptypb.Empty, err error) {
	defer h.recoverPanic(ctx, edgelessapi.GuestAPIFunction_Stop_FullMethodName, &err)
	if err := h.s.checkSecret(grpcSecret(ctx)); err != nil {
		return nil, grpcError(err)
	}
	if err := h.s.stop(ctx); err != nil {
		return nil, grpcError(err)
	}
	return &emptypb.Empty{}, nil
}
