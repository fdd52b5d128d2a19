package orchestrator

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/google/go-cmp/cmp"
)

// TelemetryLog lines that a node reports in UpdateNode's performance
// samples are kept per instance and served by the admin API.
func TestTelemetry_FromPerformanceSamples(t *testing.T) {
	t.Parallel()
	o := startOrc(t, Config{})
	a := newFakeAgent(t)
	o.register(t, a)
	st, err := o.StartWorkflow(t.Context(), threeFunctions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	wfID := st.GetWorkflowId().GetWorkflowId()
	sinkID := st.GetDomainMapping()[2].GetFunctionId()
	at := time.Unix(1700000000, 5)
	entry := func(msg string) *edgelessapi.FunctionLogEntry {
		return &edgelessapi.FunctionLogEntry{TimestampSec: at.Unix(), TimestampNs: uint32(at.Nanosecond()), Target: "sink", Msg: msg}
	}
	req := a.update(time.Now().Add(time.Minute))
	req.PerformanceSamples = &edgelessapi.NodePerformanceSamples{FunctionLogEntries: []*edgelessapi.FunctionLogEntries{
		{Id: sinkID, Entries: []*edgelessapi.FunctionLogEntry{entry("event 1: TICK 1"), entry("event 2: TICK 2")}},
		{Id: "not-an-instance-of-ours", Entries: []*edgelessapi.FunctionLogEntry{entry("dropped")}},
	}}
	if resp, err := o.registration().UpdateNode(t.Context(), req); err != nil || resp.ResponseError != nil {
		t.Fatalf("UpdateNode = %v, %v", resp, err)
	}
	url := fmt.Sprintf("%s/admin/v1/workflows/%s/functions/sink/telemetry", o.controllerURL, wfID)
	var got struct{ Entries []adminapi.LogEntry }
	getJSON(t, url, http.StatusOK, &got)
	want := []adminapi.LogEntry{
		{Seq: 1, Time: at, Target: "sink", Msg: "event 1: TICK 1"},
		{Seq: 2, Time: at, Target: "sink", Msg: "event 2: TICK 2"},
	}
	if diff := cmp.Diff(want, got.Entries); diff != "" {
		t.Errorf("telemetry (-want +got):\n%s", diff)
	}
	getJSON(t, url+"?after=1", http.StatusOK, &got)
	if len(got.Entries) != 1 || got.Entries[0].Seq != 2 {
		t.Errorf("telemetry after 1 = %+v, want entry 2 only", got.Entries)
	}
	var e map[string]string
	getJSON(t, fmt.Sprintf("%s/admin/v1/workflows/%s/functions/nope/telemetry", o.controllerURL, wfID), http.StatusNotFound, &e)
	if e["error"] != fmt.Sprintf(`workflow %s has no function "nope"`, wfID) {
		t.Errorf("unknown function error = %q", e["error"])
	}
	if err := o.StopWorkflow(t.Context(), wfID); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.Logs(sinkID, 0); ok {
		t.Error("logs of a stopped workflow's instance are still kept")
	}
}

func TestLogRing_Bounded(t *testing.T) {
	t.Parallel()
	var r logRing
	for i := range maxLogEntries + 10 {
		r.add(adminapi.LogEntry{Msg: fmt.Sprint(i)})
	}
	all := r.after(0)
	if len(all) != maxLogEntries || all[0].Seq != 11 || all[len(all)-1].Seq != maxLogEntries+10 {
		t.Errorf("ring holds %d entries, seq %d..%d; want %d, 11..%d", len(all), all[0].Seq, all[len(all)-1].Seq,
			maxLogEntries, maxLogEntries+10)
	}
}

// Lines an instance writes during Init reach the orchestrator (in a
// registration) before Start has answered: they are kept for it.
func TestTelemetry_EntriesBeforeTracking(t *testing.T) {
	t.Parallel()
	o := New(Config{Logger: testLogger(t)})
	report := func(id, msg string) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.recordLogsLocked(&edgelessapi.NodePerformanceSamples{FunctionLogEntries: []*edgelessapi.FunctionLogEntries{
			{Id: id, Entries: []*edgelessapi.FunctionLogEntry{{TimestampSec: 1, Target: "init", Msg: msg}}},
		}})
	}
	report("early", "written in Init")
	o.trackLogs("early")
	report("early", "written later")
	got, ok := o.Logs("early", 0)
	if !ok || len(got) != 2 || got[0].Msg != "written in Init" || got[1].Msg != "written later" {
		t.Errorf("Logs(early) = %+v, %v; want the line from Init, then the later one", got, ok)
	}
	// Instances that are never tracked are forgotten, oldest first.
	for i := range maxEarlyInstances + 1 {
		report(fmt.Sprint("untracked-", i), "x")
	}
	o.trackLogs("untracked-0")
	if got, _ := o.Logs("untracked-0", 0); len(got) != 0 {
		t.Errorf("Logs(untracked-0) = %+v, want none: the oldest untracked instance is forgotten", got)
	}
	o.trackLogs(fmt.Sprint("untracked-", maxEarlyInstances))
	if got, _ := o.Logs(fmt.Sprint("untracked-", maxEarlyInstances), 0); len(got) != 1 {
		t.Errorf("Logs(newest untracked) = %+v, want its line", got)
	}
}
