package guest_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// socketDir returns a fresh directory with a short path (a socket path
// must fit in 108 bytes; t.TempDir's may not).
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(dir) > 80 {
		t.Skipf("temp dir %s too long for socket paths", dir)
	}
	return dir
}

// acceptWithin accepts one connection on ln within d.
func acceptWithin(t *testing.T, ln *net.UnixListener, d time.Duration) net.Conn {
	t.Helper()
	_ = ln.SetDeadline(time.Now().Add(d))
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept on the function socket: %v", err)
	}
	return c
}

// socketClient is a GuestAPIFunction client over the connection c, as the
// node makes one over the connections the function dials.
func socketClient(t *testing.T, c net.Conn) (edgelessapi.GuestAPIFunctionClient, *grpc.ClientConn) {
	t.Helper()
	conns := make(chan net.Conn, 1)
	conns <- c
	cc, err := grpc.NewClient("passthrough:///function",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			select {
			case c := <-conns:
				return c, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return edgelessapi.NewGuestAPIFunctionClient(cc), cc
}

// TestListenAndServe_GuestSocket: with EDGELESS_GUEST_SOCKETS set, the
// function dials the node's function socket (before it listens on TCP) and
// serves the node over it; Boot with a unix:// host endpoint in that
// directory makes its host calls go over the node's host socket; after
// the node closes a connection, the function dials again.
func TestListenAndServe_GuestSocket(t *testing.T) {
	t.Parallel()
	dir := socketDir(t)
	fnLn, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "function.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer fnLn.Close()
	hostLn, err := net.Listen("unix", filepath.Join(dir, "host.sock"))
	if err != nil {
		t.Fatal(err)
	}
	host := guesttest.NewGRPCHostListener(t, hostLn)
	fn := &recorder{}
	fn.callFn = func(ctx context.Context, msg []byte) (guest.Reply, error) {
		if err := fn.Host().Cast(ctx, "out", msg); err != nil {
			return guest.Reply{}, err
		}
		return guest.ReplyMsg(msg), nil
	}
	opts := testOptions(t)
	opts.Addr, opts.GuestSockets = "127.0.0.1:0", dir
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- guest.ListenAndServe(ctx, fn, opts) }()

	c, cc := socketClient(t, acceptWithin(t, fnLn, 10*time.Second))
	boot := &edgelessapi.BootData{GuestApiHostEndpoint: "unix://" + filepath.Join(dir, "host.sock"), InstanceId: guesttest.NewID()}
	if _, err := c.Boot(ctxTimeout(t, 10*time.Second), boot); err != nil {
		t.Fatalf("Boot over the socket: %v", err)
	}
	if _, err := c.Init(ctxTimeout(t, 10*time.Second), &edgelessapi.FunctionInstanceInit{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Call(ctxTimeout(t, 10*time.Second), event("over the socket"))
	if err != nil || string(res.GetMsg()) != "over the socket" {
		t.Fatalf("Call() = %v, %v; want the echo", res, err)
	}
	if reqs := host.Wait(t, 1); reqs[0].Method != "Cast" {
		t.Fatalf("host got %v, want a Cast over the host socket", reqs)
	}
	if got := fn.Host().Endpoint(); got != boot.GuestApiHostEndpoint {
		t.Errorf("Host.Endpoint() = %q, want %q", got, boot.GuestApiHostEndpoint)
	}

	// The node drops its connection: the function dials again, and the
	// new connection serves the same instance.
	cc.Close()
	c2, cc2 := socketClient(t, acceptWithin(t, fnLn, 10*time.Second))
	res, err = c2.Call(ctxTimeout(t, 10*time.Second), event("again"))
	if err != nil || string(res.GetMsg()) != "again" {
		t.Fatalf("Call() on the redialled connection = %v, %v; want the echo", res, err)
	}

	// As at the node's Stop: the node closes its connection, the function
	// dials again, and that connection stays silent; a shutdown must not
	// wait for it.
	cc2.Close()
	silent := acceptWithin(t, fnLn, 10*time.Second)
	defer silent.Close()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ListenAndServe() = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return within 10 s of its context's end (waiting for a silent socket connection?)")
	}
}

// TestBoot_UnixHostEndpoint: Boot accepts a unix:// host endpoint only
// for an absolute, clean path in the EDGELESS_GUEST_SOCKETS directory.
func TestBoot_UnixHostEndpoint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, dir, endpoint string
	}{
		{"no socket dir", "", "unix:///run/edgeless-guest/host.sock"},
		{"another dir", "/run/edgeless-guest", "unix:///etc/host.sock"},
		{"a subdir", "/run/edgeless-guest", "unix:///run/edgeless-guest/x/host.sock"},
		{"not clean", "/run/edgeless-guest", "unix:///run/edgeless-guest/../edgeless-guest/host.sock"},
		{"relative", "/run/edgeless-guest", "unix:host.sock"},
		{"with a host", "/run/edgeless-guest", "unix://node/run/edgeless-guest/host.sock"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := testOptions(t)
			opts.GuestSockets = tt.dir
			_, url := guesttest.StartServer(t, &recorder{}, opts)
			c := guesttest.NewClient(t, "grpc-go", url)
			_, err := c.Boot(ctxTimeout(t, 10*time.Second), &edgelessapi.BootData{GuestApiHostEndpoint: tt.endpoint, InstanceId: guesttest.NewID()})
			wantCode(t, "Boot("+tt.endpoint+")", err, connect.CodeInvalidArgument)
		})
	}
}
