package dataplane

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// waitTimeout guards every wait in the tests: a failure, never a measurement.
const waitTimeout = 10 * time.Second

// received is one event a fakeReceiver got.
type received struct {
	src contract.InstanceID
	msg []byte
}

// fakeReceiver stands in for a container instance.
type fakeReceiver struct {
	casts  chan received
	onCast func(ctx context.Context, src contract.InstanceID, msg []byte) error
	onCall func(ctx context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error)
}

func newFakeReceiver() *fakeReceiver {
	return &fakeReceiver{casts: make(chan received, 1024)}
}

func (f *fakeReceiver) Cast(ctx context.Context, src contract.InstanceID, msg []byte) error {
	if f.onCast != nil {
		if err := f.onCast(ctx, src, msg); err != nil {
			return err
		}
	}
	f.casts <- received{src: src, msg: msg}
	return nil
}

func (f *fakeReceiver) Call(ctx context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error) {
	if f.onCall != nil {
		return f.onCall(ctx, src, msg)
	}
	return reply(msg), nil
}

// holdCasts makes each cast of f wait until release is closed (or the
// cast's context ends); taken gets a value as each begins (buffered: up to
// 16 not yet received).
func (f *fakeReceiver) holdCasts() (taken <-chan struct{}, release chan struct{}) {
	began, release := make(chan struct{}, 16), make(chan struct{})
	f.onCast = func(ctx context.Context, _ contract.InstanceID, _ []byte) error {
		began <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return began, release
}

// next returns the next cast the receiver got.
func (f *fakeReceiver) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-f.casts:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no cast received")
		return received{}
	}
}

func reply(msg []byte) contract.Reply {
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: msg}
}

func newTestDataplane(t testing.TB, cfg Config) *Dataplane {
	t.Helper()
	if cfg.NodeID == "" {
		cfg.NodeID = uuid.NewString()
	}
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := New(cfg)
	t.Cleanup(d.Close)
	return d
}

// instance registers and attaches a fake receiver on d.
func instance(t *testing.T, d *Dataplane) (*Mailbox, *fakeReceiver) {
	t.Helper()
	r := newFakeReceiver()
	h := d.Register(contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()})
	h.Attach(r)
	return h, r
}

// callAsync runs from.CallRaw(ctx, to, msg) on a goroutine of its own;
// the channel (buffered) receives what it returned (reply and error).
func callAsync(ctx context.Context, from *Mailbox, to contract.InstanceID, msg string) <-chan callResult {
	done := make(chan callResult, 1)
	go func() {
		r, err := from.CallRaw(ctx, to, []byte(msg))
		done <- callResult{reply: r, err: err}
	}()
	return done
}

// serveH2C serves h on a real 127.0.0.1 socket with HTTP/1.1 and h2c, as
// the node does, and returns its URL.
func serveH2C(t testing.TB, path string, h http.Handler) string {
	t.Helper()
	return transporttest.Serve(t, path, h)
}

// serve serves d's FunctionInvocation as the node does (NewGRPCServer:
// grpc-go, plain text) on a real 127.0.0.1 socket and returns its URL.
func serve(t testing.TB, d *Dataplane) string {
	t.Helper()
	return serveWith(t, d, transport.Config{})
}

// serveWith is serve with the server's TLS config in c.
func serveWith(t testing.TB, d *Dataplane, c transport.Config) string {
	t.Helper()
	srv, err := d.NewGRPCServer(c)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	scheme := "http://"
	if c.TLS != nil {
		scheme = "https://"
	}
	return scheme + ln.Addr().String()
}

// twoNodes returns two data planes serving FunctionInvocation and peered
// with each other.
func twoNodes(t testing.TB, cfg1, cfg2 Config) (*Dataplane, *Dataplane) {
	t.Helper()
	return twoNodesWith(t, cfg1, cfg2, transport.Config{})
}

// twoNodesWith is twoNodes whose FunctionInvocation servers use srv (e.g.
// TLS); the peers' clients use each Config's Transport.
func twoNodesWith(t testing.TB, cfg1, cfg2 Config, srv transport.Config) (*Dataplane, *Dataplane) {
	t.Helper()
	d1, d2 := newTestDataplane(t, cfg1), newTestDataplane(t, cfg2)
	u1, u2 := serveWith(t, d1, srv), serveWith(t, d2, srv)
	for _, p := range []struct {
		d      *Dataplane
		id, at string
	}{{d1, d2.NodeID(), u2}, {d2, d1.NodeID(), u1}} {
		if err := p.d.AddPeer(p.id, p.at); err != nil {
			t.Fatalf("AddPeer(%s, %s) = %v", p.id, p.at, err)
		}
	}
	return d1, d2
}

// grpcClient is a FunctionInvocation client as other-language peers use it:
// gRPC over h2c only.
func grpcClient(url string) edgelessapiconnect.FunctionInvocationClient {
	return edgelessapiconnect.NewFunctionInvocationClient(transporttest.Client(), url, connect.WithGRPC())
}

// connectClient is a FunctionInvocation client speaking the Connect
// protocol over HTTP/1.1.
func connectClient(url string) edgelessapiconnect.FunctionInvocationClient {
	return edgelessapiconnect.NewFunctionInvocationClient(http.DefaultClient, url)
}

// recordingPeer is a real FunctionInvocation server that records what it
// gets and never answers calls, like an upstream node that cannot route.
type recordingPeer struct {
	nodeID string
	url    string
	events chan *edgelessapi.Event
}

func (p *recordingPeer) Handle(_ context.Context, ev *edgelessapi.Event) (*emptypb.Empty, error) {
	p.events <- ev
	return &emptypb.Empty{}, nil
}

func newRecordingPeer(t *testing.T) *recordingPeer {
	t.Helper()
	p := &recordingPeer{nodeID: uuid.NewString(), events: make(chan *edgelessapi.Event, 64)}
	path, h := edgelessapiconnect.NewFunctionInvocationHandler(p)
	p.url = serveH2C(t, path, h)
	return p
}

func (p *recordingPeer) next(t *testing.T) *edgelessapi.Event {
	t.Helper()
	select {
	case ev := <-p.events:
		return ev
	case <-time.After(waitTimeout):
		t.Fatal("peer received no event")
		return nil
	}
}

func (p *recordingPeer) id() contract.InstanceID {
	return contract.InstanceID{NodeID: p.nodeID, FunctionID: uuid.NewString()}
}
