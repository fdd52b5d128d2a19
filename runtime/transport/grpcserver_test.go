package transport_test

import (
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/edgeless-go/edgeless/runtime/transport"
)

// The grpc-go server bounds request headers as the net/http servers do
// (1 MiB, where grpc-go's default is 16 MiB): a call with 2 MiB of
// metadata is refused, one with 100 KiB is served.
func TestNewGRPCServer_HeaderLimit(t *testing.T) {
	t.Parallel()
	srv, err := transport.Config{}.NewGRPCServer(1 << 10)
	if err != nil {
		t.Fatal(err)
	}
	healthpb.RegisterHealthServer(srv, health.NewServer())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	conn, err := transport.Config{}.NewGRPCConn("http://"+ln.Addr().String(), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := healthpb.NewHealthClient(conn)
	for _, tt := range []struct {
		name   string
		header int
		ok     bool
	}{
		{"100 KiB of headers", 100 << 10, true},
		{"2 MiB of headers", 2 << 20, false},
	} {
		ctx := metadata.AppendToOutgoingContext(t.Context(), "x-filler", strings.Repeat("a", tt.header))
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if (err == nil) != tt.ok {
			t.Errorf("%s: Check() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
