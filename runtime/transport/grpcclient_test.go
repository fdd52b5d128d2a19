package transport_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeless-go/edgeless/runtime/transport"
)

// TestNewGRPCConn_TalksToConnectServer checks that the grpc-go client and
// this package's connect servers speak the same gRPC, and that the client
// applies its limits: a request or a reply over maxBytes is
// RESOURCE_EXHAUSTED.
func TestNewGRPCConn_TalksToConnectServer(t *testing.T) {
	t.Parallel()
	const limit = 1 << 10
	for _, tt := range []struct {
		name              string
		sendBytes, answer int
		want              codes.Code
	}{
		{"within the limit", 100, 0, codes.OK},
		{"request too large", limit + 1, 0, codes.ResourceExhausted},
		{"reply too large", 10, limit + 1, codes.ResourceExhausted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := serveEcho(t, testLimit, tt.answer)
			conn, err := transport.Config{}.NewGRPCConn(url, limit)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := wrapperspb.Bytes(bytes.Repeat([]byte{'a'}, tt.sendBytes))
			res := new(wrapperspb.BytesValue)
			err = conn.Invoke(t.Context(), echoProcedure, req, res)
			if got := status.Code(err); got != tt.want {
				t.Fatalf("Invoke() = %v, want code %v", err, tt.want)
			}
			if err == nil && !bytes.Equal(res.GetValue(), req.GetValue()) {
				t.Errorf("Invoke() echoed %d bytes, want %d", len(res.GetValue()), len(req.GetValue()))
			}
		})
	}
}

func TestNewGRPCConn_BadURL(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{"https://127.0.0.1:1", "127.0.0.1:1", "http://"} {
		if _, err := (transport.Config{}).NewGRPCConn(raw, 1<<10); err == nil || !strings.Contains(err.Error(), "URL") {
			t.Errorf("NewGRPCConn(%q) = %v, want an error naming the URL", raw, err)
		}
	}
}

// TestNewGRPCConn_PeerRestarts checks that a client whose server went away
// reaches it again soon after it is back (grpc-go's default backoff would
// refuse calls for up to two minutes).
func TestNewGRPCConn_PeerRestarts(t *testing.T) {
	t.Parallel()
	h := connect.NewUnaryHandler(echoProcedure,
		func(_ context.Context, req *connect.Request[wrapperspb.BytesValue]) (*connect.Response[wrapperspb.BytesValue], error) {
			return connect.NewResponse(req.Msg), nil
		}, transport.HandlerOptions(testLimit)...)
	mux := http.NewServeMux()
	mux.Handle(echoProcedure, h)
	serve := func(addr string) (*http.Server, string) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := transport.NewServer(mux, nil)
		go srv.Serve(ln)
		return srv, ln.Addr().String()
	}
	srv, addr := serve("127.0.0.1:0")
	conn, err := transport.Config{}.NewGRPCConn("http://"+addr, testLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	call := func() error {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		return conn.Invoke(ctx, echoProcedure, wrapperspb.Bytes([]byte("x")), new(wrapperspb.BytesValue))
	}
	if err := call(); err != nil {
		t.Fatalf("Invoke() = %v", err)
	}
	srv.Close()
	// 20 s away: with grpc-go's default backoff (1 s, x1.6, jitter 0.2)
	// the next attempt would come 4.6 to 8.6 s after the server is back,
	// more than the 3 s allowed below; with ours, at most 1.2 s after.
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err := call(); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("Invoke() with the server gone = %v, want Unavailable or DeadlineExceeded", err)
		}
	}
	srv, _ = serve(addr)
	defer srv.Close()
	deadline := time.Now().Add(3 * transport.ReconnectMaxDelay)
	for {
		err := call()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Invoke() %s after the server came back = %v, want success", 3*transport.ReconnectMaxDelay, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
