package orchestrator

import (
	"slices"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
)

// maxLogEntries bounds the TelemetryLog entries kept per instance.
const maxLogEntries = 1000

// maxEarlyInstances bounds the instances whose entries are kept before
// they are tracked; the oldest are forgotten first.
const maxEarlyInstances = 64

// logRing holds an instance's most recent entries.
type logRing struct {
	next    uint64
	entries []adminapi.LogEntry
}

func (r *logRing) add(e adminapi.LogEntry) {
	r.next++
	e.Seq = r.next
	if len(r.entries) == maxLogEntries {
		copy(r.entries, r.entries[1:])
		r.entries = r.entries[:maxLogEntries-1]
	}
	r.entries = append(r.entries, e)
}

// after returns the entries with Seq > seq.
func (r *logRing) after(seq uint64) []adminapi.LogEntry {
	for i, e := range r.entries {
		if e.Seq > seq {
			return append([]adminapi.LogEntry(nil), r.entries[i:]...)
		}
	}
	return []adminapi.LogEntry{}
}

// recordLogsLocked keeps the function log entries of instances that belong
// to workflows (rings exist from the instance's start to its workflow's
// stop); entries of other instances are dropped.
func (o *Orchestrator) recordLogsLocked(s *edgelessapi.NodePerformanceSamples) {
	for _, fl := range s.GetFunctionLogEntries() {
		r := o.logs[fl.GetId()]
		if r == nil {
			r = o.earlyRingLocked(fl.GetId())
		}
		for _, e := range fl.GetEntries() {
			r.add(adminapi.LogEntry{
				Time:   time.Unix(e.GetTimestampSec(), int64(e.GetTimestampNs())),
				Target: e.GetTarget(),
				Msg:    e.GetMsg(),
			})
		}
	}
}

// earlyRingLocked returns the ring of an instance that is not tracked
// (yet), making room by forgetting the oldest such instance.
func (o *Orchestrator) earlyRingLocked(functionID string) *logRing {
	if r := o.early[functionID]; r != nil {
		return r
	}
	if len(o.earlyOrder) == maxEarlyInstances {
		delete(o.early, o.earlyOrder[0])
		o.earlyOrder = o.earlyOrder[1:]
	}
	r := &logRing{}
	o.early[functionID] = r
	o.earlyOrder = append(o.earlyOrder, functionID)
	return r
}

// trackLogs starts keeping the entries of an instance, with those that
// arrived before it was tracked.
func (o *Orchestrator) trackLogs(functionID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.logs[functionID] != nil {
		return
	}
	r := o.early[functionID]
	if r == nil {
		r = &logRing{}
	} else {
		delete(o.early, functionID)
		o.earlyOrder = slices.DeleteFunc(o.earlyOrder, func(id string) bool { return id == functionID })
	}
	o.logs[functionID] = r
}

// forgetLogs drops the entries of instances.
func (o *Orchestrator) forgetLogs(ins []*instance) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, in := range ins {
		delete(o.logs, in.functionID)
	}
}

// Logs returns the TelemetryLog entries of an instance with Seq > after,
// and false if the orchestrator does not track the instance.
func (o *Orchestrator) Logs(functionID string, after uint64) ([]adminapi.LogEntry, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.logs[functionID]
	if r == nil {
		return nil, false
	}
	return r.after(after), true
}
