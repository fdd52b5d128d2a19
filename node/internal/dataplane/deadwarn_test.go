package dataplane

import (
	"testing"
	"time"
)

func TestDeadWarner_OneLinePerIntervalWithCount(t *testing.T) {
	t.Parallel()
	var w deadWarner
	t0 := time.Unix(1000, 0)
	type step struct {
		at      time.Duration
		due     bool
		dropped int
	}
	for i, s := range []step{
		{0, true, 1},
		{time.Second, false, 0},
		{2 * time.Second, false, 0},
		{deadWarnEvery, true, 3},
		{deadWarnEvery + time.Second, false, 0},
		{3 * deadWarnEvery, true, 2},
	} {
		due, n := w.note(t0.Add(s.at))
		if due != s.due || n != s.dropped {
			t.Errorf("note #%d at +%s = %v, %d; want %v, %d", i, s.at, due, n, s.due, s.dropped)
		}
	}
}
