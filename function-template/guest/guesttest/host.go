// Package guesttest helps test EDGELESS functions written with package
// guest, on real sockets: a fake node (GuestAPIHost server) that records
// what a function sends, an in-process function server, and clients that
// drive it as a node would.
package guesttest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Host is a fake node: a GuestAPIHost server on 127.0.0.1 (HTTP/1.1 and
// h2c) that records every request and answers Call and CallRaw as told.
type Host struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:40123": the
	// guest_api_host_endpoint to send in Boot.
	URL string

	mu        sync.Mutex
	requests  []Request
	callReply func(Request) (*edgelessapi.CallReturn, error)
	slf       *edgelessapi.InstanceId
	arrived   chan struct{}
}

// Request is one request that reached the Host.
type Request struct {
	// Method is the GuestAPIHost method, e.g. "Cast".
	Method string
	// Msg is the request message, e.g. *edgelessapi.OutputEventData.
	Msg proto.Message
	// HasDeadline says whether the request carried a deadline.
	HasDeadline bool
}

var _ edgelessapiconnect.GuestAPIHostHandler = (*Host)(nil)

// NewHost starts a Host on 127.0.0.1; t.Cleanup stops it.
func NewHost(t testing.TB) *Host {
	t.Helper()
	return NewHostListener(t, nil)
}

// NewHostListener starts a Host on ln (nil: a 127.0.0.1 port), e.g. on the
// Docker bridge gateway so that containers reach it; t.Cleanup stops it.
func NewHostListener(t testing.TB, ln net.Listener) *Host {
	t.Helper()
	h := &Host{arrived: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewGuestAPIHostHandler(h,
		connect.WithReadMaxBytes(1<<31-1), connect.WithSendMaxBytes(1<<31-1)))
	srv := httptest.NewUnstartedServer(mux)
	if ln != nil {
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// SetCallReply sets how Call and CallRaw are answered. By default they
// answer CALL_RET_REPLY with the message "reply".
func (h *Host) SetCallReply(f func(Request) (*edgelessapi.CallReturn, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.callReply = f
}

// SetSlf sets the answer of Slf. By default Slf fails with UNIMPLEMENTED.
func (h *Host) SetSlf(id *edgelessapi.InstanceId) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.slf = id
}

// Requests returns the requests received so far, in order.
func (h *Host) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.requests...)
}

// WaitTimeout bounds Wait: a guard against a hanging test, not a
// measurement.
const WaitTimeout = 10 * time.Second

// Wait waits until n requests have arrived in total and returns them all;
// it fails the test if they have not arrived within WaitTimeout.
func (h *Host) Wait(t testing.TB, n int) []Request {
	t.Helper()
	timeout := time.NewTimer(WaitTimeout)
	defer timeout.Stop()
	for {
		if got := h.Requests(); len(got) >= n {
			return got
		}
		select {
		case <-h.arrived:
		case <-timeout.C:
			t.Fatalf("host got %d requests within %s, want %d", len(h.Requests()), WaitTimeout, n)
		}
	}
}

func (h *Host) record(ctx context.Context, method string, msg proto.Message) Request {
	_, deadline := ctx.Deadline()
	r := Request{Method: method, Msg: msg, HasDeadline: deadline}
	h.mu.Lock()
	h.requests = append(h.requests, r)
	h.mu.Unlock()
	select {
	case h.arrived <- struct{}{}:
	default: // a wake-up is already pending
	}
	return r
}

func (h *Host) reply(r Request) (*edgelessapi.CallReturn, error) {
	h.mu.Lock()
	f := h.callReply
	h.mu.Unlock()
	if f == nil {
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte("reply")}, nil
	}
	return f(r)
}

// Cast implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) Cast(ctx context.Context, req *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	h.record(ctx, "Cast", req)
	return &emptypb.Empty{}, nil
}

// CastRaw implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) CastRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*emptypb.Empty, error) {
	h.record(ctx, "CastRaw", req)
	return &emptypb.Empty{}, nil
}

// Call implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) Call(ctx context.Context, req *edgelessapi.OutputEventData) (*edgelessapi.CallReturn, error) {
	return h.reply(h.record(ctx, "Call", req))
}

// CallRaw implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) CallRaw(ctx context.Context, req *edgelessapi.OutputEventDataRaw) (*edgelessapi.CallReturn, error) {
	return h.reply(h.record(ctx, "CallRaw", req))
}

// TelemetryLog implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) TelemetryLog(ctx context.Context, req *edgelessapi.TelemetryLogEvent) (*emptypb.Empty, error) {
	h.record(ctx, "TelemetryLog", req)
	return &emptypb.Empty{}, nil
}

// Slf implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) Slf(ctx context.Context, req *emptypb.Empty) (*edgelessapi.InstanceId, error) {
	h.record(ctx, "Slf", req)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.slf == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("fake host: no Slf answer set"))
	}
	return h.slf, nil
}

// DelayedCast implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) DelayedCast(ctx context.Context, req *edgelessapi.DelayedEventData) (*emptypb.Empty, error) {
	h.record(ctx, "DelayedCast", req)
	return &emptypb.Empty{}, nil
}

// Sync implements edgelessapiconnect.GuestAPIHostHandler.
func (h *Host) Sync(ctx context.Context, req *edgelessapi.SyncData) (*emptypb.Empty, error) {
	h.record(ctx, "Sync", req)
	return &emptypb.Empty{}, nil
}
