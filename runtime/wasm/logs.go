package wasm

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// maxLineBytes bounds one log line; longer output is cut into lines.
const maxLineBytes = 4096

// logRing keeps an instance's last log lines.
type logRing struct {
	mu    sync.Mutex
	lines []contract.LogLine
	next  int
	full  bool
}

func newLogRing(n int) *logRing { return &logRing{lines: make([]contract.LogLine, n)} }

func (r *logRing) add(stream, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines[r.next] = contract.LogLine{Time: time.Now(), Stream: stream, Text: strings.ToValidUTF8(text, "\uFFFD")}
	r.next = (r.next + 1) % len(r.lines)
	if r.next == 0 {
		r.full = true
	}
}

func (r *logRing) snapshot() []contract.LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]contract.LogLine(nil), r.lines[:r.next]...)
	}
	return append(append([]contract.LogLine(nil), r.lines[r.next:]...), r.lines[:r.next]...)
}

func (r *logRing) lastTexts(n int) []string {
	all := r.snapshot()
	if len(all) > n {
		all = all[len(all)-n:]
	}
	out := make([]string, len(all))
	for k, l := range all {
		out[k] = l.Text
	}
	return out
}

// writer returns an io.Writer that adds each line written to it as a log
// line of stream (a module's WASI stdout or stderr).
func (r *logRing) writer(stream string) io.Writer { return &lineWriter{ring: r, stream: stream} }

type lineWriter struct {
	ring   *logRing
	stream string
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		k := bytes.IndexByte(p, '\n')
		if k < 0 {
			room := maxLineBytes - len(w.buf)
			if len(p) < room {
				w.buf = append(w.buf, p...)
				break
			}
			w.buf = append(w.buf, p[:room]...)
			p = p[room:]
		} else {
			w.buf = append(w.buf, p[:k]...)
			p = p[k+1:]
		}
		if len(w.buf) > maxLineBytes {
			w.buf = w.buf[:maxLineBytes]
		}
		w.ring.add(w.stream, string(w.buf))
		w.buf = w.buf[:0]
	}
	return n, nil
}
