package main

import (
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"

	"github.com/edgeless-go/edgeless/examples/internal/fntest"
)

func TestSink_LogsAndCounts(t *testing.T) {
	t.Parallel()
	in := fntest.Start(t, &sink{}, "")
	in.Cast(t, "TICK 1")
	in.Cast(t, "TICK 2")
	reqs := in.Host.Wait(t, 2)
	for i, want := range []string{"event 1: TICK 1", "event 2: TICK 2"} {
		m, ok := reqs[i].Msg.(*edgelessapi.TelemetryLogEvent)
		if !ok || m.GetTarget() != "sink" || m.GetMsg() != want || m.GetLogLevel() != edgelessapi.TelemetryLogLevel_LOG_INFO {
			t.Errorf("request %d = %s %v, want TelemetryLog(INFO, sink, %q)", i, reqs[i].Method, reqs[i].Msg, want)
		}
	}
	if res := in.Call(t, "count"); string(res.GetMsg()) != "2" {
		t.Errorf("Call(count) = %q, want %q", res.GetMsg(), "2")
	}
	if res := in.Call(t, "what"); res.GetType() != edgelessapi.CallRetType_CALL_RET_ERR {
		t.Errorf("Call(what) = %v, want CALL_RET_ERR", res)
	}
}
