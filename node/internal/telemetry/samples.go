package telemetry

import (
	"sync"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// SampleKind names one series of NodePerformanceSamples.
type SampleKind int

// The series of NodePerformanceSamples.
const (
	Instantiate SampleKind = iota // function_instantiate_times
	Init                          // function_init_times
	Execution                     // function_execution_times
	Stop                          // function_stop_times
	numKinds
)

// DefaultMaxSamples bounds what Samples holds between two drains.
const DefaultMaxSamples = 100_000

// Samples accumulates performance samples and function log entries until
// the next registration drains them. It holds at most max entries; beyond
// that new entries are dropped and counted, so that an orchestrator that is
// away cannot make the node grow without bound.
type Samples struct {
	mu      sync.Mutex
	max     int
	n       int
	dropped uint64
	series  [numKinds]map[string][]*edgelessapi.Sample
	logs    map[string][]*edgelessapi.FunctionLogEntry
}

// NewSamples returns an empty Samples holding at most max entries
// (DefaultMaxSamples when max <= 0).
func NewSamples(max int) *Samples {
	if max <= 0 {
		max = DefaultMaxSamples
	}
	s := &Samples{max: max}
	s.reset()
	return s
}

func (s *Samples) reset() {
	for k := range s.series {
		s.series[k] = make(map[string][]*edgelessapi.Sample)
	}
	s.logs = make(map[string][]*edgelessapi.FunctionLogEntry)
	s.n = 0
}

// Add records one sample of kind for the instance functionID.
func (s *Samples) Add(kind SampleKind, functionID string, at time.Time, d time.Duration) {
	if kind < 0 || kind >= numKinds {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= s.max {
		s.dropped++
		return
	}
	s.n++
	s.series[kind][functionID] = append(s.series[kind][functionID], &edgelessapi.Sample{
		TimestampSec: at.Unix(), TimestampNs: uint32(at.Nanosecond()), Sample: d.Seconds(),
	})
}

// Log records one function log entry of the instance functionID.
func (s *Samples) Log(functionID string, at time.Time, target, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= s.max {
		s.dropped++
		return
	}
	s.n++
	s.logs[functionID] = append(s.logs[functionID], &edgelessapi.FunctionLogEntry{
		TimestampSec: at.Unix(), TimestampNs: uint32(at.Nanosecond()), Target: target, Msg: msg,
	})
}

// Dropped counts the entries dropped because Samples was full.
func (s *Samples) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Drain returns everything recorded since the last Drain (nil when there is
// nothing) and empties Samples.
func (s *Samples) Drain() *edgelessapi.NodePerformanceSamples {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return nil
	}
	series := func(k SampleKind) []*edgelessapi.Samples {
		var out []*edgelessapi.Samples
		for id, v := range s.series[k] {
			out = append(out, &edgelessapi.Samples{Id: id, Samples: v})
		}
		return out
	}
	out := &edgelessapi.NodePerformanceSamples{
		FunctionInstantiateTimes: series(Instantiate),
		FunctionInitTimes:        series(Init),
		FunctionExecutionTimes:   series(Execution),
		FunctionStopTimes:        series(Stop),
	}
	for id, v := range s.logs {
		out.FunctionLogEntries = append(out.FunctionLogEntries, &edgelessapi.FunctionLogEntries{Id: id, Entries: v})
	}
	s.reset()
	return out
}

// Restore puts back a batch that Drain returned and that could not be
// sent, ahead of what was recorded since, so that it goes with the next
// registration. What does not fit under the bound is dropped and counted.
func (s *Samples) Restore(p *edgelessapi.NodePerformanceSamples) {
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, batch := range map[SampleKind][]*edgelessapi.Samples{
		Instantiate: p.GetFunctionInstantiateTimes(),
		Init:        p.GetFunctionInitTimes(),
		Execution:   p.GetFunctionExecutionTimes(),
		Stop:        p.GetFunctionStopTimes(),
	} {
		for _, ss := range batch {
			keep := s.room(len(ss.GetSamples()))
			s.series[k][ss.GetId()] = append(ss.GetSamples()[:keep:keep], s.series[k][ss.GetId()]...)
		}
	}
	for _, le := range p.GetFunctionLogEntries() {
		keep := s.room(len(le.GetEntries()))
		s.logs[le.GetId()] = append(le.GetEntries()[:keep:keep], s.logs[le.GetId()]...)
	}
}

// room reserves up to n entries under the bound and returns how many it
// could; the rest count as dropped. s.mu must be held.
func (s *Samples) room(n int) int {
	keep := min(n, max(s.max-s.n, 0))
	s.n += keep
	s.dropped += uint64(n - keep)
	return keep
}
