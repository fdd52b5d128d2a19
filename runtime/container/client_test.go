package container

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// fakeFunction is a grpc-go GuestAPIFunction server: Cast answers the
// status it is given, Call blocks until released, and every request's
// secret is recorded.
type fakeFunction struct {
	edgelessapi.UnimplementedGuestAPIFunctionServer
	castErr error
	callIn  chan struct{} // a Call arrived
	mu      sync.Mutex
	secrets []string
}

func (f *fakeFunction) Boot(ctx context.Context, _ *edgelessapi.BootData) (*emptypb.Empty, error) {
	f.record(ctx)
	return &emptypb.Empty{}, nil
}

func (f *fakeFunction) Cast(ctx context.Context, _ *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	f.record(ctx)
	return &emptypb.Empty{}, f.castErr
}

func (f *fakeFunction) Call(ctx context.Context, _ *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	f.callIn <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (f *fakeFunction) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.secrets...)
}

func (f *fakeFunction) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.secrets = append(f.secrets, md.Get(SecretHeader)...)
	f.mu.Unlock()
}

// serveFake serves f with grpc-go on ln until the test ends (or stop).
func serveFake(t *testing.T, f *fakeFunction, ln net.Listener) (stop func()) {
	t.Helper()
	srv := grpc.NewServer()
	edgelessapi.RegisterGuestAPIFunctionServer(srv, f)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return srv.Stop
}

func testConnection(t *testing.T, addr string) *connection {
	t.Helper()
	cn, err := newConnection("http://"+addr, netip.Addr{}, 1<<20, "s3cret", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cn.close)
	return cn
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestClient_FunctionStatusOrBrokenConnection: a status the function sent
// is told from the same code made up by grpc-go for a refused or broken
// connection, which the crash detection and Boot retries rely on.
func TestClient_FunctionStatusOrBrokenConnection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ln := listen(t)
	for _, code := range []codes.Code{codes.FailedPrecondition, codes.Unavailable, codes.Internal, codes.Unknown} {
		f := &fakeFunction{castErr: status.Error(code, "said the function"), callIn: make(chan struct{}, 1)}
		ln := listen(t)
		serveFake(t, f, ln)
		cn := testConnection(t, ln.Addr().String())
		_, err := cn.fn.Cast(ctx, &edgelessapi.InputEventData{})
		if status.Code(err) != code || !functionSent(err) || transportFailure(err) {
			t.Errorf("function answered %v: err = %v, functionSent %v, transportFailure %v; want code %v, sent by the function, no transport failure",
				code, err, functionSent(err), transportFailure(err), code)
		}
		if s := f.seen(); len(s) != 1 || s[0] != "s3cret" {
			t.Errorf("secrets = %q, want one s3cret", s)
		}
	}

	// Nothing listens: refused.
	addr := ln.Addr().String()
	ln.Close()
	cn := testConnection(t, addr)
	_, err := cn.fn.Cast(ctx, &edgelessapi.InputEventData{})
	if status.Code(err) != codes.Unavailable || functionSent(err) || !transportFailure(err) || !retryableBoot(err) {
		t.Errorf("refused: err = %v, functionSent %v; want UNAVAILABLE, a transport failure, retryable", err, functionSent(err))
	}

	// The function's server goes away during a call.
	f := &fakeFunction{callIn: make(chan struct{}, 1)}
	ln = listen(t)
	stop := serveFake(t, f, ln)
	cn = testConnection(t, ln.Addr().String())
	go func() {
		<-f.callIn
		stop()
	}()
	_, err = cn.fn.Call(ctx, &edgelessapi.InputEventData{})
	if err == nil || functionSent(err) || !transportFailure(err) {
		t.Errorf("server gone during the call: err = %v (code %v), functionSent %v; want a transport failure", err, status.Code(err), functionSent(err))
	}

	// An HTTP/2 server that does not speak gRPC (an error page) did not
	// answer as a function.
	ln = listen(t)
	hs := transport.NewServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	go transport.ServeListener(hs, ln)
	t.Cleanup(func() { hs.Close() })
	cn = testConnection(t, ln.Addr().String())
	_, err = cn.fn.Cast(ctx, &edgelessapi.InputEventData{})
	if err == nil || functionSent(err) {
		t.Errorf("HTTP 404: err = %v, functionSent %v; want an error not sent by a function", err, functionSent(err))
	}
	// A deadline that passes is DEADLINE_EXCEEDED and no broken
	// connection, whichever end noticed it first: the client's timer, or
	// the function's server, which gets the deadline (grpc-timeout) and
	// may answer DEADLINE_EXCEEDED itself a moment earlier.
	f = &fakeFunction{callIn: make(chan struct{}, 1)}
	ln = listen(t)
	serveFake(t, f, ln)
	cn = testConnection(t, ln.Addr().String())
	dctx, dcancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer dcancel()
	_, err = cn.fn.Call(dctx, &edgelessapi.InputEventData{})
	if status.Code(err) != codes.DeadlineExceeded || transportFailure(err) {
		t.Errorf("deadline: err = %v, functionSent %v; want DEADLINE_EXCEEDED, no transport failure", err, functionSent(err))
	}
}

// TestClient_BootWaitsForTheServer: Boot, called before the function
// listens, answers once it does, on the same connection, without failing
// in between (the connection reconnects every few milliseconds).
func TestClient_BootWaitsForTheServer(t *testing.T) {
	t.Parallel()
	ln := listen(t)
	addr := ln.Addr().String()
	ln.Close()
	cn := testConnection(t, addr)
	f := &fakeFunction{callIn: make(chan struct{}, 1)}
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		serveFake(t, f, ln)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := cn.boot(ctx, &edgelessapi.BootData{}); err != nil {
		t.Fatalf("Boot: %v", err)
	}
	if s := f.seen(); len(s) != 1 || s[0] != "s3cret" {
		t.Errorf("Boot secrets = %q, want one s3cret", s)
	}
	// A Boot that cannot succeed ends with its context.
	ln = listen(t)
	addr = ln.Addr().String()
	ln.Close()
	cn = testConnection(t, addr)
	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer scancel()
	if err := cn.boot(sctx, &edgelessapi.BootData{}); status.Code(err) != codes.DeadlineExceeded || !retryableBoot(err) {
		t.Errorf("Boot with nothing listening = %v, want DEADLINE_EXCEEDED", err)
	}
}

// fakeListener hands out connections with the given remote addresses.
type fakeListener struct {
	net.Listener
	conns chan net.Conn
}

func (l fakeListener) Accept() (net.Conn, error) {
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}

type fakeConn struct {
	net.Conn
	remote net.Addr
	closed chan struct{}
}

func (c fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c fakeConn) Close() error         { close(c.closed); return nil }

// TestHost_KnownCallersOnly: the GuestAPIHost listener closes connections
// from addresses that are neither a container of the runtime nor this
// host at accept, and the server refuses such a request before its body;
// both are counted.
func TestHost_KnownCallersOnly(t *testing.T) {
	t.Parallel()
	r, err := New(t.Context(), Config{NodeID: "5b1f3a9e-0000-4000-8000-000000000001", GuestAPIHostURL: "http://127.0.0.1:1",
		NoDocker: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	container := netip.MustParseAddr("192.0.2.7")
	r.byPeer.Store(container, (*Instance)(nil))
	conns := make(chan net.Conn, 3)
	ln := r.KnownCallersOnly(fakeListener{conns: conns})
	stranger := fakeConn{remote: &net.TCPAddr{IP: net.ParseIP("192.0.2.99"), Port: 4000}, closed: make(chan struct{})}
	ctr := fakeConn{remote: &net.TCPAddr{IP: container.AsSlice(), Port: 4001}, closed: make(chan struct{})}
	local := fakeConn{remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4002}, closed: make(chan struct{})}
	conns <- stranger
	conns <- ctr
	conns <- local
	close(conns)
	for _, want := range []fakeConn{ctr, local} {
		c, err := ln.Accept()
		if err != nil || c.RemoteAddr() != want.remote {
			t.Fatalf("Accept = %v, %v; want the connection from %v", c, err, want.remote)
		}
	}
	select {
	case <-stranger.closed:
	default:
		t.Fatal("the stranger's connection is still open")
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after the end = %v", err)
	}
	if got := r.RefusedCallers(); got != 1 {
		t.Fatalf("RefusedCallers = %d after one stranger, want 1", got)
	}

	// Per request (a connection may outlive its container's registration).
	req := func(a netip.Addr) error {
		ctx := peer.NewContext(t.Context(), &peer.Peer{Addr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, 4000))})
		_, err := r.TapKnownCallers(ctx, nil)
		return err
	}
	if err := req(container); err != nil {
		t.Errorf("request from a container: %v", err)
	}
	if err := req(netip.MustParseAddr("::1")); err != nil {
		t.Errorf("request from this host: %v", err)
	}
	if err := req(netip.MustParseAddr("192.0.2.99")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("request from a stranger = %v, want PERMISSION_DENIED", err)
	}
	if got := r.RefusedCallers(); got != 2 {
		t.Fatalf("RefusedCallers = %d, want 2", got)
	}
}

// quietFunction answers every Cast at once, recording nothing.
type quietFunction struct {
	edgelessapi.UnimplementedGuestAPIFunctionServer
}

func (quietFunction) Cast(context.Context, *edgelessapi.InputEventData) (*emptypb.Empty, error) {
	return emptyMsg, nil
}

// BenchmarkFunctionCast is one Cast into a function on loopback through the
// runtime's client (its interceptor and stats handler), with the function's
// grpc-go server in the same process: allocs/op counts both ends, so it
// shows changes to the client's per-call cost (run with -benchmem).
func BenchmarkFunctionCast(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	edgelessapi.RegisterGuestAPIFunctionServer(srv, quietFunction{})
	go srv.Serve(ln)
	defer srv.Stop()
	cn, err := newConnection("http://"+ln.Addr().String(), netip.Addr{}, 1<<20, "s3cret", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cn.close()
	ctx := context.Background()
	req := &edgelessapi.InputEventData{Src: &edgelessapi.InstanceId{NodeId: "n", FunctionId: "f"}, Msg: []byte("lg 1 2 3 1234567890")}
	if _, err := cn.fn.Cast(ctx, req); err != nil { // connect
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cn.fn.Cast(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
