package guest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

const testLimit = 64 << 10

// limitedInstance is an Initialized instance with MaxPayloadBytes =
// testLimit whose host is host.
func limitedInstance(t *testing.T, host *guesttest.Host) *instance {
	opts := testOptions(t)
	opts.MaxPayloadBytes = testLimit
	in := newInstanceOf(t, host, "grpc", opts)
	in.driveTo(t, guest.Initialized)
	return in
}

// TestServer_ReadLimit: an event larger than Options.MaxPayloadBytes is
// refused with RESOURCE_EXHAUSTED, also when it arrives gzip-compressed and
// small on the wire; one within the limit is served. Both the node's
// clients (connect-go and grpc-go) are foreign peers without limits of
// their own here.
func TestServer_ReadLimit(t *testing.T) {
	t.Parallel()
	in := limitedInstance(t, guesttest.NewHost(t))
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	conn, err := grpc.NewClient("passthrough:///"+strings.TrimPrefix(in.url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	grpcClient := edgelessapi.NewGuestAPIFunctionClient(conn)
	for _, tt := range []struct {
		name string
		size int
		gzip bool
		want codes.Code
	}{
		{"within limit", testLimit / 2, false, codes.OK},
		{"over limit", 2 * testLimit, false, codes.ResourceExhausted},
		{"over limit, gzip", 64 * testLimit, true, codes.ResourceExhausted},
	} {
		ev := &edgelessapi.InputEventData{Src: in.boot.GetInstanceId(), Msg: make([]byte, tt.size)}
		copts := []connect.ClientOption{connect.WithGRPC()}
		var gopts []grpc.CallOption
		if tt.gzip {
			copts = append(copts, connect.WithSendGzip())
			gopts = append(gopts, grpc.UseCompressor(gzip.Name))
		}
		c := edgelessapiconnect.NewGuestAPIFunctionClient(&http.Client{Transport: tr}, in.url, copts...)
		_, err := c.Cast(t.Context(), ev)
		if got := connect.CodeOf(err); (err == nil && tt.want != codes.OK) || (err != nil && codes.Code(got) != tt.want) {
			t.Errorf("%s: connect-go Cast(%d bytes, gzip %v) = %v, want code %v", tt.name, tt.size, tt.gzip, err, tt.want)
		}
		_, err = grpcClient.Cast(t.Context(), ev, gopts...)
		if got := status.Code(err); got != tt.want {
			t.Errorf("%s: grpc-go Cast(%d bytes, gzip %v) = %v, want code %v", tt.name, tt.size, tt.gzip, err, tt.want)
		}
	}
}

// TestServer_SendLimit: a reply larger than Options.MaxPayloadBytes is not
// sent; the caller gets RESOURCE_EXHAUSTED.
func TestServer_SendLimit(t *testing.T) {
	t.Parallel()
	in := limitedInstance(t, guesttest.NewHost(t))
	in.fn.callFn = func(context.Context, []byte) (guest.Reply, error) {
		return guest.ReplyMsg(make([]byte, 2*testLimit)), nil
	}
	_, err := in.c.Call(t.Context(), event("big reply"))
	wantCode(t, "Call with a reply over the limit", err, connect.CodeResourceExhausted)
}

// TestHost_Limits: the host client neither sends nor reads a message
// larger than Options.MaxPayloadBytes (RESOURCE_EXHAUSTED), against both
// kinds of node.
func TestHost_Limits(t *testing.T) {
	t.Parallel()
	for _, kind := range hostKinds {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			fake := kind.new(t)
			in := limitedInstance(t, fake)
			h := in.fn.Host()
			err := h.Cast(t.Context(), "output", make([]byte, 2*testLimit))
			wantCode(t, "Host.Cast over the limit", err, connect.CodeResourceExhausted)
			if got := fake.Requests(); len(got) != 0 {
				t.Errorf("host got %d requests, want none", len(got))
			}
			fake.SetCallReply(func(guesttest.Request) (*edgelessapi.CallReturn, error) {
				return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: make([]byte, 2*testLimit)}, nil
			})
			_, err = h.Call(t.Context(), "other", nil)
			wantCode(t, "Host.Call with an answer over the limit", err, connect.CodeResourceExhausted)
			if err := h.Cast(t.Context(), "output", make([]byte, testLimit/2)); err != nil {
				t.Errorf("Host.Cast within the limit: %v", err)
			}
		})
	}
}
