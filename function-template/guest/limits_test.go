package guest_test

import (
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/edgeless-go/edgeless/function-template/guest"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
)

// TestServer_ReadLimit: an event larger than Options.MaxPayloadBytes is
// refused with RESOURCE_EXHAUSTED, also when it arrives gzip-compressed and
// small on the wire; one within the limit is served.
func TestServer_ReadLimit(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	opts := testOptions(t)
	opts.MaxPayloadBytes = limit
	in := newInstance(t, "grpc", opts)
	in.driveTo(t, guest.Initialized)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	for _, tt := range []struct {
		name string
		size int
		gzip bool
		want connect.Code
	}{
		{"within limit", limit / 2, false, 0},
		{"over limit", 2 * limit, false, connect.CodeResourceExhausted},
		{"over limit, gzip", 64 * limit, true, connect.CodeResourceExhausted},
	} {
		copts := []connect.ClientOption{connect.WithGRPC()} // no limits of its own, as a foreign peer
		if tt.gzip {
			copts = append(copts, connect.WithSendGzip())
		}
		c := edgelessapiconnect.NewGuestAPIFunctionClient(&http.Client{Transport: tr}, in.url, copts...)
		_, err := c.Cast(t.Context(), &edgelessapi.InputEventData{Src: in.boot.GetInstanceId(), Msg: make([]byte, tt.size)})
		if got := connect.CodeOf(err); (err == nil && tt.want != 0) || (err != nil && got != tt.want) {
			t.Errorf("%s: Cast(%d bytes, gzip %v) = %v, want code %v", tt.name, tt.size, tt.gzip, err, tt.want)
		}
	}
}
