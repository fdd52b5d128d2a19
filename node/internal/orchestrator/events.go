package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// maxEvents bounds the lifecycle events kept per workflow.
const maxEvents = 1000

// eventLog is a workflow's lifecycle events, numbered from 1, with a way
// to wait for the next one.
type eventLog struct {
	mu      sync.Mutex
	next    uint64
	entries []adminapi.Event
	closed  bool
	changed chan struct{} // closed and replaced on every add, and at close
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

// add appends e (stamped with Seq and Time) unless the log is closed.
func (l *eventLog) add(e adminapi.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.next++
	e.Seq = l.next
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if len(l.entries) == maxEvents {
		l.entries = append(l.entries[:0:0], l.entries[1:]...)
	}
	l.entries = append(l.entries, e)
	if e.Type == adminapi.EventStopped {
		l.closed = true
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// after returns the events with Seq > seq, whether the log is closed, and
// a channel closed at the next change.
func (l *eventLog) after(seq uint64) ([]adminapi.Event, bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []adminapi.Event
	for _, e := range l.entries {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out, l.closed, l.changed
}

// event records e in rec's log and the orchestrator's log.
func (o *Orchestrator) event(rec *workflowRecord, e adminapi.Event) {
	rec.events.add(e)
	attrs := []any{"workflow", rec.id, "event", e.Type, "function", e.Function}
	if e.FunctionID != "" {
		attrs = append(attrs, "instance", e.FunctionID)
	}
	if e.NodeID != "" {
		attrs = append(attrs, "node", e.NodeID)
	}
	if e.Reason != "" {
		attrs = append(attrs, "reason", e.Reason)
	}
	switch e.Type {
	case adminapi.EventCrashed, adminapi.EventNodeLost, adminapi.EventFailed, adminapi.EventWaiting:
		o.log.Warn("workflow function "+e.Type, attrs...)
	default:
		o.log.Info("workflow function "+e.Type, attrs...)
	}
}

// eventsWriteTimeout bounds the write of one event line: a client that
// stops reading is dropped.
const eventsWriteTimeout = 10 * time.Second

// adminEvents answers GET /admin/v1/workflows/{id}/events?after=SEQ&follow=BOOL:
// the workflow's lifecycle events as an application/x-ndjson stream. With
// follow it stays open, sending each event as it happens, until the
// workflow is stopped (the last line is a "stopped" event) or the client
// goes away.
func (o *Orchestrator) adminEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec := o.record(id)
	if rec == nil {
		adminapi.WriteError(w, http.StatusNotFound, fmt.Errorf("%w %q", ErrUnknownWorkflow, id))
		return
	}
	q := r.URL.Query()
	var after uint64
	if v := q.Get("after"); v != "" {
		var err error
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("after=%q: want a sequence number", v))
			return
		}
	}
	follow := false
	if v := q.Get("follow"); v != "" {
		var err error
		if follow, err = strconv.ParseBool(v); err != nil {
			adminapi.WriteError(w, http.StatusBadRequest, fmt.Errorf("follow=%q: want true or false", v))
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	enc := json.NewEncoder(w)
	for {
		evs, closed, changed := rec.events.after(after)
		for _, e := range evs {
			_ = rc.SetWriteDeadline(time.Now().Add(eventsWriteTimeout))
			if err := enc.Encode(e); err != nil {
				return
			}
			after = e.Seq
		}
		_ = rc.Flush()
		if closed || !follow {
			return
		}
		if err := waitChange(r.Context(), o.ctx, changed); err != nil {
			return
		}
	}
}

// waitChange waits until changed is closed or either context is done.
func waitChange(req, orc context.Context, changed <-chan struct{}) error {
	select {
	case <-changed:
		return nil
	case <-req.Done():
		return req.Err()
	case <-orc.Done():
		return orc.Err()
	}
}
