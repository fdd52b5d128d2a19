package guest_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// bareEcho is the floor: a GuestAPIFunction handler that only echoes Call,
// with no state machine, concurrency limit or recovery.
type bareEcho struct {
	edgelessapiconnect.UnimplementedGuestAPIFunctionHandler
}

func (bareEcho) Call(_ context.Context, req *edgelessapi.InputEventData) (*edgelessapi.CallReturn, error) {
	return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: req.GetMsg()}, nil
}

// startBare serves bareEcho the way guest.Server.Serve serves a function.
func startBare(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(edgelessapiconnect.NewGuestAPIFunctionHandler(bareEcho{}))
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// echoFunction is the same echo written with package guest.
type echoFunction struct{}

func (echoFunction) Init(context.Context, *guest.Host, string, []byte) error { return nil }
func (echoFunction) Cast(context.Context, guest.InstanceID, []byte) error    { return nil }
func (echoFunction) Call(_ context.Context, _ guest.InstanceID, msg []byte) (guest.Reply, error) {
	return guest.ReplyMsg(msg), nil
}
func (echoFunction) Stop(context.Context) error { return nil }

// BenchmarkCall measures a Call round trip (gRPC over h2c, as the node
// calls, 64-byte payload) through the template and through a bare Connect
// echo handler in the same run, interleaved so that both see the same
// machine state, and reports both times and their ratio (template/bare).
func BenchmarkCall(b *testing.B) {
	host := guesttest.NewHost(b)
	_, templateURL := guesttest.StartServer(b, echoFunction{}, guest.Options{Logger: slog.New(slog.DiscardHandler)})
	template := guesttest.NewClient(b, "grpc", templateURL)
	if _, err := template.Boot(b.Context(), guesttest.BootData(host)); err != nil {
		b.Fatal(err)
	}
	if _, err := template.Init(b.Context(), &edgelessapi.FunctionInstanceInit{}); err != nil {
		b.Fatal(err)
	}
	bare := guesttest.NewClient(b, "grpc", startBare(b))
	req := &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: make([]byte, 64)}

	call := func(c edgelessapiconnect.GuestAPIFunctionClient, total *atomic.Int64) {
		start := time.Now()
		res, err := c.Call(context.Background(), req)
		total.Add(int64(time.Since(start)))
		if err != nil || len(res.GetMsg()) != len(req.Msg) {
			b.Errorf("Call() = %v, %v", res, err) // Errorf: also called from RunParallel's goroutines
		}
	}
	report := func(b *testing.B, bareTotal, templateTotal *atomic.Int64) {
		n := float64(b.N)
		bareNS, templateNS := float64(bareTotal.Load())/n, float64(templateTotal.Load())/n
		b.ReportMetric(bareNS, "bare-ns/call")
		b.ReportMetric(templateNS, "template-ns/call")
		b.ReportMetric(templateNS/bareNS, "template/bare")
	}

	b.Run("serial", func(b *testing.B) {
		var bareTotal, templateTotal atomic.Int64
		for b.Loop() {
			call(bare, &bareTotal)
			call(template, &templateTotal)
		}
		report(b, &bareTotal, &templateTotal)
	})
	b.Run("parallel", func(b *testing.B) {
		var bareTotal, templateTotal atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				call(bare, &bareTotal)
				call(template, &templateTotal)
			}
		})
		report(b, &bareTotal, &templateTotal)
	})
}
