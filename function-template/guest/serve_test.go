package guest_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// TestServe_Shutdown: when Serve's context ends (SIGTERM in Run), a call in
// flight still gets its answer, Function.Stop runs, and Serve returns nil.
func TestServe_Shutdown(t *testing.T) {
	t.Parallel()
	host := guesttest.NewHost(t)
	fn := &recorder{}
	entered, release := make(chan struct{}), make(chan struct{})
	fn.callFn = func(ctx context.Context, msg []byte) (guest.Reply, error) {
		if string(msg) == "block" {
			close(entered)
			<-release
		}
		return guest.ReplyMsg(msg), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := guest.NewServer(fn, testOptions(t))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	c := guesttest.NewClient(t, "grpc", "http://"+ln.Addr().String())
	if _, err := c.Boot(t.Context(), guesttest.BootData(host)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Init(t.Context(), &edgelessapi.FunctionInstanceInit{}); err != nil {
		t.Fatal(err)
	}
	callRes := make(chan *edgelessapi.CallReturn, 1)
	go func() {
		res, err := c.Call(t.Context(), event("block"))
		if err != nil {
			t.Errorf("in-flight Call() error = %v", err)
		}
		callRes <- res
	}()
	<-entered
	cancel()
	// Release the call only once the shutdown has closed the listener.
	for {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		conn.Close()
		time.Sleep(time.Millisecond)
	}
	close(release)
	if res := <-callRes; string(res.GetMsg()) != "block" {
		t.Errorf("in-flight Call() = %v, want the echo", res)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve() = %v, want nil", err)
	}
	if fn.stops != 1 {
		t.Errorf("Function.Stop called %d times, want 1", fn.stops)
	}
	if got := s.State(); got != guest.Stopped {
		t.Errorf("State() after shutdown = %v, want Stopped", got)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener still accepts connections after Serve returned")
	}
}

// TestServe_OnePortForBoth: Serve answers gRPC over h2c (grpc-go) and
// HTTP/1.1 (Connect with JSON, as curl sends it) on the same port, and
// peers that send garbage, or stay silent, or stop inside the HTTP/2
// preface harm neither: the calls are answered while the silent and the
// stalled connections are still open, well within the 10 s the server
// waits for a connection's first bytes (an accept loop waiting for them
// would hold every later connection that long).
func TestServe_OnePortForBoth(t *testing.T) {
	t.Parallel()
	_, url := guesttest.StartServer(t, &recorder{}, testOptions(t))
	addr := strings.TrimPrefix(url, "http://")
	dial := func(first string) net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(first)); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	opened := time.Now()
	silent := dial("")
	defer silent.Close()
	stalled := dial("PRI * HTTP/2") // a partial preface
	defer stalled.Close()
	dial("\x00\x01garbage\r\n\r\n").Close()

	// Each call has less than the 10 s the server gives the first bytes.
	const callTimeout = 5 * time.Second
	tr := &http.Transport{} // HTTP/1.1
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequestWithContext(ctxTimeout(t, callTimeout), http.MethodPost, url+"/edgeless_api.GuestAPIFunction/Call", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("HTTP/1.1 Connect Call: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.ProtoMajor != 1 || !strings.Contains(string(body), "failed_precondition") || !strings.Contains(string(body), "PreBooted") {
		t.Errorf("HTTP/1.1 Connect Call = %s %s, want a failed_precondition naming PreBooted over HTTP/1.1", res.Proto, body)
	}
	for _, protocol := range []string{"grpc", "grpc-go"} {
		_, err := guesttest.NewClient(t, protocol, url).Call(ctxTimeout(t, callTimeout), event("x"))
		wantCode(t, protocol+" Call in PreBooted", err, connect.CodeFailedPrecondition)
	}

	// The silent and the stalled connection were open during the calls
	// (unless the machine was so slow that the server's wait ran out).
	if waited := time.Since(opened); waited > 8*time.Second {
		t.Logf("the calls took %s: not checking that the silent connections are still open", waited)
		return
	}
	for name, conn := range map[string]net.Conn{"silent": silent, "stalled": stalled} {
		if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		var ne net.Error
		if _, err := conn.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("the %s connection after the calls: Read() = %v, want a timeout (still open, nothing sent)", name, err)
		}
	}
}
