package guest_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// The floors of the benchmarks: GuestAPIFunction and GuestAPIHost servers
// that do nothing but answer, with no state machine, concurrency limit or
// recovery, on each of the two stacks (connect-go on net/http's h2c, and
// grpc-go), called by a client of the same stack.

type bareEcho struct {
	edgelessapiconnect.UnimplementedGuestAPIFunctionHandler
}

func (bareEcho) Call(_ context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: req.GetMsg()}, nil
}

type bareGRPCEcho struct {
	edgelessapi.UnimplementedGuestAPIFunctionServer
}

func (bareGRPCEcho) Call(_ context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: req.GetMsg()}, nil
}

type bareHost struct {
	edgelessapiconnect.UnimplementedGuestAPIHostHandler
}

func (bareHost) Cast(context.Context, *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

type bareGRPCHost struct {
	edgelessapi.UnimplementedGuestAPIHostServer
}

func (bareGRPCHost) Cast(context.Context, *edgelessapi.OutputEventData) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func listen(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// startConnect serves a connect-go handler on net/http (HTTP/1.1 and h2c)
// and returns its base URL.
func startConnect(b *testing.B, path string, h http.Handler) string {
	ln := listen(b)
	mux := http.NewServeMux()
	mux.Handle(path, h)
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// startGRPC serves register's services on a grpc-go server and returns its
// base URL.
func startGRPC(b *testing.B, register func(*grpc.Server)) string {
	ln := listen(b)
	srv := grpc.NewServer()
	register(srv)
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(srv.Stop)
	return "http://" + ln.Addr().String()
}

// grpcConn returns a grpc-go client connection to the base URL u.
func grpcConn(b *testing.B, u string) *grpc.ClientConn {
	conn, err := grpc.NewClient("passthrough:///"+u[len("http://"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

// echoFunction is the echo written with package guest; it keeps its host
// handle for BenchmarkHostCast.
type echoFunction struct{ host chan *guest.Host }

func (f echoFunction) Init(_ context.Context, h *guest.Host, _ string, _ []byte) error {
	if f.host != nil {
		f.host <- h
	}
	return nil
}
func (echoFunction) Cast(context.Context, guest.InstanceID, []byte) error { return nil }
func (echoFunction) Call(_ context.Context, _ guest.InstanceID, msg []byte) (guest.Reply, error) {
	return guest.ReplyMsg(msg), nil
}
func (echoFunction) Stop(context.Context) error { return nil }

// bootTemplate serves fn with the template, boots it against hostURL and
// initialises it, and returns the server's base URL.
func bootTemplate(b *testing.B, fn guest.Function, hostURL string) string {
	_, u := guesttest.StartServer(b, fn, guest.Options{Logger: slog.New(slog.DiscardHandler)})
	c := guesttest.NewClient(b, "grpc", u)
	if _, err := c.Boot(b.Context(), &edgelessapi.BootData{GuestApiHostEndpoint: hostURL, InstanceId: guesttest.NewID()}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Init(b.Context(), &edgelessapi.FunctionInstanceInit{}); err != nil {
		b.Fatal(err)
	}
	return u
}

// timed is one measured path of a benchmark: a round trip and its total
// time.
type timed struct {
	name  string
	call  func() error
	total atomic.Int64
}

func (p *timed) run(b *testing.B) {
	start := time.Now()
	err := p.call()
	p.total.Add(int64(time.Since(start)))
	if err != nil {
		b.Errorf("%s: %v", p.name, err) // Errorf: also called from RunParallel's goroutines
	}
}

// runPaths runs every path once per iteration, interleaved so that all see
// the same machine state, serially and with parallel callers, and reports
// each path's mean time and its ratio to the floor paths[floor].
func runPaths(b *testing.B, floor int, mk func() []*timed) {
	report := func(b *testing.B, paths []*timed) {
		n := float64(b.N)
		floorNS := float64(paths[floor].total.Load()) / n
		for i, p := range paths {
			ns := float64(p.total.Load()) / n
			b.ReportMetric(ns, p.name+"-ns/op")
			if i != floor {
				b.ReportMetric(ns/floorNS, p.name+"/"+paths[floor].name)
			}
		}
	}
	b.Run("serial", func(b *testing.B) {
		paths := mk()
		for b.Loop() {
			for _, p := range paths {
				p.run(b)
			}
		}
		report(b, paths)
	})
	b.Run("parallel", func(b *testing.B) {
		paths := mk()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				for _, p := range paths {
					p.run(b)
				}
			}
		})
		report(b, paths)
	})
}

// BenchmarkCall measures a Call round trip (gRPC over h2c, 64-byte
// payload) into the template, with the node's two possible clients
// (connect-go with the gRPC protocol, and grpc-go), against the floors of
// a bare echo on each stack called by a client of the same stack, in the
// same run. The metrics are each path's ns/op and its ratio to the
// grpc-go floor (bare-grpc).
func BenchmarkCall(b *testing.B) {
	host := guesttest.NewHost(b)
	template := bootTemplate(b, echoFunction{}, host.URL)
	viaConnect := guesttest.NewClient(b, "grpc", template)
	viaGRPC := edgelessapi.NewGuestAPIFunctionClient(grpcConn(b, template))
	path, h := edgelessapiconnect.NewGuestAPIFunctionHandler(bareEcho{})
	bareConnect := guesttest.NewClient(b, "grpc", startConnect(b, path, h))
	bareGRPC := edgelessapi.NewGuestAPIFunctionClient(grpcConn(b, startGRPC(b, func(s *grpc.Server) {
		edgelessapi.RegisterGuestAPIFunctionServer(s, bareGRPCEcho{})
	})))
	req := &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: make([]byte, 64)}
	check := func(res *edgelessapi.CallReturn, err error) error {
		if err == nil && len(res.GetMsg()) != len(req.Msg) {
			return errWrongEcho
		}
		return err
	}
	runPaths(b, 1, func() []*timed {
		return []*timed{
			{name: "bare-connect", call: func() error { return check(bareConnect.Call(context.Background(), req)) }},
			{name: "bare-grpc", call: func() error { return check(bareGRPC.Call(context.Background(), req)) }},
			{name: "template-connectclient", call: func() error { return check(viaConnect.Call(context.Background(), req)) }},
			{name: "template-grpcclient", call: func() error { return check(viaGRPC.Call(context.Background(), req)) }},
		}
	})
}

// BenchmarkHostCast measures the other half of an event hop inside a
// function: Host.Cast (64-byte payload) from the template's host client to
// a GuestAPIHost server on connect-go (the node's today) and on grpc-go,
// against bare round trips to the same servers (a client of the same
// stack), in the same run. The metrics are each path's ns/op and its ratio
// to the grpc-go floor (bare-grpc).
func BenchmarkHostCast(b *testing.B) {
	path, h := edgelessapiconnect.NewGuestAPIHostHandler(bareHost{})
	connectHost := startConnect(b, path, h)
	grpcHost := startGRPC(b, func(s *grpc.Server) { edgelessapi.RegisterGuestAPIHostServer(s, bareGRPCHost{}) })
	handle := func(hostURL string) *guest.Host {
		hosts := make(chan *guest.Host, 1)
		bootTemplate(b, echoFunction{host: hosts}, hostURL)
		return <-hosts
	}
	toConnect, toGRPC := handle(connectHost), handle(grpcHost)
	bareConnect := edgelessapiconnect.NewGuestAPIHostClient(h2cClient(b), connectHost, connectGRPC()...)
	bareGRPC := edgelessapi.NewGuestAPIHostClient(grpcConn(b, grpcHost))
	msg := make([]byte, 64)
	req := &edgelessapi.OutputEventData{Originator: guesttest.NewID(), Alias: "output", Msg: msg}
	runPaths(b, 1, func() []*timed {
		return []*timed{
			{name: "bare-connect", call: func() error { _, err := bareConnect.Cast(context.Background(), req); return err }},
			{name: "bare-grpc", call: func() error { _, err := bareGRPC.Cast(context.Background(), req); return err }},
			{name: "sdk-to-connecthost", call: func() error { return toConnect.Cast(context.Background(), "output", msg) }},
			{name: "sdk-to-grpchost", call: func() error { return toGRPC.Cast(context.Background(), "output", msg) }},
		}
	})
}

var errWrongEcho = errors.New("the echo is not the payload")

// h2cClient returns an HTTP client that speaks h2c, as the node's
// connect-go clients do.
func h2cClient(b *testing.B) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// connectGRPC are the options of a connect-go client speaking gRPC.
func connectGRPC() []connect.ClientOption {
	return []connect.ClientOption{connect.WithGRPC()}
}
