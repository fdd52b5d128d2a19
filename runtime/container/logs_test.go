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
