package container

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

const (
	// defaultLogLines is how many lines an instance keeps in memory.
	defaultLogLines = 500
	// maxLogLine caps one line; longer output is split.
	maxLogLine = 16 << 10
	// exitLogLines is how many lines a contract.ExitInfo or BootError carries.
	exitLogLines = 20
)

// outputRing keeps the last lines a container wrote.
type outputRing struct {
	mu    sync.Mutex
	lines []contract.LogLine
	next  int
	full  bool
}

func newOutputRing(n int) *outputRing {
	if n <= 0 {
		n = defaultLogLines
	}
	return &outputRing{lines: make([]contract.LogLine, n)}
}

func (r *outputRing) add(l contract.LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = l
	r.next++
	if r.next == len(r.lines) {
		r.next, r.full = 0, true
	}
}

// snapshot returns the kept lines, oldest first.
func (r *outputRing) snapshot() []contract.LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]contract.LogLine(nil), r.lines[:r.next]...)
	}
	out := make([]contract.LogLine, 0, len(r.lines))
	out = append(out, r.lines[r.next:]...)
	return append(out, r.lines[:r.next]...)
}

// tail returns the text of the last n lines, oldest first.
func (r *outputRing) tail(n int) []string {
	all := r.snapshot()
	if len(all) > n {
		all = all[len(all)-n:]
	}
	out := make([]string, len(all))
	for i, l := range all {
		out[i] = l.Text
	}
	return out
}

// lineWriter splits a stream into lines, keeps them in a ring and logs
// them with the instance's attributes.
type lineWriter struct {
	stream string
	ring   *outputRing
	log    *slog.Logger
	buf    []byte
}

// Write implements io.Writer.
func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLogLine {
				w.emit(w.buf[:maxLogLine])
				w.buf = append(w.buf[:0], w.buf[maxLogLine:]...)
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.emit(w.buf)
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// flush emits a last line without a newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *lineWriter) emit(b []byte) {
	text := strings.TrimSuffix(string(b), "\r")
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	w.ring.add(contract.LogLine{Time: time.Now(), Stream: w.stream, Text: text})
	// DEBUG: a container's output is read with `edgeless function logs`
	// (the node's admin API); at INFO every line of a busy function would
	// flood the node's own log.
	w.log.LogAttrs(context.Background(), slog.LevelDebug, "container output",
		slog.String("stream", w.stream), slog.String("text", text))
}
