package agent

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// maxExits bounds the exits the node remembers for its orchestrator.
const maxExits = 256

// maxExitsWait caps how long GET /admin/v1/exits waits for a new exit.
const maxExitsWait = 30 * time.Second

// exitLog is the feed of instances that ended on their own, numbered from
// 1, so that the orchestrator can long-poll for what it has not seen: it
// learns of a crash at once instead of at its next inspection.
type exitLog struct {
	mu      sync.Mutex
	next    uint64
	entries []adminapi.Exit
	changed chan struct{} // closed and replaced on every add
}

func newExitLog() *exitLog { return &exitLog{changed: make(chan struct{})} }

func (l *exitLog) add(e adminapi.Exit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.next++
	e.Seq = l.next
	if len(l.entries) == maxExits {
		l.entries = append(l.entries[:0:0], l.entries[1:]...)
	}
	l.entries = append(l.entries, e)
	close(l.changed)
	l.changed = make(chan struct{})
}

// after returns the entries with Seq > seq and a channel closed at the
// next add.
func (l *exitLog) after(seq uint64) ([]adminapi.Exit, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []adminapi.Exit{}
	for _, e := range l.entries {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out, l.changed
}

// wait returns the entries with Seq > seq, waiting up to d (or until ctx
// is done) for one to come.
func (l *exitLog) wait(ctx context.Context, seq uint64, d time.Duration) []adminapi.Exit {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		out, changed := l.after(seq)
		if len(out) > 0 {
			return out
		}
		select {
		case <-changed:
		case <-t.C:
			return out
		case <-ctx.Done():
			return out
		}
	}
}

// adminExits answers GET /admin/v1/exits?after=SEQ&wait_ms=MS: the exits
// with Seq > SEQ, waiting up to MS (at most maxExitsWait) for one.
func (a *Agent) adminExits(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("after=%q: want a sequence number", v))
			return
		}
	}
	var wait time.Duration
	if v := q.Get("wait_ms"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("wait_ms=%q: want milliseconds", v))
			return
		}
		wait = min(time.Duration(ms)*time.Millisecond, maxExitsWait)
	}
	adminapi.WriteJSON(w, http.StatusOK, adminapi.Exits{Exits: a.exits.wait(r.Context(), after, wait)})
}
