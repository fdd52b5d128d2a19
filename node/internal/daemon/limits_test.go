package daemon

import (
	"testing"

	"connectrpc.com/connect"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/node/internal/config"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// TestDaemon_ReadLimits sends each of the node's gRPC servers a message over
// its limit, plain and as a gzip bomb (1 GiB unpacked, about 1 MiB on the
// wire): each is refused with RESOURCE_EXHAUSTED and the node allocates far
// less than one bomb unpacked. [dataplane] max_payload_bytes reaches both
// event hops (data plane, guest API host); control RPCs keep 4 MiB. Not
// parallel, so that other tests' allocations do not count.
func TestDaemon_ReadLimits(t *testing.T) {
	const payloadLimit = 1 << 20
	n, _ := dockerNode(t, "", func(c *config.Config) { c.Dataplane.MaxPayloadBytes = payloadLimit })
	const bombUnpacked = 1 << 30
	bomb := transporttest.GzipBomb(bombUnpacked)
	for _, tt := range []struct {
		server, url, procedure string
		limit                  int
	}{
		{"agent", n.urls.Agent, edgelessapiconnect.NodeManagementUpdatePeersProcedure, transport.ControlMaxBytes},
		{"agent", n.urls.Agent, edgelessapiconnect.FunctionInstanceStartProcedure, transport.ControlMaxBytes},
		{"invocation", n.urls.Invocation, edgelessapiconnect.FunctionInvocationHandleProcedure, payloadLimit},
		{"guest api host", n.urls.GuestAPIHost, edgelessapiconnect.GuestAPIHostCastProcedure, payloadLimit},
		{"guest api host", n.urls.GuestAPIHost, edgelessapiconnect.GuestAPIHostCallProcedure, payloadLimit},
	} {
		if code, msg := transporttest.PostGRPC(t, tt.url, tt.procedure, transporttest.Message(tt.limit+1), false); code != connect.CodeResourceExhausted {
			t.Errorf("%s %s with %d bytes = %v %q, want %v", tt.server, tt.procedure, tt.limit+1, code, msg, connect.CodeResourceExhausted)
		}
		const sends = 4
		alloc := transporttest.Allocated(func() {
			for range sends {
				if code, msg := transporttest.PostGRPC(t, tt.url, tt.procedure, bomb, true); code != connect.CodeResourceExhausted {
					t.Errorf("%s %s with a gzip bomb = %v %q, want %v", tt.server, tt.procedure, code, msg, connect.CodeResourceExhausted)
				}
			}
		})
		if bound := uint64(sends * bombUnpacked / 8); alloc > bound {
			t.Errorf("%s %s: %d gzip bombs (1 GiB unpacked each) allocated %d bytes, want at most %d", tt.server, tt.procedure, sends, alloc, bound)
		}
	}
	// A message over the payload limit but under the control limit is
	// no concern of the agent's limit: it reaches the handler.
	if code, msg := transporttest.PostGRPC(t, n.urls.Agent, edgelessapiconnect.NodeManagementUpdatePeersProcedure, transporttest.Message(2*payloadLimit), false); code == connect.CodeResourceExhausted {
		t.Errorf("agent UpdatePeers with %d bytes = %v %q, want it past the read limit", 2*payloadLimit, code, msg)
	}
}
