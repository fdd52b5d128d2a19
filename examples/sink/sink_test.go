package main

import (
	"strings"
	"sync"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"

	"github.com/edgeless-go/edgeless/examples/internal/fntest"
)

func TestSink_LogsAndCounts(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	in := fntest.Start(t, &sink{out: &out}, "")
	in.Cast(t, "TICK 1")
	in.Cast(t, "TICK 2")
	reqs := in.Host.Wait(t, 2)
	for i, want := range []string{"event 1: TICK 1", "event 2: TICK 2"} {
		m, ok := reqs[i].Msg.(*edgelessapi.TelemetryLogEvent)
		if !ok || m.GetTarget() != "sink" || m.GetMsg() != want || m.GetLogLevel() != edgelessapi.TelemetryLogLevel_LOG_INFO {
			t.Errorf("request %d = %s %v, want TelemetryLog(INFO, sink, %q)", i, reqs[i].Method, reqs[i].Msg, want)
		}
	}
	if got, want := out.String(), "event 1: TICK 1\nevent 2: TICK 2\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if res := in.Call(t, "count"); string(res.GetMsg()) != "2" {
		t.Errorf("Call(count) = %q, want %q", res.GetMsg(), "2")
	}
	if res := in.Call(t, "what"); res.GetType() != edgelessapi.CallRetType_CALL_RET_ERR {
		t.Errorf("Call(what) = %v, want CALL_RET_ERR", res)
	}
}

// syncBuffer is a strings.Builder safe for concurrent casts.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
