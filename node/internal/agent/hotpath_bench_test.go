package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/node/internal/telemetry"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// BenchmarkMeteredCast is what the agent adds to each cast delivered to an
// instance: the deadline tracking and the event metrics (the instance
// itself answers at once).
func BenchmarkMeteredCast(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	m := newMeteredReceiver(&fakeInstance{id: id}, telemetry.NewRecorder(telemetry.NewMetrics(), nil, log), nil)
	src := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	ctx := context.Background()
	msg := []byte("payload")
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Cast(ctx, src, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeteredCall is BenchmarkMeteredCast for a call.
func BenchmarkMeteredCall(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	m := newMeteredReceiver(&fakeInstance{id: id}, telemetry.NewRecorder(telemetry.NewMetrics(), nil, log), nil)
	src := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	ctx := context.Background()
	msg := []byte("payload")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Call(ctx, src, msg); err != nil {
			b.Fatal(err)
		}
	}
}
