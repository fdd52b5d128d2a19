package guesttest

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

// NewGRPCHost starts a Host served by grpc-go (gRPC over h2c only) on
// 127.0.0.1, as a node whose GuestAPIHost server is grpc-go's; t.Cleanup
// stops it. It records and answers as NewHost's; an error that a
// SetCallReply function returns reaches the function with its connect
// code (a *connect.Error) or UNKNOWN.
func NewGRPCHost(t testing.TB) *Host {
	t.Helper()
	return NewGRPCHostListener(t, nil)
}

// NewGRPCHostListener is NewGRPCHost on ln (nil: a 127.0.0.1 port).
func NewGRPCHostListener(t testing.TB, ln net.Listener) *Host {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatalf("listen: %v", err)
		}
	}
	h := &Host{arrived: make(chan struct{}, 1), URL: "http://" + ln.Addr().String()}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(1<<31-1), grpc.MaxSendMsgSize(1<<31-1))
	edgelessapi.RegisterGuestAPIHostServer(srv, grpcHost{h: h})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return h
}

// grpcHost serves a Host with grpc-go.
type grpcHost struct {
	edgelessapi.UnimplementedGuestAPIHostServer
	h *Host
}

// toStatus converts an error of the Host's connect-go handler methods.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return status.Error(codes.Code(ce.Code()), ce.Message())
	}
	return status.Error(codes.Unknown, err.Error())
}

func (g grpcHost) Cast(ctx context.Context, req *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	res, err := g.h.Cast(ctx, req)
	return res, toStatus(err)
}

func (g grpcHost) CastRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*emptypb.Empty, error) {
	res, err := g.h.CastRaw(ctx, req)
	return res, toStatus(err)
}

func (g grpcHost) Call(ctx context.Context, req *edgelessapi.OutputEventData) (*edgelessapi.CallReturn, error) {
	res, err := g.h.Call(ctx, req)
	return res, toStatus(err)
}

func (g grpcHost) CallRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*edgelessapi.CallReturn, error) {
	res, err := g.h.CallRaw(ctx, req)
	return res, toStatus(err)
}

func (g grpcHost) TelemetryLog(ctx context.Context, req *edgelessapi.TelemetryLogEvent) (*emptypb.Empty, error) {
	res, err := g.h.TelemetryLog(ctx, req)
	return res, toStatus(err)
}

func (g grpcHost) Slf(ctx context.Context, req *emptypb.Empty) (*edgelessapi.InstanceId, error) {
	res, err := g.h.Slf(ctx, req)
	return res, toStatus(err)
}

func (g grpcHost) DelayedCast(ctx context.Context, req *edgelessapi.DelayedEventData) (*emptypb.Empty, error) {
	res, err := g.h.DelayedCast(ctx, req)
	return res, toStatus(err)
}

func (g grpcHost) Sync(ctx context.Context, req *edgelessapi.SyncData) (*emptypb.Empty, error) {
	res, err := g.h.Sync(ctx, req)
	return res, toStatus(err)
}

// newGRPCClient returns a grpc-go GuestAPIFunction client of the server
// at url (http://host:port), in the shape of a connect-go one: its errors
// are *connect.Error with the gRPC code and message. Request metadata (the
// instance secret) comes from the context: metadata.AppendToOutgoingContext.
func newGRPCClient(t testing.TB, url string) edgelessapiconnect.GuestAPIFunctionClient {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(url, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(guest.DefaultMaxPayloadBytes), grpc.MaxCallSendMsgSize(guest.DefaultMaxPayloadBytes)))
	if err != nil {
		t.Fatalf("grpc-go client of %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return grpcFunctionClient{c: edgelessapi.NewGuestAPIFunctionClient(conn)}
}

type grpcFunctionClient struct {
	c edgelessapi.GuestAPIFunctionClient
}

// toConnect converts an error of the grpc-go client.
func toConnect(err error) error {
	if err == nil {
		return nil
	}
	if st, ok := status.FromError(err); ok {
		return connect.NewError(connect.Code(st.Code()), errors.New(st.Message()))
	}
	return err
}

func (g grpcFunctionClient) Boot(ctx context.Context, req *edgelessapi.BootData) (*emptypb.Empty, error) {
	res, err := g.c.Boot(ctx, req)
	return res, toConnect(err)
}

func (g grpcFunctionClient) Init(ctx context.Context, req *edgelessapi.FunctionInstanceInit) (*emptypb.Empty, error) {
	res, err := g.c.Init(ctx, req)
	return res, toConnect(err)
}

func (g grpcFunctionClient) Cast(ctx context.Context, req *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	res, err := g.c.Cast(ctx, req)
	return res, toConnect(err)
}

func (g grpcFunctionClient) Call(ctx context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	res, err := g.c.Call(ctx, req)
	return res, toConnect(err)
}

func (g grpcFunctionClient) Stop(ctx context.Context, req *emptypb.Empty) (*emptypb.Empty, error) {
	res, err := g.c.Stop(ctx, req)
	return res, toConnect(err)
}
