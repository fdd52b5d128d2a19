package dataplane

import (
	"context"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// NewGRPCServer returns a grpc-go server (transport.NewGRPCServer: plain
// text, or TLS with c.TLS) serving the data plane's FunctionInvocation, as
// the node does on invocation_url: every event from another node arrives
// here. It reads events of up to the data plane's MaxPayloadBytes (after
// decompression; larger ones are RESOURCE_EXHAUSTED before Handle runs).
// grpc-go's server costs fewer system calls per event than connect-go's on
// net/http (README, benchmarks); it speaks gRPC only, as upstream's peers
// do (no gRPC-Web, Connect or HTTP/1.1).
//
// With TLS, every failed handshake (a client certificate missing or of
// another CA, no ALPN, a plain-text client) is counted
// (Stats.TLSHandshakeFailures) and logged at most once per 10 s with the
// count since the previous line.
func (d *Dataplane) NewGRPCServer(c transport.Config) (*grpc.Server, error) {
	c.HandshakeFailed = d.handshakeFailed
	s, err := c.NewGRPCServer(d.cfg.MaxPayloadBytes)
	if err != nil {
		return nil, err
	}
	d.RegisterGRPC(s)
	return s, nil
}

// RegisterGRPC registers the FunctionInvocation service on s, a grpc-go
// server; NewGRPCServer builds one with the data plane's read limit.
func (d *Dataplane) RegisterGRPC(s grpc.ServiceRegistrar) {
	edgelessapi.RegisterFunctionInvocationServer(s, grpcInvocation{d: d})
}

// grpcInvocation is the RPC edge of the data plane: it maps the data
// plane's errors to gRPC codes.
type grpcInvocation struct {
	edgelessapi.UnimplementedFunctionInvocationServer
	d *Dataplane
}

// Handle accepts one event from a peer.
func (s grpcInvocation) Handle(ctx context.Context, ev *edgelessapi.Event) (*emptypb.Empty, error) {
	if err := s.d.acceptEvent(ctx, ev); err != nil {
		return nil, status.Error(s.d.reject(ctx, err), err.Error())
	}
	return empty, nil
}

// empty is every answer of Handle that succeeds: grpc-go only reads it.
var empty = &emptypb.Empty{}

// handshakeFailed counts and logs a TLS handshake that failed on the
// invocation port.
func (d *Dataplane) handshakeFailed(remote net.Addr, err error) {
	d.stats.handshakeFailed.Add(1)
	d.logRated(context.Background(), slog.LevelWarn, "tls handshake", "TLS handshake failed on the invocation port",
		"peer", remote.String(), "err", err)
}
