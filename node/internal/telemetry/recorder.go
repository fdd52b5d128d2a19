package telemetry

import (
	"context"
	"log/slog"
	"strings"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// Recorder is what the agent reports to: it feeds the metrics, the
// performance samples (when enabled) and the log.
type Recorder struct {
	m   *Metrics
	s   *Samples // nil unless performance samples are enabled
	log *slog.Logger
}

// NewRecorder returns a Recorder; samples may be nil (performance samples
// disabled).
func NewRecorder(m *Metrics, samples *Samples, log *slog.Logger) *Recorder {
	return &Recorder{m: m, s: samples, log: log}
}

// Metrics returns the recorder's metrics.
func (r *Recorder) Metrics() *Metrics { return r.m }

// InstanceStarted records a successful start: the whole cold start as seen
// by the orchestrator; instantiate, upstream's "instantiate" sample (image,
// create and boot); boot, from the container's start to a successful Boot
// (the metric instance_boot_seconds and the CLI's "boot" step); and init.
func (r *Recorder) InstanceStarted(functionID string, coldStart, instantiate, boot, init time.Duration) {
	now := time.Now()
	r.m.coldStart.Observe(coldStart.Seconds())
	r.m.boot.Observe(boot.Seconds())
	r.m.init.Observe(init.Seconds())
	if r.s != nil {
		r.s.Add(Instantiate, functionID, now, instantiate)
		r.s.Add(Init, functionID, now, init)
	}
}

// StartFailed counts a start that failed.
func (r *Recorder) StartFailed() { r.m.startFailures.Inc() }

// InstanceStopped records the time a stop took.
func (r *Recorder) InstanceStopped(functionID string, d time.Duration) {
	r.m.stop.Observe(d.Seconds())
	if r.s != nil {
		r.s.Add(Stop, functionID, time.Now(), d)
	}
}

// InstanceExited counts an instance whose container ended on its own.
func (r *Recorder) InstanceExited(reason string) {
	if reason == "" {
		reason = "unknown"
	}
	r.m.exits.WithLabelValues(reason).Inc()
}

// Event records one cast or call delivered to a local instance. kind is
// "cast" or "call"; outcome is "ok", "no_reply", "err" (the function
// answered CALL_RET_ERR) or "error" (delivery failed).
func (r *Recorder) Event(functionID, kind, outcome string, d time.Duration) {
	r.m.events.WithLabelValues(kind, outcome).Observe(d.Seconds())
	if r.s != nil {
		r.s.Add(Execution, functionID, time.Now(), d)
	}
}

// FunctionLog writes a TelemetryLog entry of an instance to the node's log
// (with the instance id) and to the performance samples. Entries below
// LOG_WARN go to the node's log at DEBUG: function output belongs to
// `edgeless function logs`, and a ticking function would otherwise flood the
// daemon's log; warnings and errors keep their level.
func (r *Recorder) FunctionLog(functionID string, level edgelessapi.TelemetryLogLevel, target, msg string) {
	r.m.functionLogs.WithLabelValues(levelName(level)).Inc()
	r.log.Log(context.Background(), slogLevel(level), msg,
		slog.String("instance", functionID), slog.String("target", target), slog.String("source", "function"))
	if r.s != nil {
		r.s.Log(functionID, time.Now(), target, msg)
	}
}

func levelName(l edgelessapi.TelemetryLogLevel) string {
	if n, ok := edgelessapi.TelemetryLogLevel_name[int32(l)]; ok {
		return strings.ToLower(strings.TrimPrefix(n, "LOG_"))
	}
	return "unknown"
}

// slogLevel maps a function's log level; trace goes below debug.
func slogLevel(l edgelessapi.TelemetryLogLevel) slog.Level {
	switch l {
	case edgelessapi.TelemetryLogLevel_LOG_ERROR:
		return slog.LevelError
	case edgelessapi.TelemetryLogLevel_LOG_WARN:
		return slog.LevelWarn
	case edgelessapi.TelemetryLogLevel_LOG_INFO, edgelessapi.TelemetryLogLevel_LOG_DEBUG:
		return slog.LevelDebug
	default:
		return slog.LevelDebug - 4
	}
}
