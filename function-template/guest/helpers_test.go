package guest_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

// fakeHost is a GuestAPIHost server that records every request.
type fakeHost struct {
	url string

	mu       sync.Mutex
	requests []hostRequest
	// callReply answers Call and CallRaw; nil answers CALL_RET_REPLY "reply".
	callReply func(msg []byte) (*edgelessapi.CallReturn, error)
	slf       *edgelessapi.InstanceId
	arrived   chan struct{}
}

// hostRequest is one request that reached the fake host.
type hostRequest struct {
	method string
	msg    proto.Message
	// deadline says whether the request carried a deadline.
	deadline bool
}

var _ edgelessapiconnect.GuestAPIHostHandler = (*fakeHost)(nil)

// startFakeHost serves a fakeHost on 127.0.0.1 (HTTP/1.1 and h2c).
func startFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	h := &fakeHost{arrived: make(chan struct{}, 1000)}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewGuestAPIHostHandler(h))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

func (h *fakeHost) record(ctx context.Context, method string, msg proto.Message) {
	_, deadline := ctx.Deadline()
	h.mu.Lock()
	h.requests = append(h.requests, hostRequest{method: method, msg: msg, deadline: deadline})
	h.mu.Unlock()
	h.arrived <- struct{}{}
}

// got returns the requests received so far.
func (h *fakeHost) got() []hostRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hostRequest(nil), h.requests...)
}

// wait waits until n requests have arrived in total.
func (h *fakeHost) wait(t *testing.T, n int) []hostRequest {
	t.Helper()
	for {
		if got := h.got(); len(got) >= n {
			return got
		}
		select {
		case <-h.arrived:
		case <-t.Context().Done():
			t.Fatalf("host got %d requests, want %d", len(h.got()), n)
		}
	}
}

func (h *fakeHost) reply(msg []byte) (*edgelessapi.CallReturn, error) {
	h.mu.Lock()
	f := h.callReply
	h.mu.Unlock()
	if f == nil {
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("reply")}, nil
	}
	return f(msg)
}

func (h *fakeHost) Cast(ctx context.Context, req *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	h.record(ctx, "Cast", req)
	return &emptypb.Empty{}, nil
}

func (h *fakeHost) CastRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*emptypb.Empty, error) {
	h.record(ctx, "CastRaw", req)
	return &emptypb.Empty{}, nil
}

func (h *fakeHost) Call(ctx context.Context, req *edgelessapi.OutputEventData) (*edgelessapi.CallReturn, error) {
	h.record(ctx, "Call", req)
	return h.reply(req.GetMsg())
}

func (h *fakeHost) CallRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*edgelessapi.CallReturn, error) {
	h.record(ctx, "CallRaw", req)
	return h.reply(req.GetMsg())
}

func (h *fakeHost) TelemetryLog(ctx context.Context, req *edgelessapi.TelemetryLogEvent) (*emptypb.Empty, error) {
	h.record(ctx, "TelemetryLog", req)
	return &emptypb.Empty{}, nil
}

func (h *fakeHost) Slf(ctx context.Context, req *emptypb.Empty) (*edgelessapi.InstanceId, error) {
	h.record(ctx, "Slf", req)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.slf == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("no Slf id set"))
	}
	return h.slf, nil
}

func (h *fakeHost) DelayedCast(ctx context.Context, req *edgelessapi.DelayedEventData) (*emptypb.Empty, error) {
	h.record(ctx, "DelayedCast", req)
	return &emptypb.Empty{}, nil
}

func (h *fakeHost) Sync(ctx context.Context, req *edgelessapi.SyncData) (*emptypb.Empty, error) {
	h.record(ctx, "Sync", req)
	return &emptypb.Empty{}, nil
}

// startServer serves fn with guest.Server.Serve on a 127.0.0.1 port and
// returns the server and its base URL. Cleanup shuts it down and checks
// that Serve returned nil.
func startServer(t *testing.T, fn guest.Function, opts guest.Options) (*guest.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := guest.NewServer(fn, opts)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Serve() = %v, want nil", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}

// protocols are the protocols every server test is run with: Connect over
// HTTP/1.1, and gRPC over h2c as the node dials.
var protocols = []string{"connect", "grpc"}

// newClient returns a GuestAPIFunction client of the server at url that
// speaks protocol.
func newClient(t *testing.T, protocol, url string) edgelessapiconnect.GuestAPIFunctionClient {
	t.Helper()
	switch protocol {
	case "connect":
		return edgelessapiconnect.NewGuestAPIFunctionClient(http.DefaultClient, url)
	case "grpc":
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &p}
		t.Cleanup(tr.CloseIdleConnections)
		return edgelessapiconnect.NewGuestAPIFunctionClient(&http.Client{Transport: tr}, url, connect.WithGRPC())
	}
	t.Fatalf("unknown protocol %q", protocol)
	return nil
}

// testOptions returns server options that log to the test output.
func testOptions(t *testing.T) guest.Options {
	return guest.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

// newID returns a fresh instance id.
func newID() *edgelessapi.InstanceId {
	return &edgelessapi.InstanceId{NodeId: uuid.NewString(), FunctionId: uuid.NewString()}
}

// bootData returns BootData for the fake host with a fresh id.
func bootData(h *fakeHost) *edgelessapi.BootData {
	return &edgelessapi.BootData{GuestApiHostEndpoint: h.url, InstanceId: newID()}
}

// ctxTimeout returns the test context bounded to d, for calls expected to
// end on their own.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err is a connect error with code want.
func wantCode(t *testing.T, what string, err error, want connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || got != want {
		t.Fatalf("%s: error = %v (code %v), want code %v", what, err, got, want)
	}
}

// recorder is a guest.Function whose behaviour tests set per method; it
// records the host handle and what it received.
type recorder struct {
	mu      sync.Mutex
	host    *guest.Host
	payload string
	state   []byte
	inits   int
	stops   int
	casts   [][]byte
	initFn  func() error
	stopFn  func() error
	castFn  func(ctx context.Context, msg []byte) error
	callFn  func(ctx context.Context, msg []byte) (guest.Reply, error)
	lastSrc guest.InstanceID
}

func (r *recorder) Init(_ context.Context, host *guest.Host, payload string, state []byte) error {
	r.mu.Lock()
	r.host, r.payload, r.state = host, payload, state
	r.inits++
	f := r.initFn
	r.mu.Unlock()
	if f != nil {
		return f()
	}
	return nil
}

func (r *recorder) Cast(ctx context.Context, src guest.InstanceID, msg []byte) error {
	r.mu.Lock()
	r.casts = append(r.casts, msg)
	r.lastSrc = src
	f := r.castFn
	r.mu.Unlock()
	if f != nil {
		return f(ctx, msg)
	}
	return nil
}

func (r *recorder) Call(ctx context.Context, src guest.InstanceID, msg []byte) (guest.Reply, error) {
	r.mu.Lock()
	r.lastSrc = src
	f := r.callFn
	r.mu.Unlock()
	if f != nil {
		return f(ctx, msg)
	}
	return guest.ReplyMsg(msg), nil
}

func (r *recorder) Stop(context.Context) error {
	r.mu.Lock()
	r.stops++
	f := r.stopFn
	r.mu.Unlock()
	if f != nil {
		return f()
	}
	return nil
}

func (r *recorder) Host() *guest.Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.host
}
