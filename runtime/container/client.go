package container

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// Request options and messages that never change.
var (
	startOptions   = client.ContainerStartOptions{}
	inspectOptions = client.ContainerInspectOptions{}
	killTerm       = client.ContainerKillOptions{Signal: "SIGTERM"}
	emptyMsg       = &emptypb.Empty{}
)

// SecretHeader is the request header (gRPC metadata) that carries an
// instance's secret on every call the node makes into its function, from
// Boot on. A function that received one at Boot may refuse requests
// without it (the Go SDK does); upstream's templates ignore it.
const SecretHeader = "Edgeless-Instance-Secret"

// secretKey is SecretHeader as gRPC metadata spells it (lower case, as
// HTTP/2 sends every header name).
const secretKey = "edgeless-instance-secret"

// connection is how the runtime reaches the function, and how the
// function's requests are recognised.
type connection struct {
	fn edgelessapi.GuestAPIFunctionClient
	// cc is the one HTTP/2 connection (grpc-go) into the function; close
	// closes it.
	cc       *grpc.ClientConn
	endpoint string
	// peer is the container's bridge address; invalid for grpc:.
	peer netip.Addr
	// socket is set when the connection goes over the container's
	// function socket (guestsock.go) rather than to endpoint.
	socket bool
}

// newConnection returns a gRPC client (grpc-go, plain HTTP/2: gRPC peers
// in other languages, tonic and grpcio, speak HTTP/2 without TLS only) of
// a function at endpoint that sends and reads messages of up to maxBytes,
// sends secret in SecretHeader on every call, and marks the errors whose
// status the function itself sent (see functionSent). With dial set, its
// connections are dial's (the function socket's) instead of endpoint's.
// It does no I/O.
func newConnection(endpoint string, peer netip.Addr, maxBytes int, secret string, dial func(context.Context, string) (net.Conn, error)) (*connection, error) {
	opts := append(transport.LocalDialOptions(),
		grpc.WithUnaryInterceptor(secretAndOrigin(secret)),
		grpc.WithStatsHandler(trailerWatch{}),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: functionBackoff, MinConnectTimeout: transport.DialTimeout}),
	)
	if dial != nil {
		opts = append(opts, grpc.WithContextDialer(dial))
	}
	cc, err := transport.Config{}.NewGRPCConn(endpoint, maxBytes, opts...)
	if err != nil {
		return nil, err
	}
	return &connection{fn: edgelessapi.NewGuestAPIFunctionClient(cc), cc: cc, endpoint: endpoint, peer: peer, socket: dial != nil}, nil
}

// close closes the connection into the function: calls in flight fail
// and later ones fail at once. An HTTP/2 server shutting down on SIGTERM
// waits for its clients to close their connections, so a function stops
// sooner once this has run.
func (cn *connection) close() { _ = cn.cc.Close() }

// boot calls Boot once. The call waits, within ctx, for the connection to
// be made: while the function does not listen yet, the connection is
// retried every few milliseconds (the connection's backoff, see
// functionBackoff), as a fresh dial per attempt would.
func (cn *connection) boot(ctx context.Context, req *edgelessapi.BootData) error {
	_, err := cn.fn.Boot(ctx, req, grpc.WaitForReady(true))
	return err
}

// functionBackoff paces the reconnects into a function: from 2 ms up to
// maxBootBackoff. While a cold container's function does not listen yet,
// Boot waits for the connection, and grpc-go's usual reconnect backoff
// (50 ms growing to a second) would add up to that much to every cold
// start. The function is on this host, so a dial is cheap; and grpc-go
// reconnects only while calls wait (an idle connection that breaks waits
// for the next call), so a dead function costs at most one dial per
// maxBootBackoff while a call is pending, until its end is noticed.
//
// (Resetting a longer backoff during Boot instead, with
// ClientConn.ResetConnectBackoff, races inside grpc-go 1.84: it ranges
// over the connection's subchannel map without its lock.)
var functionBackoff = backoff.Config{BaseDelay: 2 * time.Millisecond, Multiplier: 2, Jitter: 0.2, MaxDelay: maxBootBackoff}

// secretAndOrigin returns the client interceptor that sends secret in
// SecretHeader and marks the errors whose status the function sent.
//
// It costs three small allocations a call (the secret's metadata context
// and the call's flag, in one context value that is also the flag), where
// metadata.AppendToOutgoingContext, context.WithValue and a separate flag
// made six: this runs on every event into a function.
func secretAndOrigin(secret string) grpc.UnaryClientInterceptor {
	md := metadata.Pairs(secretKey, secret) // shared: grpc-go only reads it
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := metadata.FromOutgoingContext(ctx); ok {
			ctx = metadata.AppendToOutgoingContext(ctx, secretKey, secret) // keep the caller's
		} else {
			ctx = metadata.NewOutgoingContext(ctx, md)
		}
		call := &originCtx{Context: ctx}
		err := invoker(call, method, req, reply, cc, opts...)
		if err != nil && call.sent.Load() {
			return &functionStatus{err: err}
		}
		return err
	}
}

// originCtx is the context of one call into a function, and the flag that
// trailerWatch sets when the function's status arrives: Value(trailerSeen{})
// returns the call itself. Done, Err and Deadline are its parent's, so
// grpc-go's derived contexts stay plain children of the parent.
type originCtx struct {
	context.Context
	sent atomic.Bool
}

func (c *originCtx) Value(key any) any {
	if key == (trailerSeen{}) {
		return c
	}
	return c.Context.Value(key)
}

// trailerSeen is the context key of the call whose flag trailerWatch sets.
type trailerSeen struct{}

// trailerWatch is a grpc-go stats handler that tells a status the function
// sent from one grpc-go made up: a gRPC server ends every call, whatever
// its status, with an end-of-stream HEADERS frame (trailers, or
// trailers-only) carrying grpc-status, and grpc-go reports such a frame,
// once it has checked that it is gRPC, as stats.InTrailer. A refused or
// broken connection, a reset stream, an expired deadline or a non-gRPC
// answer (an HTTP error page) never produce one.
type trailerWatch struct{}

func (trailerWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (trailerWatch) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InTrailer); ok {
		if c, ok := ctx.Value(trailerSeen{}).(*originCtx); ok {
			c.sent.Store(true)
		}
	}
}

func (trailerWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (trailerWatch) HandleConn(context.Context, stats.ConnStats) {}

// functionStatus is the error of a call into a function whose status the
// function sent itself (status.Code and status.FromError see through it).
type functionStatus struct{ err error }

func (e *functionStatus) Error() string { return e.err.Error() }

func (e *functionStatus) Unwrap() error { return e.err }

// GRPCStatus returns the status the function sent.
func (e *functionStatus) GRPCStatus() *status.Status { return status.Convert(e.err) }

// functionSent reports whether err carries a status the function sent
// (rather than one that stands for a broken connection or a deadline).
func functionSent(err error) bool {
	var fs *functionStatus
	return errors.As(err, &fs)
}

// retryableBoot reports whether a failed Boot may succeed later: the
// server is not listening yet (refused, reset, proxied port with no
// backend) or the attempt timed out. A status the function itself sent
// (INVALID_ARGUMENT, INTERNAL, ...) is final.
func retryableBoot(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.Unknown, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// transportFailure reports whether err looks like a broken connection
// rather than a status the function sent.
func transportFailure(err error) bool {
	if functionSent(err) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Unknown, codes.Internal:
		return true
	}
	return false
}
