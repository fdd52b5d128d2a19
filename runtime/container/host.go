package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// hostServer serves GuestAPIHost. It routes each request by its
// originator to that instance's contract.Host; there is no lock shared
// between instances, so requests of different instances (and concurrent
// requests of one instance) proceed in parallel.
type hostServer struct {
	rt *Runtime
}

var _ edgelessapiconnect.GuestAPIHostHandler = (*hostServer)(nil)

// Handler returns the GuestAPIHost service (gRPC, gRPC-Web and Connect) and
// the path to mount it on, for a node that serves it on its own server.
func (r *Runtime) Handler() (string, http.Handler) {
	path, h := edgelessapiconnect.NewGuestAPIHostHandler(&hostServer{rt: r},
		transport.HandlerOptions(r.cfg.MaxPayloadBytes)...)
	return path, r.knownCallersOnly(h)
}

// knownCallersOnly refuses, before its body is read, a request from an
// address that is neither one of the runtime's containers nor this host:
// no such caller can act as any instance, and it should not make the node
// read (and unpack) up to the payload limit first.
func (r *Runtime) knownCallersOnly(h http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		a := remoteAddr(req.RemoteAddr)
		if _, known := r.byPeer.Load(a); !known && !isHostAddr(a) {
			_ = ew.Write(w, req, connect.NewError(connect.CodePermissionDenied,
				fmt.Errorf("no instance runs at the calling address %s", a)))
			return
		}
		h.ServeHTTP(w, req)
	})
}

// remoteAddr parses an http.Request.RemoteAddr (invalid if it does not
// parse).
func remoteAddr(s string) netip.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// instanceFor finds the instance that sent a request and checks that the
// request's connection belongs to it: a container instance's requests must
// come from its container's own address, and a grpc: instance's requests
// from an address of this host (see doc.go). The error is a connect error.
func (h *hostServer) instanceFor(ctx context.Context, originator *edgelessapi.InstanceId) (*Instance, error) {
	if originator == nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("missing originator"))
	}
	id, err := idFromWire(originator)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("originator: %w", err))
	}
	v, ok := h.rt.instances.Load(id)
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound,
			fmt.Errorf("unknown originator %s/%s: no such instance on node %s", id.NodeID, id.FunctionID, h.rt.cfg.NodeID))
	}
	inst := v.(*Instance)
	cn := inst.conn.Load()
	if cn == nil {
		return nil, connect.NewError(connect.CodeUnavailable,
			fmt.Errorf("instance %s is not booted yet", id.FunctionID))
	}
	if isClosed(inst.containerEnded()) {
		// Its address may already belong to a new container.
		return nil, connect.NewError(connect.CodeUnavailable,
			fmt.Errorf("instance %s has ended", id.FunctionID))
	}
	peer := peerAddr(ctx)
	if !inst.peerAllowed(cn, peer) {
		h.rt.log.Warn("request with a spoofed originator rejected",
			slog.String("originator", id.FunctionID), slog.String("peer", peer.String()))
		return nil, connect.NewError(connect.CodePermissionDenied,
			fmt.Errorf("originator %s does not belong to the calling address %s", id.FunctionID, peer))
	}
	return inst, nil
}

// peerAddr returns the IP address of the request's peer (invalid if
// unknown).
func peerAddr(ctx context.Context) netip.Addr {
	ci, ok := connect.CallInfoForHandlerContext(ctx)
	if !ok {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(ci.Peer().Addr)
	if err != nil {
		a, err := netip.ParseAddr(ci.Peer().Addr)
		if err != nil {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

// isHostAddr reports whether a is loopback or an address of one of this
// host's interfaces (in the node's network namespace). A container's
// address on a Docker network never is.
func isHostAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	if a.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// idFromWire validates an InstanceId and returns it in canonical
// form (lower-case hyphenated UUIDs), so that any UUID spelling matches.
func idFromWire(p *edgelessapi.InstanceId) (contract.InstanceID, error) {
	n, err := uuid.Parse(p.GetNodeId())
	if err != nil {
		return contract.InstanceID{}, fmt.Errorf("node_id %q: %w", contract.Shorten(p.GetNodeId()), err)
	}
	f, err := uuid.Parse(p.GetFunctionId())
	if err != nil {
		return contract.InstanceID{}, fmt.Errorf("function_id %q: %w", contract.Shorten(p.GetFunctionId()), err)
	}
	return contract.InstanceID{NodeID: n.String(), FunctionID: f.String()}, nil
}

// toProtoID converts a contract.InstanceID for the wire.
func toProtoID(id contract.InstanceID) *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: id.NodeID, FunctionId: id.FunctionID}
}

// Cast implements GuestAPIHost.Cast. A cast to an unmapped alias is
// accepted, dropped, logged and counted, like upstream (templates cast to
// "output" whether or not it is mapped).
func (h *hostServer) Cast(ctx context.Context, req *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	inst, err := h.instanceFor(ctx, req.GetOriginator())
	if err != nil {
		return nil, err
	}
	ctx, cancel := inst.hostContext(ctx)
	defer cancel()
	if err := inst.spec.Host.Cast(ctx, req.GetAlias(), req.GetMsg()); err != nil {
		if errors.Is(err, contract.ErrUnknownAlias) {
			inst.dropCast(req.GetAlias())
			return &emptypb.Empty{}, nil
		}
		return nil, hostError(ctx, "cast", err)
	}
	return &emptypb.Empty{}, nil
}

// CastRaw implements GuestAPIHost.CastRaw.
func (h *hostServer) CastRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*emptypb.Empty, error) {
	inst, err := h.instanceFor(ctx, req.GetOriginator())
	if err != nil {
		return nil, err
	}
	dst, err := rawDestination(req.GetDst())
	if err != nil {
		return nil, err
	}
	ctx, cancel := inst.hostContext(ctx)
	defer cancel()
	if err := inst.spec.Host.CastRaw(ctx, dst, req.GetMsg()); err != nil {
		return nil, hostError(ctx, "cast_raw", err)
	}
	return &emptypb.Empty{}, nil
}

// Call implements GuestAPIHost.Call. An unmapped alias, and any failure to
// deliver, answer CALL_RET_ERR (with the reason in msg); only a payload the
// destination cannot carry is an RPC error (INVALID_ARGUMENT).
func (h *hostServer) Call(ctx context.Context, req *edgelessapi.OutputEventData) (*edgelessapi.CallReturn, error) {
	inst, err := h.instanceFor(ctx, req.GetOriginator())
	if err != nil {
		return nil, err
	}
	hctx, cancel := inst.hostContext(ctx)
	defer cancel()
	rep, err := inst.spec.Host.Call(hctx, req.GetAlias(), req.GetMsg())
	return callReturn(ctx, "call", rep, err)
}

// CallRaw implements GuestAPIHost.CallRaw.
func (h *hostServer) CallRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*edgelessapi.CallReturn, error) {
	inst, err := h.instanceFor(ctx, req.GetOriginator())
	if err != nil {
		return nil, err
	}
	dst, err := rawDestination(req.GetDst())
	if err != nil {
		return nil, err
	}
	hctx, cancel := inst.hostContext(ctx)
	defer cancel()
	rep, err := inst.spec.Host.CallRaw(hctx, dst, req.GetMsg())
	return callReturn(ctx, "call_raw", rep, err)
}

// TelemetryLog implements GuestAPIHost.TelemetryLog.
func (h *hostServer) TelemetryLog(ctx context.Context, req *edgelessapi.TelemetryLogEvent) (*emptypb.Empty, error) {
	inst, err := h.instanceFor(ctx, req.GetOriginator())
	if err != nil {
		return nil, err
	}
	if _, ok := edgelessapi.TelemetryLogLevel_name[int32(req.GetLogLevel())]; !ok {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("unknown log_level %d", req.GetLogLevel()))
	}
	ctx, cancel := inst.hostContext(ctx)
	defer cancel()
	inst.spec.Host.TelemetryLog(ctx, req.GetLogLevel(), req.GetTarget(), req.GetMsg())
	return &emptypb.Empty{}, nil
}

// Slf implements GuestAPIHost.Slf: it returns the caller's own id (upstream
// returns a fixed "none" id). The request carries no originator, so the
// caller is found by its address: a container by its bridge address; a
// process on this host is answered only if exactly one grpc: instance runs.
func (h *hostServer) Slf(ctx context.Context, _ *emptypb.Empty) (*edgelessapi.InstanceId, error) {
	peer := peerAddr(ctx)
	if v, ok := h.rt.byPeer.Load(peer); ok {
		return toProtoID(v.(*Instance).id), nil
	}
	if isHostAddr(peer) {
		var found []*Instance
		h.rt.instances.Range(func(_, v any) bool {
			if inst := v.(*Instance); inst.code.kind == kindGRPC && inst.conn.Load() != nil {
				found = append(found, inst)
			}
			return len(found) < 2
		})
		switch len(found) {
		case 1:
			return toProtoID(found[0].id), nil
		case 2:
			return nil, connect.NewError(connect.CodeFailedPrecondition,
				fmt.Errorf("caller %s is on this host and several grpc: instances run; cannot tell which one calls (remember the id from Boot)", peer))
		}
	}
	return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("no instance runs at the calling address %s", peer))
}

// DelayedCast implements GuestAPIHost.DelayedCast. Unlike upstream it
// accepts a missing metadata (the Python template sends none); metadata
// that is present must have a 16-byte trace_id and an 8-byte span_id (or
// both empty). The cast is dropped if the instance stops first.
func (h *hostServer) DelayedCast(ctx context.Context, req *edgelessapi.DelayedEventData) (*emptypb.Empty, error) {
	inst, err := h.instanceFor(ctx, req.GetOriginator())
	if err != nil {
		return nil, err
	}
	if md := req.GetMetadata(); md != nil {
		t, s := len(md.GetTraceId()), len(md.GetSpanId())
		if (t != 16 || s != 8) && (t != 0 || s != 0) {
			return nil, connect.NewError(connect.CodeInvalidArgument,
				fmt.Errorf("metadata: trace_id has %d bytes and span_id %d, want 16 and 8", t, s))
		}
	}
	if err := inst.scheduleDelayedCast(req.GetAlias(), req.GetMsg(), req.GetDelay()); err != nil {
		if errors.Is(err, ErrTooManyDelayedCasts) {
			return nil, connect.NewError(connect.CodeResourceExhausted, err)
		}
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	return &emptypb.Empty{}, nil
}

// Sync implements GuestAPIHost.Sync.
func (h *hostServer) Sync(ctx context.Context, req *edgelessapi.SyncData) (*emptypb.Empty, error) {
	inst, err := h.instanceFor(ctx, req.GetOriginator())
	if err != nil {
		return nil, err
	}
	ctx, cancel := inst.hostContext(ctx)
	defer cancel()
	if err := inst.spec.Host.Sync(ctx, req.GetSerializedState()); err != nil {
		return nil, hostError(ctx, "sync", err)
	}
	return &emptypb.Empty{}, nil
}

// rawDestination validates the dst of a raw cast or call.
func rawDestination(dst *edgelessapi.InstanceId) (contract.InstanceID, error) {
	if dst == nil {
		return contract.InstanceID{}, connect.NewError(connect.CodeInvalidArgument, errors.New("dst is missing"))
	}
	id, err := idFromWire(dst)
	if err != nil {
		return contract.InstanceID{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("dst: %w", err))
	}
	return id, nil
}

// callReturn maps the result of a contract.Host call to the wire.
func callReturn(ctx context.Context, op string, rep contract.Reply, err error) (*edgelessapi.CallReturn, error) {
	switch {
	case err == nil:
		if _, ok := edgelessapi.CallRetType_name[int32(rep.Type)]; !ok {
			return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_ERR,
				Msg: fmt.Appendf(nil, "ill-formed reply type %d", rep.Type)}, nil
		}
		return &edgelessapi.CallReturn{Type: rep.Type, Msg: rep.Msg}, nil
	case errors.Is(err, contract.ErrInvalidPayload):
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %w", op, err))
	case ctx.Err() != nil:
		// The caller gave up: it will not read a reply.
		return nil, hostError(ctx, op, ctx.Err())
	default:
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_ERR, Msg: []byte(err.Error())}, nil
	}
}

// hostError maps a contract.Host error to a connect error: this is the only
// place where the node's (contract) errors become GuestAPIHost codes. A
// peer's answer that already carries a code keeps it.
func hostError(ctx context.Context, op string, err error) error {
	err = fmt.Errorf("%s: %w", op, err)
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return connect.NewError(ce.Code(), err)
	case errors.Is(err, contract.ErrOverloaded):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, contract.ErrUnknownDestination):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, contract.ErrInvalidPayload):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, contract.ErrUnknownAlias):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, contract.ErrInstanceStopped):
		return connect.NewError(connect.CodeUnavailable, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	default:
		return connect.NewError(connect.CodeInternal, err)
	}
}
