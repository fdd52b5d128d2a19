package orchestrator

import (
	"testing"

	"connectrpc.com/connect"

	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/transport/transporttest"
)

// TestOrchestrator_ReadLimits sends WorkflowInstance and NodeRegistration a
// message over the control limit, plain and as a gzip bomb (1 GiB unpacked):
// each is refused with RESOURCE_EXHAUSTED without the orchestrator holding
// the bomb unpacked. Not parallel, so that other tests' allocations do not
// count.
func TestOrchestrator_ReadLimits(t *testing.T) {
	o := startOrc(t, Config{})
	const bombUnpacked = 1 << 30
	bomb := transporttest.GzipBomb(bombUnpacked)
	for _, tt := range []struct{ url, procedure string }{
		{o.controllerURL, edgelessapiconnect.WorkflowInstanceStartProcedure},
		{o.controllerURL, edgelessapiconnect.WorkflowInstanceInspectProcedure},
		{o.registerURL, edgelessapiconnect.NodeRegistrationUpdateNodeProcedure},
	} {
		if code, msg := transporttest.PostGRPC(t, tt.url, tt.procedure, transporttest.Message(transport.ControlMaxBytes+1), false); code != connect.CodeResourceExhausted {
			t.Errorf("%s with %d bytes = %v %q, want %v", tt.procedure, transport.ControlMaxBytes+1, code, msg, connect.CodeResourceExhausted)
		}
		const sends = 4
		alloc := transporttest.Allocated(func() {
			for range sends {
				if code, msg := transporttest.PostGRPC(t, tt.url, tt.procedure, bomb, true); code != connect.CodeResourceExhausted {
					t.Errorf("%s with a gzip bomb = %v %q, want %v", tt.procedure, code, msg, connect.CodeResourceExhausted)
				}
			}
		})
		if bound := uint64(sends * bombUnpacked / 8); alloc > bound {
			t.Errorf("%s: %d gzip bombs (1 GiB unpacked each) allocated %d bytes, want at most %d", tt.procedure, sends, alloc, bound)
		}
	}
}
