package dataplane

import (
	"time"

	"github.com/edgeless-go/edgeless/runtime/lograte"
)

// deadWarnEvery is how often, at most, a mailbox warns about events to its
// instance after the instance has ended.
const deadWarnEvery = lograte.Every

// deadWarner counts the events that fail because their instance has ended
// and decides when to say so: at the first, then at most once per
// deadWarnEvery, with the count of the events since the last line (a
// ticker casting to a dead instance would otherwise log a line per tick).
type deadWarner struct{ lim lograte.Limiter }

// note counts one event; when a line is due it returns true and the count
// since the last line.
func (w *deadWarner) note(now time.Time) (bool, int) { return w.lim.Note(now) }

// warnDead records an event (kind "cast" or "call") that failed because the
// instance has ended, and logs it if a line is due.
func (h *Mailbox) warnDead(kind string, err error) {
	if due, n := h.dead.note(time.Now()); due {
		h.log.Warn("events to an ended instance fail until it is replaced", "kind", kind, "events", n,
			"next_line_in", deadWarnEvery, "err", err)
	}
}
