package process_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/edgeless-go/edgeless/node/internal/process"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// grpc-go's own warnings (here: a request in a codec it does not know,
// sent 50 times to a real grpc-go server) reach the program's slog logger
// in its format, once per kind of message per interval with the count.
func TestGRPCLogger(t *testing.T) {
	var logs lockedBuffer
	process.SetGRPCLogger(slog.New(slog.NewJSONHandler(&logs, nil)))
	t.Cleanup(func() { process.SetGRPCLogger(nil) })

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
	client := connect.NewClient[healthpb.HealthCheckRequest, healthpb.HealthCheckResponse](transporttest.Client(),
		"http://"+ln.Addr().String()+"/grpc.health.v1.Health/Check", connect.WithGRPC(), connect.WithProtoJSON())
	for range 50 {
		client.CallUnary(t.Context(), connect.NewRequest(&healthpb.HealthCheckRequest{})) // the warning is what counts
	}

	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q is not the logger's JSON: %v", line, err)
		}
		if strings.Contains(r["msg"].(string), "Unsupported codec") {
			lines = append(lines, r)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d lines about the codec after 50 requests, want 1; log:\n%s", len(lines), logs.String())
	}
	r := lines[0]
	if r["level"] != "WARN" || r["source"] != "grpc-go" || r["grpc_component"] != "core" || r["messages"] != 1.0 {
		t.Errorf("line %v: want level WARN, source grpc-go, grpc_component core, messages 1", r)
	}
}
