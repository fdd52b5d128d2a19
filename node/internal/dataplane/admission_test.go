package dataplane

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// heldTarget is an instance whose cast worker is stuck in a delivery
// until release is closed (or the delivery's ctx ends), behind a history
// of slow casts, so that the estimate refuses any cast queued behind it
// for about limit: what a test then sends waits at the gate.
type heldTarget struct {
	a, b    *Mailbox
	rb      *fakeReceiver
	release chan struct{}
	d       *Dataplane
}

// newHeldTarget builds it on a data plane with cfg (MaxQueueDelay and
// MaxAdmissionWait set by the caller) and returns once the stuck cast is
// being delivered.
func newHeldTarget(t *testing.T, cfg Config) *heldTarget {
	t.Helper()
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = time.Minute
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 100
	}
	d := newTestDataplane(t, cfg)
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	h := &heldTarget{a: a, b: b, rb: rb, release: make(chan struct{}), d: d}
	taken := make(chan struct{})
	rb.onCast = func(ctx context.Context, _ contract.InstanceID, msg []byte) error {
		if string(msg) == "stuck" {
			close(taken)
			select {
			case <-h.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	if err := a.CastRaw(t.Context(), b.ID(), []byte("stuck")); err != nil {
		t.Fatal(err)
	}
	<-taken
	// The stuck delivery has taken longer than MaxQueueDelay: from now on
	// the estimate refuses every cast behind it (castWait).
	time.Sleep(cfg.MaxQueueDelay + 5*time.Millisecond)
	return h
}

func (h *heldTarget) send(ctx context.Context, msg string) error {
	return h.a.CastRaw(ctx, h.b.ID(), []byte(msg))
}

// waiting returns how many casts wait at b's gate.
func (h *heldTarget) waiting() int { return int(h.b.gate.n.Load()) }

// waitFor waits until n casts wait at b's gate.
func (h *heldTarget) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for h.waiting() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d casts wait at the gate, want %d", h.waiting(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestAdmission_FIFONoOvertaking checks that held casts are admitted in
// the order they arrived, that a cast sent while others wait waits behind
// them even when the estimate would admit it at that moment, and that
// every held cast is delivered once, in order, with its wait reported.
func TestAdmission_FIFONoOvertaking(t *testing.T) {
	t.Parallel()
	const n = 10
	var mu sync.Mutex
	var waits []bool
	h := newHeldTarget(t, Config{MaxQueueDelay: 20 * time.Millisecond, MaxAdmissionWait: time.Minute,
		ObserveAdmissionWait: func(_ time.Duration, admitted bool) {
			mu.Lock()
			waits = append(waits, admitted)
			mu.Unlock()
		}})
	errs := make(chan error, n+1)
	for i := range n {
		go func() { errs <- h.send(t.Context(), strconv.Itoa(i)) }()
		h.waitFor(t, i+1) // one at a time, so that the order is known
	}
	// Once the stuck cast ends the instance is idle: a cast that found
	// nobody waiting would be admitted at once. This one finds n waiting
	// and must queue behind them.
	go func() { errs <- h.send(t.Context(), "late") }()
	h.waitFor(t, n+1)
	close(h.release)
	for range n + 1 {
		if err := <-errs; err != nil {
			t.Errorf("held cast = %v, want admitted", err)
		}
	}
	h.rb.next(t) // the stuck one
	for i := range n {
		if got := h.rb.next(t); string(got.msg) != strconv.Itoa(i) {
			t.Fatalf("delivered %q, want %d (arrival order)", got.msg, i)
		}
	}
	if got := h.rb.next(t); string(got.msg) != "late" {
		t.Fatalf("delivered %q, want late (after the casts that waited before it)", got.msg)
	}
	if s := h.d.Stats(); s.CastsHeld != n+1 || s.CastsShed != 0 || s.CastsDropped != 0 {
		t.Errorf("Stats() CastsHeld=%d CastsShed=%d CastsDropped=%d, want %d, 0, 0", s.CastsHeld, s.CastsShed, s.CastsDropped, n+1)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != n+1 {
		t.Errorf("%d admission waits reported, want %d", len(waits), n+1)
	}
	for i, admitted := range waits {
		if !admitted {
			t.Errorf("admission wait %d reported refused", i)
		}
	}
}

// TestAdmission_BoundedWaiters checks that beyond MaxAdmissionWaiters a
// cast is refused at once (counted as shed), and the waiters are not.
func TestAdmission_BoundedWaiters(t *testing.T) {
	t.Parallel()
	const max = 3
	h := newHeldTarget(t, Config{MaxQueueDelay: 20 * time.Millisecond, MaxAdmissionWait: time.Minute, MaxAdmissionWaiters: max})
	errs := make(chan error, max)
	for i := range max {
		go func() { errs <- h.send(t.Context(), strconv.Itoa(i)) }()
	}
	h.waitFor(t, max)
	t0 := time.Now()
	err := h.send(t.Context(), "beyond")
	if !errors.Is(err, ErrQueueFull) || !errors.Is(err, contract.ErrOverloaded) {
		t.Errorf("cast beyond %d waiters = %v, want ErrQueueFull", max, err)
	}
	// Refused without waiting: nowhere near the minute it could wait.
	if e := time.Since(t0); e > waitTimeout {
		t.Errorf("the refusal took %s", e)
	}
	if s := h.d.Stats(); s.CastsShed != 1 || s.CastsHeld != max {
		t.Errorf("Stats() CastsShed=%d CastsHeld=%d, want 1, %d", s.CastsShed, s.CastsHeld, max)
	}
	close(h.release)
	for range max {
		if err := <-errs; err != nil {
			t.Errorf("waiting cast = %v, want admitted", err)
		}
	}
	h.waitFor(t, 0)
}

// TestAdmission_RefusedAfterBound checks that a cast the estimate keeps
// refusing is refused once MaxAdmissionWait has passed, counted as shed
// and reported as a refused wait, that it leaves the gate, and that the
// queue bytes it held are returned.
func TestAdmission_RefusedAfterBound(t *testing.T) {
	t.Parallel()
	const hold = 50 * time.Millisecond
	refused := make(chan time.Duration, 1)
	h := newHeldTarget(t, Config{MaxQueueDelay: 20 * time.Millisecond, MaxAdmissionWait: hold,
		QueueBytes: 1 << 20,
		ObserveAdmissionWait: func(d time.Duration, admitted bool) {
			if !admitted {
				refused <- d
			}
		}})
	t0 := time.Now()
	err := h.send(t.Context(), "late")
	elapsed := time.Since(t0)
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("cast behind a stuck delivery = %v, want ErrQueueFull", err)
	}
	if elapsed < hold {
		t.Errorf("refused after %s, want after waiting at least %s", elapsed, hold)
	}
	if w := <-refused; w < hold {
		t.Errorf("reported wait %s, want at least %s", w, hold)
	}
	if s := h.d.Stats(); s.CastsShed != 1 || s.CastsHeld != 1 || s.CastsDropped != 1 {
		t.Errorf("Stats() CastsShed=%d CastsHeld=%d CastsDropped=%d, want 1, 1, 1", s.CastsShed, s.CastsHeld, s.CastsDropped)
	}
	if n := h.waiting(); n != 0 {
		t.Errorf("%d casts still wait at the gate", n)
	}
	// Every byte is back: the whole budget can be taken (nothing is queued:
	// the stuck cast was taken from the queue).
	if !h.b.bytes.TryAcquire(1 << 20) {
		t.Error("the queue bytes of the refused cast were not returned")
	} else {
		h.b.bytes.Release(1 << 20)
	}
	close(h.release)
}

// TestAdmission_CancelLeavesCleanly checks that a waiter whose ctx ends
// leaves the gate at once, wherever it stands: the head's leaving passes
// the turn on, a middle one's leaving keeps the order of the rest, and
// the casts that stayed are delivered in order.
func TestAdmission_CancelLeavesCleanly(t *testing.T) {
	t.Parallel()
	h := newHeldTarget(t, Config{MaxQueueDelay: 20 * time.Millisecond, MaxAdmissionWait: time.Minute})
	type sender struct {
		cancel context.CancelFunc
		err    chan error
	}
	senders := make([]sender, 5)
	for i := range senders {
		ctx, cancel := context.WithCancel(t.Context())
		senders[i] = sender{cancel, make(chan error, 1)}
		go func() { senders[i].err <- h.send(ctx, strconv.Itoa(i)) }()
		h.waitFor(t, i+1)
	}
	for _, i := range []int{0, 2, 4} { // the head, a middle one, the tail
		senders[i].cancel()
		if err := <-senders[i].err; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrQueueFull) {
			t.Errorf("cancelled waiter %d = %v, want ErrQueueFull with context.Canceled", i, err)
		}
	}
	h.waitFor(t, 2)
	close(h.release)
	for _, i := range []int{1, 3} {
		if err := <-senders[i].err; err != nil {
			t.Errorf("waiter %d = %v, want admitted", i, err)
		}
		senders[i].cancel()
	}
	h.rb.next(t) // the stuck one
	for _, want := range []string{"1", "3"} {
		if got := h.rb.next(t); string(got.msg) != want {
			t.Fatalf("delivered %q, want %s", got.msg, want)
		}
	}
	h.waitFor(t, 0)
	if s := h.d.Stats(); s.CastsShed != 0 {
		t.Errorf("Stats() CastsShed=%d, want 0 (cancelled, not refused)", s.CastsShed)
	}
	// Unregistering the instance while a cast waits ends its wait too.
	h2 := newHeldTarget(t, Config{MaxQueueDelay: 20 * time.Millisecond, MaxAdmissionWait: time.Minute})
	errc := make(chan error, 1)
	go func() { errc <- h2.send(t.Context(), "orphan") }()
	h2.waitFor(t, 1)
	h2.d.Unregister(h2.b.ID())
	if err := <-errc; !errors.Is(err, ErrUnregistered) {
		t.Errorf("waiter of an unregistered instance = %v, want ErrUnregistered", err)
	}
}

// TestAdmission_SelfCastNotHeld checks that an instance's cast to itself
// is refused at once rather than held, with or without others waiting:
// its sender may be the very delivery it would wait for.
func TestAdmission_SelfCastNotHeld(t *testing.T) {
	t.Parallel()
	h := newHeldTarget(t, Config{MaxQueueDelay: 20 * time.Millisecond, MaxAdmissionWait: time.Minute})
	if err := h.b.Cast(t.Context(), SelfAlias, []byte("self")); !errors.Is(err, ErrQueueFull) {
		t.Errorf("self cast behind a stuck delivery = %v, want ErrQueueFull at once", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- h.send(t.Context(), "other") }()
	h.waitFor(t, 1)
	if err := h.b.Cast(t.Context(), SelfAlias, []byte("self")); !errors.Is(err, ErrQueueFull) {
		t.Errorf("self cast while another waits = %v, want ErrQueueFull at once", err)
	}
	if s := h.d.Stats(); s.CastsHeld != 1 || s.CastsShed != 2 {
		t.Errorf("Stats() CastsHeld=%d CastsShed=%d, want 1 (the other sender), 2", s.CastsHeld, s.CastsShed)
	}
	close(h.release)
	if err := <-errc; err != nil {
		t.Errorf("the other sender's cast = %v, want admitted", err)
	}
}

// TestAdmission_NoGoroutineLeak checks that casts held and then
// admitted, cancelled, refused after the bound, or still waiting when the
// data plane closes leave no goroutine behind.
func TestAdmission_NoGoroutineLeak(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	before := runtime.NumGoroutine()
	func() {
		d := New(Config{NodeID: "5f0a5a5e-0000-4000-8000-000000000001", QueueSize: 100,
			MaxQueueDelay: 10 * time.Millisecond, MaxAdmissionWait: 300 * time.Millisecond, SendTimeout: time.Minute,
			Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		src := contract.InstanceID{NodeID: d.NodeID(), FunctionID: "5f0a5a5e-0000-4000-8000-000000000002"}
		release := make(chan struct{})
		stuck := func(id string) *Mailbox {
			m := d.Register(contract.InstanceID{NodeID: d.NodeID(), FunctionID: id})
			taken := make(chan struct{})
			r := newFakeReceiver()
			r.onCast = func(ctx context.Context, _ contract.InstanceID, msg []byte) error {
				if string(msg) == "stuck" {
					close(taken)
					select {
					case <-release:
					case <-ctx.Done():
					}
				}
				return nil
			}
			m.Attach(r)
			if err := d.Cast(t.Context(), src, m.ID(), []byte("stuck")); err != nil {
				t.Fatal(err)
			}
			<-taken
			time.Sleep(15 * time.Millisecond)
			return m
		}
		dst := stuck("5f0a5a5e-0000-4000-8000-000000000003")
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(t.Context())
		var cancelled atomic.Int32
		for i := range 20 {
			wg.Go(func() {
				c := t.Context()
				if i%4 == 0 {
					c = ctx
				}
				// refused, cancelled or admitted
				if err := d.Cast(c, src, dst.ID(), []byte(strconv.Itoa(i))); errors.Is(err, context.Canceled) {
					cancelled.Add(1)
				}
			})
		}
		// Every one is held (the stuck cast makes the estimate refuse)
		// before a quarter of them are cancelled.
		for held := time.Now(); dst.gate.n.Load() != 20; {
			if time.Since(held) > 200*time.Millisecond {
				t.Fatalf("%d of 20 casts held for admission", dst.gate.n.Load())
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		time.Sleep(350 * time.Millisecond) // past the bound: the rest are refused
		close(release)
		for range 5 {
			wg.Go(func() { d.Cast(t.Context(), src, dst.ID(), []byte("after")) })
		}
		wg.Wait()
		if n := cancelled.Load(); n != 5 {
			t.Errorf("%d held casts ended with context.Canceled, want the 5 whose ctx was cancelled", n)
		}
		if s := d.Stats(); s.CastsHeld < 20 {
			t.Errorf("Stats() CastsHeld=%d, want >= 20", s.CastsHeld)
		}
		// Casts that still wait when the data plane closes.
		release = make(chan struct{}) // never closed
		other := stuck("5f0a5a5e-0000-4000-8000-000000000004")
		for range 5 {
			wg.Go(func() { d.Cast(context.Background(), src, other.ID(), []byte("orphan")) })
		}
		for other.gate.n.Load() != 5 {
			time.Sleep(time.Millisecond)
		}
		closed := make(chan struct{})
		go func() { d.Close(); close(closed) }()
		select {
		case <-closed: // the waiters left at once
		case <-time.After(waitTimeout):
			t.Fatal("Close() did not return: casts still wait for admission")
		}
		wg.Wait()
	}()
	deadline := time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAdmission_ProgressKicksOnlyAdmissible checks that the cast worker
// wakes the head waiter only when the estimate would admit a cast: a head
// woken while the estimate still refuses would only check and wait again.
func TestAdmission_ProgressKicksOnlyAdmissible(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{MaxQueueDelay: 20 * time.Millisecond, MaxAdmissionWait: time.Second})
	// Not attached: its worker waits for Attach and leaves the estimate's
	// state to the test.
	h := d.Register(contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()})
	kicked := func() bool {
		select {
		case <-h.gate.kick:
			return true
		default:
			return false
		}
	}
	now := monoNow()
	h.progress(now)
	if kicked() {
		t.Fatal("kicked with nobody waiting")
	}
	h.gate.n.Store(1) // a cast waits at the gate
	// A delivery under way for a second, at 10 ms a cast: more than the
	// 20 ms allowed.
	h.castCost.Store(int64(10 * time.Millisecond))
	h.castStart.Store(now - int64(time.Second))
	h.progress(now)
	if kicked() {
		t.Fatal("kicked while the estimate refuses a cast")
	}
	// The delivery ended, nothing queued: the head is admitted.
	h.castStart.Store(0)
	h.progress(now)
	if !kicked() {
		t.Fatal("not kicked although the estimate admits a cast")
	}
}
