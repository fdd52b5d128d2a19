package transport_test

import (
	"bytes"
	"strings"
	"testing"

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
