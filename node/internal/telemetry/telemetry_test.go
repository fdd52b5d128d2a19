package telemetry

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func TestRecorder_Metrics(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.InstanceStates([]string{"running", "failed"}, func() map[string]int { return map[string]int{"running": 3} })
	m.CounterFunc("dataplane_casts_delivered_total", "casts", func() float64 { return 7 })
	var logs bytes.Buffer
	r := NewRecorder(m, nil, slog.New(slog.NewJSONHandler(&logs, nil))) // level INFO, the daemons' default
	r.InstanceStarted("f1", 2*time.Second, 1500*time.Millisecond, time.Second, 100*time.Millisecond)
	r.StartFailed()
	r.Event("f1", "call", "ok", time.Millisecond)
	r.Event("f1", "cast", "error", time.Millisecond)
	r.InstanceExited("oom-killed")
	r.InstanceStopped("f1", time.Second)
	r.FunctionLog("f1", edgelessapi.TelemetryLogLevel_LOG_WARN, "tgt", "hello")
	r.FunctionLog("f1", edgelessapi.TelemetryLogLevel_LOG_INFO, "tgt", "tick 1")
	m.ObserveCastWait(300 * time.Millisecond)
	m.ObserveCastWait(600 * time.Millisecond)
	m.ObserveAdmissionWait(50*time.Millisecond, true)
	m.ObserveAdmissionWait(200*time.Millisecond, false)

	out := scrape(t, m)
	for _, want := range []string{
		`edgeless_node_instances{state="running"} 3`,
		`edgeless_node_instances{state="failed"} 0`,
		`edgeless_node_instance_cold_start_seconds_count 1`,
		`edgeless_node_instance_cold_start_seconds_sum 2`,
		`edgeless_node_instance_boot_seconds_count 1`,
		`edgeless_node_instance_boot_seconds_sum 1` + "\n", // boot, not instantiate (1.5)
		`edgeless_node_instance_init_seconds_sum 0.1`,
		`edgeless_node_instance_stop_seconds_count 1`,
		`edgeless_node_instance_start_failures_total 1`,
		`edgeless_node_event_duration_seconds_count{kind="call",outcome="ok"} 1`,
		`edgeless_node_event_duration_seconds_count{kind="cast",outcome="error"} 1`,
		`edgeless_node_container_exits_total{reason="oom-killed"} 1`,
		`edgeless_node_function_log_entries_total{level="warn"} 1`,
		`edgeless_node_function_log_entries_total{level="info"} 1`,
		`edgeless_node_dataplane_casts_delivered_total 7`,
		`edgeless_node_dataplane_cast_queue_wait_seconds_bucket{le="0.5"} 1`,
		`edgeless_node_dataplane_cast_queue_wait_seconds_count 2`,
		`edgeless_node_dataplane_cast_admission_wait_seconds_bucket{outcome="admitted",le="0.05"} 1`,
		`edgeless_node_dataplane_cast_admission_wait_seconds_count{outcome="admitted"} 1`,
		`edgeless_node_dataplane_cast_admission_wait_seconds_count{outcome="refused"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if got := logs.String(); !strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, `"msg":"hello"`) ||
		!strings.Contains(got, `"instance":"f1"`) || !strings.Contains(got, `"target":"tgt"`) {
		t.Errorf("function log = %s, want WARN hello with instance f1 and target tgt", got)
	}
	if got := logs.String(); strings.Contains(got, "tick 1") {
		t.Errorf("function log = %s: a LOG_INFO entry reached the node's log at level INFO (want DEBUG)", got)
	}
}

func TestMetrics_TwoNodesDoNotCollide(t *testing.T) {
	t.Parallel()
	a, b := NewMetrics(), NewMetrics()
	NewRecorder(a, nil, slog.New(slog.DiscardHandler)).StartFailed()
	if out := scrape(t, b); !strings.Contains(out, "edgeless_node_instance_start_failures_total 0") {
		t.Errorf("node b sees node a's failure:\n%s", out)
	}
}

func TestSamples_DrainAndBound(t *testing.T) {
	t.Parallel()
	s := NewSamples(3)
	if got := s.Drain(); got != nil {
		t.Errorf("Drain(empty) = %v, want nil", got)
	}
	r := NewRecorder(NewMetrics(), s, slog.New(slog.DiscardHandler))
	r.InstanceStarted("f1", 3*time.Second, 2*time.Second, 500*time.Millisecond, time.Second) // 2 samples
	r.FunctionLog("f1", edgelessapi.TelemetryLogLevel_LOG_INFO, "t", "m")                    // 1 entry
	r.Event("f1", "cast", "ok", time.Millisecond)                                            // dropped: full
	if got := s.Dropped(); got != 1 {
		t.Errorf("Dropped() = %d, want 1", got)
	}
	d := s.Drain()
	if len(d.FunctionInstantiateTimes) != 1 || d.FunctionInstantiateTimes[0].Id != "f1" ||
		d.FunctionInstantiateTimes[0].Samples[0].Sample != 2 {
		t.Errorf("instantiate = %v, want f1: 2s", d.FunctionInstantiateTimes)
	}
	if len(d.FunctionInitTimes) != 1 || d.FunctionInitTimes[0].Samples[0].Sample != 1 {
		t.Errorf("init = %v, want f1: 1s", d.FunctionInitTimes)
	}
	if len(d.FunctionLogEntries) != 1 || d.FunctionLogEntries[0].Entries[0].Msg != "m" {
		t.Errorf("logs = %v, want f1: m", d.FunctionLogEntries)
	}
	if len(d.FunctionExecutionTimes) != 0 {
		t.Errorf("execution = %v, want none (dropped)", d.FunctionExecutionTimes)
	}
	// Drained: room again.
	r.Event("f1", "cast", "ok", time.Millisecond)
	if d := s.Drain(); d == nil || len(d.FunctionExecutionTimes) != 1 {
		t.Errorf("Drain after drain = %v, want one execution sample", d)
	}
}

func TestSamples_RestoreKeepsOrderAndBound(t *testing.T) {
	t.Parallel()
	s := NewSamples(3)
	t0 := time.Unix(100, 0)
	s.Log("f", t0, "t", "first")
	s.Add(Init, "f", t0, time.Second)
	failed := s.Drain() // the send of this batch failed
	s.Log("f", t0.Add(time.Second), "t", "second")
	s.Restore(failed)
	d := s.Drain()
	var msgs []string
	for _, le := range d.GetFunctionLogEntries() {
		for _, e := range le.GetEntries() {
			msgs = append(msgs, e.GetMsg())
		}
	}
	if strings.Join(msgs, ",") != "first,second" {
		t.Errorf("log entries after Restore = %v, want first,second", msgs)
	}
	if n := len(d.GetFunctionInitTimes()); n != 1 {
		t.Errorf("init series after Restore = %d, want 1", n)
	}
	// Over the bound: what does not fit is dropped and counted.
	for i := range 3 {
		s.Log("g", t0, "t", strconv.Itoa(i))
	}
	s.Restore(d)
	if got := s.Dropped(); got != 3 {
		t.Errorf("Dropped() after restoring into a full Samples = %d, want 3", got)
	}
}

// The Recorder resolves the children of its label values once: each must
// still count under its own labels, every time, and values it does not
// know still count.
func TestRecorder_ResolvedChildrenCountUnderTheirLabels(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	r := NewRecorder(m, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var want []string
	for _, kind := range []string{"cast", "call", "other"} {
		for _, outcome := range []string{"ok", "no_reply", "err", "error", "new"} {
			r.Event("f1", kind, outcome, time.Millisecond)
			r.Event("f1", kind, outcome, time.Millisecond)
			want = append(want, `edgeless_node_event_duration_seconds_count{kind="`+kind+`",outcome="`+outcome+`"} 2`)
		}
	}
	for _, l := range []struct {
		level edgelessapi.TelemetryLogLevel
		name  string
	}{
		{edgelessapi.TelemetryLogLevel_LOG_ERROR, "error"}, {edgelessapi.TelemetryLogLevel_LOG_WARN, "warn"},
		{edgelessapi.TelemetryLogLevel_LOG_INFO, "info"}, {edgelessapi.TelemetryLogLevel_LOG_DEBUG, "debug"},
		{edgelessapi.TelemetryLogLevel_LOG_TRACE, "trace"}, {99, "unknown"}, {-1, "unknown"},
	} {
		r.FunctionLog("f1", l.level, "tgt", "line")
		r.FunctionLog("f1", l.level, "tgt", "line")
		n := "2"
		if l.name == "unknown" {
			n = "4" // 99 and -1
		}
		want = append(want, `edgeless_node_function_log_entries_total{level="`+l.name+`"} `+n)
	}
	out := scrape(t, m)
	for _, w := range want {
		if !strings.Contains(out, w+"\n") {
			t.Errorf("metrics lack %q", w)
		}
	}
}
