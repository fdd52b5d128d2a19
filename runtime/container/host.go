package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// hostServer serves GuestAPIHost. It routes each request by its
// originator to that instance's contract.Host; there is no lock shared
// between instances, so requests of different instances (and concurrent
// requests of one instance) proceed in parallel.
type hostServer struct {
	edgelessapi.UnimplementedGuestAPIHostServer
	rt *Runtime
}

// RegisterGRPC registers the GuestAPIHost service on s, for a node that
// serves it on its own grpc-go server. That server should read messages of
// up to Config.MaxPayloadBytes and refuse unknown callers with
// KnownCallersOnly (on its listener) and TapKnownCallers (per request, as
// its grpc.InTapHandle); NewGRPCServer returns one that does.
func (r *Runtime) RegisterGRPC(s grpc.ServiceRegistrar) {
	edgelessapi.RegisterGuestAPIHostServer(s, &hostServer{rt: r})
}

// NewGRPCServer returns a grpc-go server (plain HTTP/2: gRPC only, no
// gRPC-Web or Connect, which no function template uses) of GuestAPIHost
// that reads and sends messages of up to Config.MaxPayloadBytes and
// refuses, before reading its body, a request from an address that is
// neither one of the runtime's containers nor this host. Serve it on a
// listener wrapped by KnownCallersOnly.
func (r *Runtime) NewGRPCServer() (*grpc.Server, error) {
	srv, err := transport.Config{}.NewGRPCServer(r.cfg.MaxPayloadBytes,
		append(transport.LocalServerOptions(), grpc.InTapHandle(r.TapKnownCallers))...)
	if err != nil {
		return nil, err
	}
	r.RegisterGRPC(srv)
	r.hostSrv.Store(srv)
	return srv, nil
}

// knownCaller reports whether a may call GuestAPIHost at all: it is one of
// the runtime's containers or this host. No other caller can act as any
// instance (see instanceFor), and it should not make the node read (and
// unpack) up to the payload limit first.
func (r *Runtime) knownCaller(a netip.Addr) bool {
	if _, known := r.byPeer.Load(a); known {
		return true
	}
	return isHostAddr(a)
}

// KnownCallersOnly wraps the GuestAPIHost server's listener: it closes, as
// soon as they are accepted, connections from addresses that are not
// known callers (counted in RefusedCallers, logged at most once per
// lograte.Every).
func (r *Runtime) KnownCallersOnly(ln net.Listener) net.Listener {
	return knownCallersListener{Listener: ln, rt: r}
}

type knownCallersListener struct {
	net.Listener
	rt *Runtime
}

// Accept returns the next connection from a known caller.
func (l knownCallersListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		a := netAddr(c.RemoteAddr())
		if l.rt.knownCaller(a) {
			return c, nil
		}
		_ = c.Close()
		l.rt.refuseCaller(a, "connection closed at accept: neither a container of this node nor this host")
	}
}

// TapKnownCallers, a grpc-go tap.ServerInHandle, refuses a request from
// an unknown caller (PERMISSION_DENIED) once its headers have arrived,
// before its body is read: a connection accepted from a container may
// outlive the container's registration. On a container's host socket,
// the caller is known while an instance owns the container (not while
// it is pooled, nor after its end).
func (r *Runtime) TapKnownCallers(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if s := callerSockets(ctx); s != nil {
		if s.owner.Load() != nil && !s.isClosed() {
			r.hostSockRequests.Add(1)
			return ctx, nil
		}
		r.refuseCaller(s.addr, "request refused: the container of this socket runs no instance")
		return ctx, status.Errorf(codes.PermissionDenied, "no instance runs in the container of %s", s.addr)
	}
	a := peerAddr(ctx)
	if r.knownCaller(a) {
		return ctx, nil
	}
	r.refuseCaller(a, "request refused: neither a container of this node nor this host")
	return ctx, status.Errorf(codes.PermissionDenied, "no instance runs at the calling address %s", a)
}

// refuseCaller counts a refused connection or request and logs it,
// rate-limited.
func (r *Runtime) refuseCaller(a fmt.Stringer, what string) {
	n := r.refusedCallers.Add(1)
	if due, _ := r.refuseLog.Note(time.Now()); !due {
		return
	}
	r.log.Warn("guest api host: caller refused (the next refusals in 10 s are only counted)",
		slog.String("what", what), slog.String("peer", a.String()), slog.Uint64("refused_total", n))
}

// RefusedCallers counts the GuestAPIHost connections and requests refused
// because their address was neither a container of the runtime nor this
// host, and the requests refused because their originator did not belong
// to the calling address.
func (r *Runtime) RefusedCallers() uint64 { return r.refusedCallers.Load() }

// netAddr returns the IP address of a net.Addr (invalid if it has none).
func netAddr(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// rpcError is an error with the gRPC code the server answers it with; it
// wraps its cause.
type rpcError struct {
	code codes.Code
	err  error
}

func newError(code codes.Code, err error) error { return &rpcError{code: code, err: err} }

func (e *rpcError) Error() string { return e.code.String() + ": " + e.err.Error() }

func (e *rpcError) Unwrap() error { return e.err }

// GRPCStatus returns the status the server sends for e.
func (e *rpcError) GRPCStatus() *status.Status { return status.New(e.code, e.err.Error()) }

// instanceFor finds the instance that sent a request and checks that the
// request's connection belongs to it: a container instance's requests must
// come from its container's own address, and a grpc: instance's requests
// from an address of this host (see doc.go). The error carries its gRPC code.
func (h *hostServer) instanceFor(ctx context.Context, originator *edgelessapi.InstanceId) (*Instance, error) {
	if originator == nil {
		return nil, newError(codes.InvalidArgument, errors.New("missing originator"))
	}
	id, err := idFromWire(originator)
	if err != nil {
		return nil, newError(codes.InvalidArgument, fmt.Errorf("originator: %w", err))
	}
	v, ok := h.rt.instances.Load(id)
	if !ok {
		return nil, newError(codes.NotFound,
			fmt.Errorf("unknown originator %s/%s: no such instance on node %s", id.NodeID, id.FunctionID, h.rt.cfg.NodeID))
	}
	inst := v.(*Instance)
	cn := inst.conn.Load()
	if cn == nil {
		return nil, newError(codes.Unavailable,
			fmt.Errorf("instance %s is not booted yet", id.FunctionID))
	}
	if isClosed(inst.containerEnded()) {
		// Its address may already belong to a new container.
		return nil, newError(codes.Unavailable,
			fmt.Errorf("instance %s has ended", id.FunctionID))
	}
	if s := callerSockets(ctx); s != nil {
		// The container's own socket: it may act as its instance only.
		if s.owner.Load() != inst {
			h.rt.refuseCaller(s.addr, "request with a spoofed originator "+id.FunctionID)
			return nil, newError(codes.PermissionDenied,
				fmt.Errorf("originator %s does not belong to the calling socket %s", id.FunctionID, s.addr))
		}
		return inst, nil
	}
	from := peerAddr(ctx)
	if !inst.peerAllowed(cn, from) {
		h.rt.refuseCaller(from, "request with a spoofed originator "+id.FunctionID)
		return nil, newError(codes.PermissionDenied,
			fmt.Errorf("originator %s does not belong to the calling address %s", id.FunctionID, from))
	}
	return inst, nil
}

// peerAddr returns the IP address of the request's peer (invalid if
// unknown).
func peerAddr(ctx context.Context) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return netip.Addr{}
	}
	return netAddr(p.Addr)
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
	if contract.IsCanonicalUUID(p.GetNodeId()) && contract.IsCanonicalUUID(p.GetFunctionId()) {
		// What the templates send (the ids they were booted with): no copies.
		return contract.InstanceID{NodeID: p.GetNodeId(), FunctionID: p.GetFunctionId()}, nil
	}
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
			return emptyMsg, nil
		}
		return nil, hostError(ctx, "cast", err)
	}
	return emptyMsg, nil
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
	return emptyMsg, nil
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
		return nil, newError(codes.InvalidArgument,
			fmt.Errorf("unknown log_level %d", req.GetLogLevel()))
	}
	ctx, cancel := inst.hostContext(ctx)
	defer cancel()
	inst.spec.Host.TelemetryLog(ctx, req.GetLogLevel(), req.GetTarget(), req.GetMsg())
	return emptyMsg, nil
}

// Slf implements GuestAPIHost.Slf: it returns the caller's own id (upstream
// returns a fixed "none" id). The request carries no originator, so the
// caller is found by its address: a container by its bridge address; a
// process on this host is answered only if exactly one grpc: instance runs.
func (h *hostServer) Slf(ctx context.Context, _ *emptypb.Empty) (*edgelessapi.InstanceId, error) {
	if s := callerSockets(ctx); s != nil {
		if i := s.owner.Load(); i != nil {
			return toProtoID(i.id), nil
		}
		return nil, newError(codes.NotFound, fmt.Errorf("no instance runs in the container of %s", s.addr))
	}
	from := peerAddr(ctx)
	if v, ok := h.rt.byPeer.Load(from); ok {
		return toProtoID(v.(*Instance).id), nil
	}
	if isHostAddr(from) {
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
			return nil, newError(codes.FailedPrecondition,
				fmt.Errorf("caller %s is on this host and several grpc: instances run; cannot tell which one calls (remember the id from Boot)", from))
		}
	}
	return nil, newError(codes.NotFound, fmt.Errorf("no instance runs at the calling address %s", from))
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
			return nil, newError(codes.InvalidArgument,
				fmt.Errorf("metadata: trace_id has %d bytes and span_id %d, want 16 and 8", t, s))
		}
	}
	if err := inst.scheduleDelayedCast(req.GetAlias(), req.GetMsg(), req.GetDelay()); err != nil {
		if errors.Is(err, ErrTooManyDelayedCasts) {
			return nil, newError(codes.ResourceExhausted, err)
		}
		return nil, newError(codes.Unavailable, err)
	}
	return emptyMsg, nil
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
	return emptyMsg, nil
}

// rawDestination validates the dst of a raw cast or call.
func rawDestination(dst *edgelessapi.InstanceId) (contract.InstanceID, error) {
	if dst == nil {
		return contract.InstanceID{}, newError(codes.InvalidArgument, errors.New("dst is missing"))
	}
	id, err := idFromWire(dst)
	if err != nil {
		return contract.InstanceID{}, newError(codes.InvalidArgument, fmt.Errorf("dst: %w", err))
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
		return nil, newError(codes.InvalidArgument, fmt.Errorf("%s: %w", op, err))
	case ctx.Err() != nil:
		// The caller gave up: it will not read a reply.
		return nil, hostError(ctx, op, ctx.Err())
	default:
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_ERR, Msg: []byte(err.Error())}, nil
	}
}

// hostError maps a contract.Host error to a gRPC error: this is the only
// place where the node's (contract) errors become GuestAPIHost codes. A
// peer's answer that already carries a code (a connect-go or a grpc-go
// error) keeps it.
func hostError(ctx context.Context, op string, err error) error {
	err = fmt.Errorf("%s: %w", op, err)
	var ce *connect.Error
	var gs interface{ GRPCStatus() *status.Status }
	switch {
	case errors.As(err, &ce):
		return newError(codes.Code(ce.Code()), err) // connect's codes are gRPC's
	case errors.As(err, &gs):
		return newError(gs.GRPCStatus().Code(), err)
	case errors.Is(err, contract.ErrOverloaded):
		return newError(codes.ResourceExhausted, err)
	case errors.Is(err, contract.ErrUnknownDestination):
		return newError(codes.NotFound, err)
	case errors.Is(err, contract.ErrInvalidPayload):
		return newError(codes.InvalidArgument, err)
	case errors.Is(err, contract.ErrUnknownAlias):
		return newError(codes.NotFound, err)
	case errors.Is(err, contract.ErrInstanceStopped):
		return newError(codes.Unavailable, err)
	case errors.Is(err, context.DeadlineExceeded):
		return newError(codes.DeadlineExceeded, err)
	case errors.Is(err, context.Canceled):
		return newError(codes.Canceled, err)
	default:
		return newError(codes.Internal, err)
	}
}
