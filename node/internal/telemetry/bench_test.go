package telemetry

import (
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkRecorderEvent is the metrics' share of every event delivered to
// a local instance.
func BenchmarkRecorderEvent(b *testing.B) {
	r := NewRecorder(NewMetrics(), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.ReportAllocs()
	for b.Loop() {
		r.Event("f1", "cast", "ok", time.Millisecond)
	}
}
