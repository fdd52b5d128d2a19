package guest

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
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
type Host struct {
	id        InstanceID
	endpoint  string
	client    edgelessapiconnect.GuestAPIHostClient
	transport *http.Transport
	timeout   time.Duration
}

// dialHost builds the client for the GuestAPIHost server at baseURL and
// opens its HTTP/2 connection, so that the host is known to be reachable and
// the first host call pays no connection set-up.
func dialHost(ctx context.Context, baseURL string, id InstanceID, timeout time.Duration, maxBytes int) (*Host, error) {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{
		Protocols:   &protocols,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// Detect a dead node connection instead of waiting for each call's
		// deadline.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 10 * time.Second},
	}
	httpClient := &http.Client{Transport: transport}
	h := &Host{
		id:       id,
		endpoint: baseURL,
		client: edgelessapiconnect.NewGuestAPIHostClient(httpClient, baseURL,
			connect.WithGRPC(),
			connect.WithReadMaxBytes(maxBytes),
			connect.WithSendMaxBytes(maxBytes),
			connect.WithCompressMinBytes(compressMinBytes),
		),
		transport: transport,
		timeout:   timeout,
	}
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	// Any HTTP answer proves an HTTP/2 connection to the host is open; the
	// transport keeps it for the host calls.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/", nil)
	if err != nil {
		return nil, fmt.Errorf("connect to guest API host %s: %w", baseURL, err)
	}
	res, err := httpClient.Do(req)
	if err != nil {
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("connect to guest API host %s: %w", baseURL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	_ = res.Body.Close()
	return h, nil
}

// close releases the host connection.
func (h *Host) close() { h.transport.CloseIdleConnections() }

// deadline adds the default host timeout to ctx unless it has a deadline.
func (h *Host) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, h.timeout)
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
		return fmt.Errorf("host Cast to alias %q: %w", alias, err)
	}
	return nil
}

// CastRaw sends msg to the instance dst.
func (h *Host) CastRaw(ctx context.Context, dst InstanceID, msg []byte) error {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	_, err := h.client.CastRaw(ctx, &edgelessapi.OutputEventDataRaw{Originator: h.id.proto(), Dst: dst.proto(), Msg: msg})
	if err != nil {
		return fmt.Errorf("host CastRaw to %s: %w", dst, err)
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
		return Reply{}, fmt.Errorf("host Call to alias %q: %w", alias, err)
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
		return Reply{}, fmt.Errorf("host CallRaw to %s: %w", dst, err)
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
		return fmt.Errorf("host DelayedCast to alias %q: %w", alias, err)
	}
	return nil
}

// Sync asks the node to save state; a later Init of this function receives
// it.
func (h *Host) Sync(ctx context.Context, state []byte) error {
	ctx, cancel := h.deadline(ctx)
	defer cancel()
	if _, err := h.client.Sync(ctx, &edgelessapi.SyncData{Originator: h.id.proto(), SerializedState: state}); err != nil {
		return fmt.Errorf("host Sync: %w", err)
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
		return fmt.Errorf("host TelemetryLog: %w", err)
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
		return InstanceID{}, fmt.Errorf("host Slf: %w", err)
	}
	return instanceIDFrom(res), nil
}

// newMetadata returns tracing metadata with a random trace and span id.
func newMetadata() *edgelessapi.EventSerializedMetadata {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return &edgelessapi.EventSerializedMetadata{TraceId: b[:16], SpanId: b[16:]}
}
