package container

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLineWriter(t *testing.T) {
	t.Parallel()
	ring := newOutputRing(3)
	w := &lineWriter{stream: "stderr", ring: ring, log: slog.New(slog.DiscardHandler)}
	for _, chunk := range []string{"one\ntw", "o\r\n", "three\nfo", "ur \xff"} {
		w.Write([]byte(chunk))
	}
	w.flush()
	var got []string
	for _, l := range ring.snapshot() {
		if l.Stream != "stderr" || l.Time.IsZero() {
			t.Errorf("line %+v: want stream stderr and a time", l)
		}
		got = append(got, l.Text)
	}
	// The ring keeps the last 3 lines; invalid UTF-8 is replaced.
	if want := []string{"two", "three", "four \uFFFD"}; !cmp.Equal(got, want) {
		t.Fatalf("lines = %q, want %q", got, want)
	}
	if want := []string{"three", "four \uFFFD"}; !cmp.Equal(ring.tail(2), want) {
		t.Fatalf("tail(2) = %q, want %q", ring.tail(2), want)
	}
}

func TestLineWriter_LongLine(t *testing.T) {
	t.Parallel()
	ring := newOutputRing(10)
	w := &lineWriter{stream: "stdout", ring: ring, log: slog.New(slog.DiscardHandler)}
	w.Write([]byte(strings.Repeat("x", maxLogLine+10)))
	w.flush()
	lines := ring.snapshot()
	if len(lines) != 2 || len(lines[0].Text) != maxLogLine || len(lines[1].Text) != 10 {
		t.Fatalf("a %d-byte line became %d lines, want 2 (%d and 10 bytes)", maxLogLine+10, len(lines), maxLogLine)
	}
}

// TestLineWriter_LogsAtDebug: container output is kept for the admin API
// and logged only at DEBUG, so that a node at the default level INFO does
// not print every line a function writes.
func TestLineWriter_LogsAtDebug(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var logs strings.Builder
		ring := newOutputRing(10)
		w := &lineWriter{stream: "stdout", ring: ring, log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: tt.level}))}
		w.Write([]byte("tick 1\n"))
		if got := strings.Contains(logs.String(), "tick 1"); got != tt.want {
			t.Errorf("at level %v the node's log = %q; logged the line: %v, want %v", tt.level, logs.String(), got, tt.want)
		}
		if got := ring.tail(1); len(got) != 1 || got[0] != "tick 1" {
			t.Errorf("at level %v ring = %q, want the line kept", tt.level, got)
		}
	}
}
