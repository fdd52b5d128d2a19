package lograte

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter_OneLinePerIntervalWithCount(t *testing.T) {
	t.Parallel()
	var l Limiter
	t0 := time.Unix(1000, 0)
	for i, s := range []struct {
		at  time.Duration
		due bool
		n   int
	}{
		{0, true, 1},
		{time.Second, false, 0},
		{2 * time.Second, false, 0},
		{Every, true, 3},
		{Every + time.Second, false, 0},
		{3 * Every, true, 2},
	} {
		due, n := l.Note(t0.Add(s.at))
		if due != s.due || n != s.n {
			t.Errorf("Note #%d at +%s = %v, %d; want %v, %d", i, s.at, due, n, s.due, s.n)
		}
	}
}

func TestLimiter_Interval(t *testing.T) {
	t.Parallel()
	l := Limiter{Interval: time.Minute}
	t0 := time.Unix(1000, 0)
	l.Note(t0)
	if due, _ := l.Note(t0.Add(Every)); due {
		t.Error("a line due after Every with Interval a minute")
	}
	if due, n := l.Note(t0.Add(time.Minute)); !due || n != 2 {
		t.Errorf("Note after the interval = %v, %d; want true, 2", due, n)
	}
}

// Each key has its own interval; keys beyond MaxKeys share Other.
func TestKeyed_PerKeyAndBounded(t *testing.T) {
	t.Parallel()
	var k Keyed
	t0 := time.Unix(1000, 0)
	for _, key := range []string{"a", "b"} {
		if due, n := k.Note(key, t0); !due || n != 1 {
			t.Errorf("first Note(%q) = %v, %d; want true, 1", key, due, n)
		}
	}
	if due, _ := k.Note("a", t0.Add(time.Second)); due {
		t.Error("second Note(a) within the interval is due")
	}
	lines := 0
	for i := range 10 * MaxKeys {
		if due, _ := k.Note(fmt.Sprint("key", i), t0); due {
			lines++
		}
	}
	// MaxKeys-2 new keys fit beside a and b, then one line for Other.
	if want := MaxKeys - 2 + 1; lines != want {
		t.Errorf("%d distinct keys gave %d lines, want %d", 10*MaxKeys, lines, want)
	}
	if len(k.m) > MaxKeys+1 {
		t.Errorf("Keyed holds %d keys, want at most %d", len(k.m), MaxKeys+1)
	}
}
