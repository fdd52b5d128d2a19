package guest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// LogLevel is the severity of a telemetry log line sent with
// Host.TelemetryLog.
type LogLevel int32

// Telemetry log levels, as in the EDGELESS API.
const (
	LogError LogLevel = LogLevel(edgelessapi.TelemetryLogLevel_LOG_ERROR)
	LogWarn  LogLevel = LogLevel(edgelessapi.TelemetryLogLevel_LOG_WARN)
	LogInfo  LogLevel = LogLevel(edgelessapi.TelemetryLogLevel_LOG_INFO)
	LogDebug LogLevel = LogLevel(edgelessapi.TelemetryLogLevel_LOG_DEBUG)
	LogTrace LogLevel = LogLevel(edgelessapi.TelemetryLogLevel_LOG_TRACE)
)

// Host is the handle to the node that hosts an instance: the GuestAPIHost
// client for one life of the instance (from Boot to Stop). Every request
// carries the instance's own id as originator. It is safe for concurrent
// use.
//
// The client is grpc-go's (gRPC over h2c, as upstream's templates speak),
// whose writer sends a request's frames in one batch. Its errors carry the
// gRPC code for both connect.CodeOf and grpc-go's status.Code.
type Host struct {
	id       InstanceID
	endpoint string
	conn     *grpc.ClientConn
	client   edgelessapi.GuestAPIHostClient
	timeout  time.Duration
	// dialErr is the error of the latest failed dial, for Boot's answer.
	dialErr atomic.Pointer[error]
}

// Settings of the host connection.
const (
	// hostDialTimeout bounds the opening of the host connection.
	hostDialTimeout = 5 * time.Second
	// hostReconnectMaxDelay is the longest pause between attempts to
	// reconnect to a node that went away (grpc-go's default backoff grows
	// to 2 minutes, during which every host call fails at once).
	hostReconnectMaxDelay = time.Second
	// hostPingInterval and hostPingTimeout make the client notice a node
	// that vanished without closing the connection, instead of waiting for
	// each call's deadline.
	hostPingInterval = 30 * time.Second
	hostPingTimeout  = 10 * time.Second
)

// newHost returns the client for the GuestAPIHost server at addr on
// network: "tcp" and host:port (baseURL is http://addr), or "unix" and a
// socket path (baseURL is the unix:// endpoint); it does no I/O.
func newHost(baseURL, network, addr string, id InstanceID, timeout time.Duration, maxBytes int) (*Host, error) {
	h := &Host{id: id, endpoint: baseURL, timeout: timeout}
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	target := addr
	if network == "unix" {
		target = "localhost" // the :authority; the dialer ignores it
	}
	conn, err := grpc.NewClient("passthrough:///"+target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				h.dialErr.Store(&err)
			}
			return c, err
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxBytes), grpc.MaxCallSendMsgSize(maxBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: hostPingInterval, Timeout: hostPingTimeout}),
		grpc.WithStaticStreamWindowSize(localWindowBytes),
		grpc.WithStaticConnWindowSize(localWindowBytes),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: hostReconnectMaxDelay},
			MinConnectTimeout: hostDialTimeout,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("guest API host client of %s: %w", baseURL, err)
	}
	h.conn, h.client = conn, edgelessapi.NewGuestAPIHostClient(conn)
	return h, nil
}

// dialHost builds the client for the GuestAPIHost server at addr and opens
// its HTTP/2 connection, so that the host is known to be reachable and the
// first host call pays no connection set-up. A failed first attempt is an
// error at once (no retries: the node retries Boot).
func dialHost(ctx context.Context, baseURL, network, addr string, id InstanceID, timeout time.Duration, maxBytes int) (*Host, error) {
	h, err := newHost(baseURL, network, addr, id, timeout, maxBytes)
	if err != nil {
		return nil, err
	}
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	if err := h.waitReady(ctx); err != nil {
		h.close()
		return nil, fmt.Errorf("connect to guest API host %s: %w", baseURL, err)
	}
	return h, nil
}

// waitReady connects and waits until the connection is ready, or its
// first attempt failed.
func (h *Host) waitReady(ctx context.Context) error {
	h.conn.Connect()
	for {
		switch st := h.conn.GetState(); st {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			if err := h.dialErr.Load(); err != nil {
				return *err
			}
			return fmt.Errorf("connection %s (not an HTTP/2 gRPC server?)", strings.ToLower(st.String()))
		default:
			if !h.conn.WaitForStateChange(ctx, st) {
				return ctx.Err()
			}
		}
	}
}

// close releases the host connection.
func (h *Host) close() { _ = h.conn.Close() }

// deadline adds the default host timeout to ctx unless it has a deadline.
func (h *Host) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.timeout)
}

// hostError is the error of a failed host call: a *connect.Error (as when
// the SDK's host client was connect-go: connect.CodeOf and errors.As keep
// working) that also answers grpc-go's status.Code and status.FromError.
type hostError struct {
	err *connect.Error
	st  *status.Status
}

func (e *hostError) Error() string              { return e.err.Error() }
func (e *hostError) Unwrap() error              { return e.err }
func (e *hostError) GRPCStatus() *status.Status { return e.st }

// rpcFailure converts an error of the grpc-go client. A call cut by ctx
// wraps ctx's error, so errors.Is(err, context.DeadlineExceeded) holds.
func rpcFailure(ctx context.Context, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	cause := errors.New(st.Message())
	ctxErr := ctx.Err()
	if ctxErr == nil && st.Code() == codes.DeadlineExceeded {
		// grpc-go reports DEADLINE_EXCEEDED as soon as the deadline has
		// passed by the clock (e.g. when the server reset the stream at
		// its end of the same deadline), which can be before ctx's timer
		// has fired and ctx.Err() says so.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			ctxErr = context.DeadlineExceeded
		}
	}
	switch {
	case st.Code() == codes.DeadlineExceeded && errors.Is(ctxErr, context.DeadlineExceeded),
		st.Code() == codes.Canceled && errors.Is(ctxErr, context.Canceled):
		cause = ctxErr
	}
	return &hostError{err: connect.NewError(connect.Code(st.Code()), cause), st: st}
}

// ID returns the instance's own id, as received in Boot.
func (h *Host) ID() InstanceID { return h.id }

// Endpoint returns the base URL of the node's GuestAPIHost server.
func (h *Host) Endpoint() string { return h.endpoint }

// Cast sends msg to the target that the workflow maps to alias ("self" is
// the instance itself). The node drops a cast to an unmapped alias.
func (h *Host) Cast(ctx context.Context, alias string, msg []byte) error {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	_, err := h.client.Cast(ctx, &edgelessapi.OutputEventData{Originator: h.id.proto(), Alias: alias, Msg: msg})
	if err != nil {
		return fmt.Errorf("host Cast to alias %q: %w", alias, rpcFailure(ctx, err))
	}
	return nil
}

// CastRaw sends msg to the instance dst.
func (h *Host) CastRaw(ctx context.Context, dst InstanceID, msg []byte) error {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	_, err := h.client.CastRaw(ctx, &edgelessapi.OutputEventDataRaw{Originator: h.id.proto(), Dst: dst.proto(), Msg: msg})
	if err != nil {
		return fmt.Errorf("host CastRaw to %s: %w", dst, rpcFailure(ctx, err))
	}
	return nil
}

// Call sends msg to the target mapped to alias and waits for its answer. A
// callee that answers CALL_RET_ERR yields a *CallError (errors.Is(err,
// ErrCallFailed)).
func (h *Host) Call(ctx context.Context, alias string, msg []byte) (Reply, error) {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	res, err := h.client.Call(ctx, &edgelessapi.OutputEventData{Originator: h.id.proto(), Alias: alias, Msg: msg})
	if err != nil {
		return Reply{}, fmt.Errorf("host Call to alias %q: %w", alias, rpcFailure(ctx, err))
	}
	r, err := replyFromProto(res)
	if err != nil {
		return Reply{}, fmt.Errorf("host Call to alias %q: %w", alias, err)
	}
	return r, nil
}

// CallRaw sends msg to the instance dst and waits for its answer, as Call.
func (h *Host) CallRaw(ctx context.Context, dst InstanceID, msg []byte) (Reply, error) {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	res, err := h.client.CallRaw(ctx, &edgelessapi.OutputEventDataRaw{Originator: h.id.proto(), Dst: dst.proto(), Msg: msg})
	if err != nil {
		return Reply{}, fmt.Errorf("host CallRaw to %s: %w", dst, rpcFailure(ctx, err))
	}
	r, err := replyFromProto(res)
	if err != nil {
		return Reply{}, fmt.Errorf("host CallRaw to %s: %w", dst, err)
	}
	return r, nil
}

// DelayedCast asks the node to cast msg to alias after delay (millisecond
// resolution, rounded up). The request always carries tracing metadata (a
// fresh random 16-byte trace id and 8-byte span id), which the upstream node
// requires.
func (h *Host) DelayedCast(ctx context.Context, alias string, delay time.Duration, msg []byte) error {
	if delay < 0 {
		return fmt.Errorf("host DelayedCast to alias %q: negative delay %s", alias, delay)
	}
	ms := uint64(delay / time.Millisecond)
	if delay%time.Millisecond != 0 {
		ms++
	}
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	_, err := h.client.DelayedCast(ctx, &edgelessapi.DelayedEventData{
		Originator: h.id.proto(),
		Alias:      alias,
		Msg:        msg,
		Delay:      ms,
		Metadata:   newMetadata(),
	})
	if err != nil {
		return fmt.Errorf("host DelayedCast to alias %q: %w", alias, rpcFailure(ctx, err))
	}
	return nil
}

// Sync asks the node to save state; a later Init of this function receives
// it.
func (h *Host) Sync(ctx context.Context, state []byte) error {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	if _, err := h.client.Sync(ctx, &edgelessapi.SyncData{Originator: h.id.proto(), SerializedState: state}); err != nil {
		return fmt.Errorf("host Sync: %w", rpcFailure(ctx, err))
	}
	return nil
}

// TelemetryLog sends a log line to the node's telemetry.
func (h *Host) TelemetryLog(ctx context.Context, level LogLevel, target, msg string) error {
	if level < LogError || level > LogTrace {
		return fmt.Errorf("host TelemetryLog: unknown log level %d", level)
	}
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	_, err := h.client.TelemetryLog(ctx, &edgelessapi.TelemetryLogEvent{
		Originator: h.id.proto(),
		LogLevel:   edgelessapi.TelemetryLogLevel(level),
		Target:     target,
		Msg:        msg,
	})
	if err != nil {
		return fmt.Errorf("host TelemetryLog: %w", rpcFailure(ctx, err))
	}
	return nil
}

// Slf asks the node for the instance's id. ID gives the same answer without
// a round trip; Slf exists for completeness (the upstream node answers a
// fixed "none" id).
func (h *Host) Slf(ctx context.Context) (InstanceID, error) {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	res, err := h.client.Slf(ctx, &emptypb.Empty{})
	if err != nil {
		return InstanceID{}, fmt.Errorf("host Slf: %w", rpcFailure(ctx, err))
	}
	return instanceIDFrom(res), nil
}

// newMetadata returns tracing metadata with a random trace and span id.
func newMetadata() *edgelessapi.EventSerializedMetadata {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return &edgelessapi.EventSerializedMetadata{TraceId: b[:16], SpanId: b[16:]}
}
