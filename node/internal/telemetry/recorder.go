package telemetry

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// Recorder is what the agent reports to: it feeds the metrics, the
// performance samples (when enabled) and the log.
type Recorder struct {
	m   *Metrics
	s   *Samples // nil unless performance samples are enabled
	log *slog.Logger

	// events and logLevels are the metrics' children of the known label
	// values, resolved at their first use (a series appears when it is
	// first observed, as with WithLabelValues), so that an event does not
	// hash its labels and look them up under the vector's lock.
	events    [len(eventKinds)][len(eventOutcomes)]lazyChild[prometheus.Observer]
	logLevels [numLogLevels]lazyChild[prometheus.Counter]
}

// The label values of the event metric the Recorder resolves once.
var (
	eventKinds    = [...]string{"cast", "call"}
	eventOutcomes = [...]string{"ok", "no_reply", "err", "error"}
)

// numLogLevels is the number of TelemetryLogLevel values (LOG_ERROR 0 to
// LOG_TRACE 4).
const numLogLevels = int(edgelessapi.TelemetryLogLevel_LOG_TRACE) + 1

// lazyChild is a metric vector's child for fixed label values, resolved
// once.
type lazyChild[T any] struct {
	once sync.Once
	c    T
}

func (l *lazyChild[T]) get(resolve func() T) T {
	l.once.Do(func() { l.c = resolve() })
	return l.c
}

func indexOf(names []string, s string) int {
	for i, n := range names {
		if n == s {
			return i
		}
	}
	return -1
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
	r.eventObserver(kind, outcome).Observe(d.Seconds())
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
	r.logCounter(level).Inc()
	r.log.Log(context.Background(), slogLevel(level), msg,
		slog.String("instance", functionID), slog.String("target", target), slog.String("source", "function"))
	if r.s != nil {
		r.s.Log(functionID, time.Now(), target, msg)
	}
}

// eventObserver returns the event metric's child for kind and outcome.
func (r *Recorder) eventObserver(kind, outcome string) prometheus.Observer {
	k, o := indexOf(eventKinds[:], kind), indexOf(eventOutcomes[:], outcome)
	if k < 0 || o < 0 {
		return r.m.events.WithLabelValues(kind, outcome)
	}
	return r.events[k][o].get(func() prometheus.Observer { return r.m.events.WithLabelValues(kind, outcome) })
}

// logCounter returns the function log metric's child for level.
func (r *Recorder) logCounter(level edgelessapi.TelemetryLogLevel) prometheus.Counter {
	if level < 0 || int(level) >= numLogLevels {
		return r.m.functionLogs.WithLabelValues(levelName(level))
	}
	return r.logLevels[level].get(func() prometheus.Counter { return r.m.functionLogs.WithLabelValues(levelName(level)) })
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
