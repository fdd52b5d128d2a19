package container

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestBoundContext: the context of a forwarded call ends with the
// instance's cause when end ends, at the call deadline when its parent has
// none (or a later one), and at the parent's deadline when that comes
// first.
func TestBoundContext(t *testing.T) {
	const callTimeout = 50 * time.Millisecond
	i := &Instance{rt: &Runtime{cfg: Config{CallTimeout: callTimeout}}}
	gone := errors.New("instance gone")

	t.Run("end", func(t *testing.T) {
		end, endCancel := context.WithCancelCause(context.Background())
		for _, parent := range []context.Context{context.Background(), withTimeout(t, time.Minute), withTimeout(t, callTimeout/2)} {
			ctx, cancel := i.boundContext(parent, end)
			defer cancel()
			if ctx.Err() != nil {
				t.Fatalf("ended early: %v", ctx.Err())
			}
		}
		ctx, cancel := i.boundContext(withTimeout(t, callTimeout/2), end)
		defer cancel()
		endCancel(gone)
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), gone) {
			t.Fatalf("cause %v, want %v", context.Cause(ctx), gone)
		}
	})
	for _, tc := range []struct {
		name   string
		parent context.Context
		want   time.Duration // the deadline, from now
	}{
		{"no parent deadline", context.Background(), callTimeout},
		{"later parent deadline", withTimeout(t, time.Hour), callTimeout},
		{"earlier parent deadline", withTimeout(t, callTimeout/5), callTimeout / 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			ctx, cancel := i.boundContext(tc.parent, context.Background())
			defer cancel()
			d, ok := ctx.Deadline()
			if !ok || d.Sub(t0) > tc.want+5*time.Millisecond {
				t.Fatalf("deadline %v from now (set %v), want about %v", d.Sub(t0), ok, tc.want)
			}
			<-ctx.Done()
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				t.Fatalf("err %v, want DeadlineExceeded", ctx.Err())
			}
		})
	}
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := i.boundContext(withTimeout(t, time.Minute), context.Background())
		cancel()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("err %v, want Canceled", ctx.Err())
		}
	})
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// BenchmarkBoundContext: the contexts of one event's delivery into a
// function (parent: the data plane's delivery, with the call deadline)
// and of its host request (parent: a request carrying a deadline).
func BenchmarkBoundContext(b *testing.B) {
	i := &Instance{rt: &Runtime{cfg: Config{CallTimeout: time.Minute}}}
	end, endCancel := context.WithCancelCause(context.Background())
	defer endCancel(nil)
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		_, cancel := i.boundContext(parent, end)
		cancel()
	}
}
