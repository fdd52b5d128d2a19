package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

const (
	testLimit     = 1 << 20
	echoProcedure = "/test.Echo/Echo"
)

// serveEcho serves a handler with the limit maxBytes that answers
// replyBytes bytes of 'b', or (replyBytes 0) the request itself.
func serveEcho(t *testing.T, maxBytes, replyBytes int) string {
	t.Helper()
	h := connect.NewUnaryHandler(echoProcedure,
		func(_ context.Context, req *connect.Request[wrapperspb.BytesValue]) (*connect.Response[wrapperspb.BytesValue], error) {
			if replyBytes > 0 {
				return connect.NewResponse(wrapperspb.Bytes(bytes.Repeat([]byte{'b'}, replyBytes))), nil
			}
			return connect.NewResponse(req.Msg), nil
		}, transport.HandlerOptions(maxBytes)...)
	return transporttest.Serve(t, echoProcedure, h)
}

func echoClient(url string, opts ...connect.ClientOption) *connect.Client[wrapperspb.BytesValue, wrapperspb.BytesValue] {
	return connect.NewClient[wrapperspb.BytesValue, wrapperspb.BytesValue](transporttest.Client(), url+echoProcedure, opts...)
}

func TestHandlerOptions_OversizeRefused(t *testing.T) {
	t.Parallel()
	url := serveEcho(t, testLimit, 0)
	for _, tt := range []struct {
		name string
		body []byte
		gz   bool
	}{
		{"plain", transporttest.Message(testLimit + 1), false},
		{"gzip bomb", transporttest.GzipBomb(64 << 20), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if code, msg := transporttest.PostGRPC(t, url, echoProcedure, tt.body, tt.gz); code != connect.CodeResourceExhausted {
				t.Errorf("gRPC %d-byte request (gzip %v) = %v %q, want %v", len(tt.body), tt.gz, code, msg, connect.CodeResourceExhausted)
			}
		})
	}
	// The Connect protocol (and its gzip) is limited the same way.
	for _, gz := range []bool{false, true} {
		opts := []connect.ClientOption{}
		if gz {
			opts = append(opts, connect.WithSendGzip())
		}
		_, err := echoClient(url, opts...).CallUnary(t.Context(), connect.NewRequest(wrapperspb.Bytes(make([]byte, 2*testLimit))))
		if connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Errorf("Connect %d-byte request (gzip %v) = %v, want %v", 2*testLimit, gz, err, connect.CodeResourceExhausted)
		}
	}
}

func TestHandlerOptions_WithinLimitServed(t *testing.T) {
	t.Parallel()
	url := serveEcho(t, testLimit, 0)
	msg := bytes.Repeat([]byte{'x'}, testLimit-16) // the limit counts the field's tag and length too
	for _, gz := range []bool{false, true} {
		opts := transport.ClientOptions(testLimit)
		if gz {
			opts = append(opts, connect.WithSendGzip())
		}
		res, err := echoClient(url, opts...).CallUnary(t.Context(), connect.NewRequest(wrapperspb.Bytes(msg)))
		if err != nil {
			t.Fatalf("Echo(%d bytes, gzip %v) = %v", len(msg), gz, err)
		}
		if got := len(res.Msg.GetValue()); got != len(msg) {
			t.Errorf("Echo(%d bytes, gzip %v) answered %d bytes", len(msg), gz, got)
		}
	}
}

// TestHandlerOptions_GzipBombMemoryFlat sends 1 GiB packed into about
// 1 MiB, eight times: a server that unpacked it would allocate 8 GiB.
// Not parallel, so that other tests' allocations do not count.
func TestHandlerOptions_GzipBombMemoryFlat(t *testing.T) {
	url := serveEcho(t, testLimit, 0)
	const bombUnpacked = 1 << 30
	bomb := transporttest.GzipBomb(bombUnpacked)
	const sends = 8
	alloc := transporttest.Allocated(func() {
		for range sends {
			if code, msg := transporttest.PostGRPC(t, url, echoProcedure, bomb, true); code != connect.CodeResourceExhausted {
				t.Fatalf("gzip bomb = %v %q, want %v", code, msg, connect.CodeResourceExhausted)
			}
		}
	})
	// Generous (buffers of the limit's size, the bomb itself, the race
	// detector): an eighth of what unpacking would take.
	if bound := uint64(sends * bombUnpacked / 8); alloc > bound {
		t.Errorf("%d gzip bombs of %d bytes (1 GiB unpacked) allocated %d bytes, want at most %d", sends, len(bomb), alloc, bound)
	}
}

func TestClientOptions_Limits(t *testing.T) {
	t.Parallel()
	t.Run("read", func(t *testing.T) {
		t.Parallel()
		url := serveEcho(t, testLimit, 2*testLimit) // answers more than the client reads
		_, err := echoClient(url, transport.ClientOptions(testLimit)...).CallUnary(t.Context(), connect.NewRequest(wrapperspb.Bytes([]byte("hi"))))
		if connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Errorf("Echo with a %d-byte answer = %v, want %v", 2*testLimit, err, connect.CodeResourceExhausted)
		}
	})
	t.Run("send", func(t *testing.T) {
		t.Parallel()
		url := serveEcho(t, 4*testLimit, 0)
		_, err := echoClient(url, transport.ClientOptions(testLimit)...).CallUnary(t.Context(), connect.NewRequest(wrapperspb.Bytes(make([]byte, 2*testLimit))))
		if connect.CodeOf(err) != connect.CodeResourceExhausted {
			t.Errorf("Echo of %d bytes = %v, want %v", 2*testLimit, err, connect.CodeResourceExhausted)
		}
	})
}

// TestHandlerOptions_CompressMinBytes: the profile showed tiny answers
// being gzipped; only messages of CompressMinBytes or more are.
func TestHandlerOptions_CompressMinBytes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		reply    int
		wantGzip bool
	}{
		{10, false},
		{transport.CompressMinBytes * 4, true},
	} {
		url := serveEcho(t, testLimit, tt.reply)
		frame := []byte{0, 0, 0, 0, 0} // an empty message
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+echoProcedure, bytes.NewReader(frame))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Grpc-Accept-Encoding", "gzip")
		resp, err := transporttest.Client().Do(req)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(body) < 5 {
			t.Fatalf("answer body %q, %v: want a gRPC message", body, err)
		}
		// The header names the encoding; each message's flag byte says
		// whether it is compressed.
		if got := body[0] == 1; got != tt.wantGzip {
			t.Errorf("%d-byte answer gzipped = %v, want %v", tt.reply, got, tt.wantGzip)
		}
	}
}

func TestConfig_CheckURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url     string
		wantErr string // empty: accepted
	}{
		{"http://127.0.0.1:7001", ""},
		{"http://localhost:7001/", ""},
		{"https://127.0.0.1:7001", `URL "https://127.0.0.1:7001": https needs a TLS client config (tls_config.toml with [client] client_ca_path), want http://<host>:<port>`},
		{"127.0.0.1:7001", `URL "127.0.0.1:7001": want http://<host>:<port>`},
		{"grpc://h:1", `URL "grpc://h:1": want http://<host>:<port>`},
		{"http://", `URL "http://": want http://<host>:<port>`},
	} {
		err := transport.Config{}.CheckURL(tt.url)
		if got := errString(err); got != tt.wantErr {
			t.Errorf("CheckURL(%q) = %q, want %q", tt.url, got, tt.wantErr)
		}
	}
	// With TLS both schemes are accepted: the config decides.
	withTLS := transport.Config{TLS: &tls.Config{MinVersion: tls.VersionTLS12}}
	for _, u := range []string{"https://127.0.0.1:7001", "http://127.0.0.1:7001"} {
		if err := withTLS.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q) with TLS = %v, want nil", u, err)
		}
	}
	if err := withTLS.CheckURL("grpc://h:1"); err == nil || !strings.Contains(err.Error(), "want https://<host>:<port>") {
		t.Errorf("CheckURL(grpc://h:1) with TLS = %v, want an error asking for https", err)
	}
}

func TestConfig_TLSServerWithoutCertificateRefused(t *testing.T) {
	t.Parallel()
	c := transport.Config{TLS: &tls.Config{MinVersion: tls.VersionTLS13}}
	if _, err := c.NewServer(http.NotFoundHandler(), nil); err == nil {
		t.Error("NewServer with a TLS config without a certificate = nil error, want one")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
