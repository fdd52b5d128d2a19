package transport_test

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
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

// A grpc-go server with TLS reports each failed handshake to
// Config.HandshakeFailed (grpc-go only logs them at its info level): a
// client certificate of another CA, a client without ALPN (refused by
// grpc-go since 1.67), a plain-text client; with the client's address. A
// good client and a port probe that closes at once are not reported.
func TestNewGRPCServer_HandshakeFailed(t *testing.T) {
	t.Parallel()
	dom, other := transporttest.Domain(t), transporttest.Domain(t)
	cfg, failed := reportingServerConfig(t, dom)
	srv, err := cfg.NewGRPCServer(1 << 10)
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
	addr := ln.Addr().String()

	// A good client, then a probe: nothing to report.
	conn, err := transporttest.LoadTLS(t, dom, "cli").ClientConfig().NewGRPCConn("https://"+addr, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check() with a good certificate = %v", err)
	}
	probe(t, addr)

	good := transporttest.LoadTLS(t, dom, "cli").Client
	strange := good.Clone()
	strange.Certificates = transporttest.LoadTLS(t, other, "cli").Client.Certificates
	strange.NextProtos = []string{"h2"}
	noALPN := good.Clone()
	noALPN.NextProtos = nil
	checkHandshakeFailures(t, failed, []badClient{
		{"another CA's certificate", tlsDial(addr, strange), "certificate"},
		{"no ALPN", tlsDial(addr, noALPN), "ALPN"},
		{"plain text", plainDial(addr, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "TLS"},
	})
}

// The net/http server (agent, metrics) reports failed TLS handshakes to
// Config.HandshakeFailed as the grpc-go one does (net/http has no hook:
// its error-log line is read): a client certificate of another CA, no
// client certificate, a plain-text HTTP client; with the client's
// address. A good client and a port probe are not reported, and other
// error-log lines still reach the logger.
func TestNewServer_HandshakeFailed(t *testing.T) {
	t.Parallel()
	dom, other := transporttest.Domain(t), transporttest.Domain(t)
	cfg, failed := reportingServerConfig(t, dom)
	logged := make(chan string, 64)
	log := slog.New(slog.NewTextHandler(lineWriter(logged), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := cfg.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom") // net/http logs it on the server's error log
		}
		_, _ = io.WriteString(w, "ok")
	}), log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go transport.ServeListener(srv, ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	good := transporttest.LoadTLS(t, dom, "cli").Client
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: good.Clone(), ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET with a good certificate = %v", err)
	}
	resp.Body.Close()
	probe(t, addr)
	if resp, err := hc.Get("https://" + addr + "/panic"); err == nil {
		resp.Body.Close()
	}
	for deadline := time.After(10 * time.Second); ; {
		select {
		case line := <-logged:
			if !strings.Contains(line, "panic serving") || !strings.Contains(line, "boom") {
				continue
			}
		case <-deadline:
			t.Error("a handler's panic did not reach the server's logger")
		}
		break
	}

	strange := good.Clone()
	strange.Certificates = transporttest.LoadTLS(t, other, "cli").Client.Certificates
	anonymous := good.Clone()
	anonymous.Certificates = nil
	checkHandshakeFailures(t, failed, []badClient{
		{"another CA's certificate", tlsDial(addr, strange), "certificate"},
		{"no client certificate", tlsDial(addr, anonymous), "certificate"},
		{"plain text", plainDial(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "HTTP request to an HTTPS server"},
	})
	// The handshake errors went to HandshakeFailed only.
	for len(logged) > 0 {
		if line := <-logged; strings.Contains(line, "handshake") {
			t.Errorf("logged %q, want failed handshakes reported to HandshakeFailed only", line)
		}
	}
}

// lineWriter sends each write to its channel: slog's handlers write one
// record a call.
type lineWriter chan<- string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// reportingServerConfig returns the server Config of a node of the test
// domain dom, whose HandshakeFailed sends each report ("addr: error") to
// the returned channel and checks that the address is a TCP one.
func reportingServerConfig(t *testing.T, dom string) (transport.Config, <-chan string) {
	t.Helper()
	failed := make(chan string, 16)
	cfg := transporttest.LoadTLS(t, dom, "node").ServerConfig()
	cfg.HandshakeFailed = func(remote net.Addr, err error) {
		if _, ok := remote.(*net.TCPAddr); !ok {
			t.Errorf("remote %v is a %T, want *net.TCPAddr", remote, remote)
		}
		failed <- fmt.Sprintf("%s: %v", remote, err)
	}
	return cfg, failed
}

// probe connects to addr and closes at once, as a port probe does.
func probe(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// badClient is a client that a TLS server must refuse at the handshake.
type badClient struct {
	name string
	dial func() (net.Conn, error)
	want string // what the server's report must mention
}

// tlsDial dials addr with TLS config cfg.
func tlsDial(addr string, cfg *tls.Config) func() (net.Conn, error) {
	return func() (net.Conn, error) { return tls.Dial("tcp", addr, cfg) }
}

// plainDial dials addr without TLS and sends hello.
func plainDial(addr, hello string) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_, err = io.WriteString(c, hello)
		}
		return c, err
	}
}

// checkHandshakeFailures runs each bad client once, on a raw connection (a
// client library would retry), waiting for the server to close it, and
// checks that failed gets one report of it, with the client's address and
// a mention of its want. Then nothing else may have been reported: the
// good client and the probe run before, long done, were not.
func checkHandshakeFailures(t *testing.T, failed <-chan string, bad []badClient) {
	t.Helper()
	for _, tt := range bad {
		c, err := tt.dial()
		if err == nil {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write([]byte("x")) // a TLS 1.3 client learns of the refusal on its first read
			_, err = io.ReadAll(c)
			c.Close()
		}
		select {
		case got := <-failed:
			if !strings.Contains(got, tt.want) || !strings.HasPrefix(got, "127.0.0.1:") {
				t.Errorf("%s: reported %q, want the client's address and a mention of %q", tt.name, got, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: no failed handshake reported (client: %v)", tt.name, err)
		}
	}
	select {
	case got := <-failed:
		t.Errorf("reported %q, want only the %d bad clients", got, len(bad))
	default:
	}
}
