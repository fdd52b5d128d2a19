package dataplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

func TestDataplane_LocalCastsInOrder(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	const n = 200
	for i := range n {
		if err := a.CastRaw(t.Context(), b.ID(), []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("CastRaw(%d) = %v", i, err)
		}
	}
	for i := range n {
		got := rb.next(t)
		if string(got.msg) != strconv.Itoa(i) || got.src != a.ID() {
			t.Fatalf("cast %d = %q from %v, want %q from %v", i, got.msg, got.src, strconv.Itoa(i), a.ID())
		}
	}
	// The counter follows the receiver's return, which may come after the
	// test has seen the cast.
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(time.Millisecond) {
		s := d.Stats()
		if s.CastsDelivered == n {
			break
		}
		if s.CastsDelivered > n || time.Now().After(deadline) {
			t.Fatalf("Stats().CastsDelivered = %d, want %d", s.CastsDelivered, n)
		}
	}
}

func TestMailbox_AliasesSelfAndReplace(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, ra := instance(t, d)
	b, rb := instance(t, d)
	c, rc := instance(t, d)
	ctx := t.Context()

	a.SetAliases(map[string]contract.InstanceID{"out": b.ID(), "self": c.ID()})
	if err := a.Cast(ctx, "out", []byte("to b")); err != nil {
		t.Fatalf("Cast(out) = %v", err)
	}
	if got := rb.next(t); string(got.msg) != "to b" || got.src != a.ID() {
		t.Errorf("b got %q from %v, want %q from %v", got.msg, got.src, "to b", a.ID())
	}
	// "self" is reserved: it names the sender even if the table maps it.
	if err := a.Cast(ctx, "self", []byte("to me")); err != nil {
		t.Fatalf("Cast(self) = %v", err)
	}
	if got := ra.next(t); string(got.msg) != "to me" || got.src != a.ID() {
		t.Errorf("a got %q from %v, want %q from itself", got.msg, got.src, "to me")
	}
	r, err := a.Call(ctx, "self", []byte("echo"))
	if err != nil || !cmp.Equal(r, reply([]byte("echo"))) {
		t.Errorf("Call(self) = %v, %v, want %v", r, err, reply([]byte("echo")))
	}

	// Patch replaces the whole table.
	a.SetAliases(map[string]contract.InstanceID{"out": c.ID()})
	if err := a.Cast(ctx, "out", []byte("to c")); err != nil {
		t.Fatalf("Cast(out) after patch = %v", err)
	}
	if got := rc.next(t); string(got.msg) != "to c" {
		t.Errorf("c got %q, want %q", got.msg, "to c")
	}
	a.SetAliases(map[string]contract.InstanceID{})
	if err := a.Cast(ctx, "out", []byte("x")); !errors.Is(err, contract.ErrUnknownAlias) {
		t.Errorf("Cast(out) after removal = %v, want ErrUnknownAlias", err)
	}
	if _, err := a.Call(ctx, "missing", []byte("x")); !errors.Is(err, contract.ErrUnknownAlias) {
		t.Errorf("Call(missing) = %v, want ErrUnknownAlias", err)
	}
	if len(rb.casts)+len(rc.casts) != 0 {
		t.Errorf("unexpected casts after alias removal")
	}
}

func TestMailbox_LocalCallReplyTypes(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	rb.onCall = replyByCommand
	a.SetAliases(map[string]contract.InstanceID{"out": b.ID()})
	for _, tt := range replyCases {
		t.Run(tt.msg, func(t *testing.T) {
			got, err := a.Call(t.Context(), "out", []byte(tt.msg))
			if err != nil {
				t.Fatalf("Call(%q) = %v", tt.msg, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Call(%q) reply (-want +got):\n%s", tt.msg, diff)
			}
			got, err = a.CallRaw(t.Context(), b.ID(), []byte(tt.msg))
			if err != nil || !cmp.Equal(got, tt.want) {
				t.Errorf("CallRaw(%q) = %v, %v, want %v", tt.msg, got, err, tt.want)
			}
		})
	}
}

// replyByCommand answers a call according to its payload.
func replyByCommand(_ context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
	switch string(msg) {
	case "noreply":
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}, nil
	case "fail":
		return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}, nil
	case "error":
		return contract.Reply{}, errors.New("receiver broke")
	default:
		return reply(append([]byte("re:"), msg...)), nil
	}
}

var replyCases = []struct {
	msg  string
	want contract.Reply
}{
	{"ping", reply([]byte("re:ping"))},
	{"noreply", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_NO_REPLY}},
	{"fail", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}},
	{"error", contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_ERR}},
}

func TestMailbox_LocalPayloadBytesUnchanged(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	payload := []byte{0xff, 0xfe, 0, 'x'}
	if err := a.CastRaw(t.Context(), b.ID(), payload); err != nil {
		t.Fatalf("CastRaw(non-UTF-8) locally = %v", err)
	}
	if got := rb.next(t); !bytes.Equal(got.msg, payload) {
		t.Errorf("cast payload = %q, want %q", got.msg, payload)
	}
	r, err := a.CallRaw(t.Context(), b.ID(), payload)
	if err != nil || !bytes.Equal(r.Msg, payload) {
		t.Errorf("CallRaw(non-UTF-8) locally = %q, %v, want %q", r.Msg, err, payload)
	}
}

func TestDataplane_UnknownLocalTarget(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	ghost := contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()}
	err := a.CastRaw(t.Context(), ghost, []byte("x"))
	if !errors.Is(err, ErrUnknownInstance) || !errors.Is(err, contract.ErrUnknownDestination) {
		t.Errorf("CastRaw(unknown) = %v, want ErrUnknownInstance, a contract.ErrUnknownDestination", err)
	}
	if s := d.Stats(); s.CastsDropped != 1 {
		t.Errorf("Stats().CastsDropped = %d, want 1", s.CastsDropped)
	}
	if _, err := a.CallRaw(t.Context(), ghost, []byte("x")); !errors.Is(err, ErrUnknownInstance) {
		t.Errorf("CallRaw(unknown) = %v, want ErrUnknownInstance", err)
	}
	if s := d.Stats(); s.PendingCalls != 0 {
		t.Errorf("Stats().PendingCalls = %d, want 0", s.PendingCalls)
	}
	// A node that is neither this one nor a peer.
	far := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	if err := a.CastRaw(t.Context(), far, []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("CastRaw(unknown node) = %v, want ErrUnknownPeer", err)
	}
	if _, err := d.Call(t.Context(), a.ID(), far, []byte("x")); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Call(unknown node) = %v, want ErrUnknownPeer", err)
	}
}

func TestDataplane_AdminSourceCallAndCast(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	b, rb := instance(t, d)
	admin := contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()} // not registered
	if err := d.Cast(t.Context(), admin, b.ID(), []byte("hi")); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if got := rb.next(t); got.src != admin {
		t.Errorf("cast src = %v, want %v", got.src, admin)
	}
	r, err := d.Call(t.Context(), admin, b.ID(), []byte("hi"))
	if err != nil || string(r.Msg) != "hi" {
		t.Errorf("Call = %q, %v, want %q", r.Msg, err, "hi")
	}
}

// Upstream deadlocks when A calls B and B calls A back while A is still in
// its call handler; here the inner call is delivered concurrently.
func TestDataplane_NestedCallsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	checkNestedCall(t, d, d, d)
}

// checkNestedCall registers A on da and B on db, then calls A from a source
// on caller: A calls B, which calls A back while A is still in its handler.
func checkNestedCall(t *testing.T, da, db, caller *Dataplane) {
	t.Helper()
	a, ra := instance(t, da)
	b, rb := instance(t, db)
	ra.onCall = func(ctx context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
		if string(msg) == "outer" {
			return a.CallRaw(ctx, b.ID(), []byte("middle"))
		}
		return reply([]byte("inner-done")), nil
	}
	rb.onCall = func(ctx context.Context, _ contract.InstanceID, _ []byte) (contract.Reply, error) {
		return b.CallRaw(ctx, a.ID(), []byte("inner"))
	}
	src := contract.InstanceID{NodeID: caller.NodeID(), FunctionID: uuid.NewString()}
	r, err := caller.Call(t.Context(), src, a.ID(), []byte("outer"))
	if err != nil || string(r.Msg) != "inner-done" {
		t.Errorf("Call(outer) = %q, %v, want %q", r.Msg, err, "inner-done")
	}
}

// A cast handler that calls back into its own instance (through another,
// and directly with "self") must be served while the cast is still being
// handled: casts are delivered one at a time, but calls do not queue behind
// them.
func TestDataplane_CallFromCastHandlerDoesNotDeadlock(t *testing.T) {
	t.Parallel()
	// A short call deadline turns a deadlock into a failure, not a hang.
	d := newTestDataplane(t, Config{CallTimeout: 5 * time.Second})
	a, ra := instance(t, d)
	b, rb := instance(t, d)
	a.SetAliases(map[string]contract.InstanceID{"b": b.ID()})
	results := make(chan string, 2)
	ra.onCast = func(ctx context.Context, _ contract.InstanceID, msg []byte) error {
		if string(msg) != "start" {
			return nil
		}
		viaB, err := a.Call(ctx, "b", []byte("to-b"))
		results <- fmt.Sprintf("via b: %q %v", viaB.Msg, err)
		self, err := a.Call(ctx, SelfAlias, []byte("to-self"))
		results <- fmt.Sprintf("self: %q %v", self.Msg, err)
		return nil
	}
	ra.onCall = func(_ context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
		return reply(append([]byte("a got "), msg...)), nil
	}
	rb.onCall = func(ctx context.Context, _ contract.InstanceID, _ []byte) (contract.Reply, error) {
		return b.CallRaw(ctx, a.ID(), []byte("from-b"))
	}
	src := contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()}
	if err := d.Cast(t.Context(), src, a.ID(), []byte("start")); err != nil {
		t.Fatalf("Cast(start) = %v", err)
	}
	for _, want := range []string{`via b: "a got from-b" <nil>`, `self: "a got to-self" <nil>`} {
		select {
		case got := <-results:
			if got != want {
				t.Errorf("nested call from a cast handler: %s, want %s", got, want)
			}
		case <-time.After(waitTimeout):
			t.Fatal("nested call from a cast handler never answered")
		}
	}
}

func TestMailbox_EventsBeforeAttachWait(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	b := d.Register(contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()})
	for i := range 3 {
		if err := a.CastRaw(t.Context(), b.ID(), []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("CastRaw before Attach = %v", err)
		}
	}
	done := callAsync(t.Context(), a, b.ID(), "early")
	rb := newFakeReceiver()
	b.Attach(rb)
	for i := range 3 {
		if got := rb.next(t); string(got.msg) != strconv.Itoa(i) {
			t.Errorf("cast %d = %q, want %q", i, got.msg, strconv.Itoa(i))
		}
	}
	res := <-done
	if res.err != nil || string(res.reply.Msg) != "early" {
		t.Errorf("CallRaw before Attach = %q, %v, want %q", res.reply.Msg, res.err, "early")
	}
}

func TestDataplane_UnregisterFailsPendingCallsAtOnce(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	started := make(chan struct{})
	rb.onCall = func(ctx context.Context, _ contract.InstanceID, _ []byte) (contract.Reply, error) {
		close(started)
		<-ctx.Done() // a well-behaved instance honours ctx
		return contract.Reply{}, ctx.Err()
	}
	done := callAsync(t.Context(), a, b.ID(), "hang")
	<-started
	d.Unregister(b.ID())
	if err := (<-done).err; !errors.Is(err, ErrUnregistered) {
		t.Errorf("CallRaw to unregistered callee = %v, want ErrUnregistered", err)
	}
	if err := a.CastRaw(t.Context(), b.ID(), []byte("x")); !errors.Is(err, ErrUnknownInstance) {
		t.Errorf("CastRaw after Unregister = %v, want ErrUnknownInstance", err)
	}
	if s := d.Stats(); s.PendingCalls != 0 {
		t.Errorf("Stats().PendingCalls = %d, want 0", s.PendingCalls)
	}
}

func TestDataplane_CallDeadline(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{CallTimeout: 100 * time.Millisecond})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	rb.onCall = func(ctx context.Context, _ contract.InstanceID, _ []byte) (contract.Reply, error) {
		<-ctx.Done()
		return contract.Reply{}, ctx.Err()
	}
	// Config.CallTimeout bounds a call whose ctx has no deadline.
	if _, err := a.CallRaw(context.Background(), b.ID(), []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CallRaw = %v, want DeadlineExceeded", err)
	}
}

func TestMailbox_QueueBackPressure(t *testing.T) {
	t.Parallel()
	const size = 2
	d := newTestDataplane(t, Config{QueueSize: size, SendTimeout: 200 * time.Millisecond})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	taken, release := rb.holdCasts()
	send := func(ctx context.Context, i int) error { return a.CastRaw(ctx, b.ID(), []byte(strconv.Itoa(i))) }
	if err := send(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	<-taken // the worker holds event 0; the queue is empty again
	for i := 1; i <= size; i++ {
		if err := send(t.Context(), i); err != nil {
			t.Fatalf("cast %d into a queue with room = %v", i, err)
		}
	}
	// Full: the sender waits until its ctx ends...
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err := send(ctx, 99)
	if !errors.Is(err, ErrQueueFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cast into full queue = %v, want ErrQueueFull and DeadlineExceeded", err)
	}
	if !errors.Is(err, contract.ErrOverloaded) {
		t.Errorf("cast into full queue = %v, want a contract.ErrOverloaded for the runtime", err)
	}
	// ...or at most SendTimeout when its ctx allows longer.
	if err := send(context.Background(), 99); !errors.Is(err, ErrQueueFull) {
		t.Errorf("cast into full queue without deadline = %v, want ErrQueueFull", err)
	}
	// Calls have their own queue: one is answered while casts back up.
	if r, err := a.CallRaw(context.Background(), b.ID(), []byte("call")); err != nil || string(r.Msg) != "call" {
		t.Errorf("call while the cast queue is full = %q, %v, want the echo", r.Msg, err)
	}
	if s := d.Stats(); s.QueueFull != 2 || s.CastsDropped != 2 {
		t.Errorf("Stats() QueueFull=%d CastsDropped=%d, want 2 and 2", s.QueueFull, s.CastsDropped)
	}
	close(release)
	for i := 0; i <= size; i++ {
		if got := rb.next(t); string(got.msg) != strconv.Itoa(i) {
			t.Errorf("delivered %q, want %q", got.msg, strconv.Itoa(i))
		}
	}
}

func TestMailbox_CallQueueBackPressure(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{QueueSize: 1, MaxConcurrentCalls: 1, SendTimeout: waitTimeout})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	started := make(chan struct{}, 16)
	release := make(chan struct{})
	rb.onCall = func(ctx context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
		started <- struct{}{}
		select {
		case <-release:
			return reply(msg), nil
		case <-ctx.Done():
			return contract.Reply{}, ctx.Err()
		}
	}
	done := callAsync(context.Background(), a, b.ID(), "1")
	<-started // call 1 holds the only slot
	queued := func(stream uint64) {
		t.Helper()
		it := delivery{typ: edgelessapi.EventType_CALL, src: a.ID(), stream: stream, msg: []byte("q"),
			deadline: time.Now().Add(waitTimeout)}
		if err := b.enqueue(t.Context(), it); err != nil {
			t.Fatalf("enqueue call %d = %v", stream, err)
		}
	}
	queued(1001)
	// The call worker takes it and waits for a slot...
	for deadline := time.Now().Add(waitTimeout); len(b.calls) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call worker never took the queued call")
		}
	}
	queued(1002) // ...so this one fills the queue.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.CallRaw(ctx, b.ID(), []byte("4")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("call into a full call queue = %v, want ErrQueueFull", err)
	}
	close(release)
	if err := (<-done).err; err != nil {
		t.Errorf("call 1 = %v, want its reply once released", err)
	}
}

func TestDataplane_UnregisterDropsQueuedCasts(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	a, _ := instance(t, d)
	b := d.Register(contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()})
	for i := range 5 {
		if err := a.CastRaw(t.Context(), b.ID(), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	d.Unregister(b.ID()) // never attached: all five are dropped, counted
	if s := d.Stats(); s.CastsDropped != 5 {
		t.Errorf("Stats().CastsDropped = %d, want 5", s.CastsDropped)
	}
}

func TestDataplane_CanonicalIDs(t *testing.T) {
	t.Parallel()
	d := newTestDataplane(t, Config{})
	b, rb := instance(t, d)
	upper := contract.InstanceID{NodeID: bytesUpper(b.ID().NodeID), FunctionID: bytesUpper(b.ID().FunctionID)}
	if err := d.Cast(t.Context(), upper, upper, []byte("x")); err != nil {
		t.Fatalf("Cast to upper-case id = %v", err)
	}
	if got := rb.next(t); got.src != b.ID() {
		t.Errorf("src = %v, want canonical %v", got.src, b.ID())
	}
}

func bytesUpper(s string) string { return string(bytes.ToUpper([]byte(s))) }

func TestMailbox_CallConcurrencyBounded(t *testing.T) {
	t.Parallel()
	const limit, calls = 2, 5
	d := newTestDataplane(t, Config{MaxConcurrentCalls: limit})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	var inflight, peak atomic.Int32
	started := make(chan struct{}, calls)
	release := make(chan struct{})
	rb.onCall = func(ctx context.Context, _ contract.InstanceID, msg []byte) (contract.Reply, error) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return contract.Reply{}, ctx.Err()
		}
		return reply(msg), nil
	}
	done := make([]<-chan callResult, calls)
	for i := range calls {
		done[i] = callAsync(t.Context(), a, b.ID(), strconv.Itoa(i))
	}
	for range limit {
		<-started
	}
	// The other calls now wait for a slot; a cast behind them still queues.
	if err := a.CastRaw(t.Context(), b.ID(), []byte("cast")); err != nil {
		t.Errorf("CastRaw behind waiting calls = %v", err)
	}
	if got := peak.Load(); got > limit {
		t.Errorf("%d calls delivered at once, want at most %d", got, limit)
	}
	close(release)
	for i := range calls {
		if res := <-done[i]; res.err != nil {
			t.Errorf("CallRaw(%d) = %v", i, res.err)
		}
	}
	if got := peak.Load(); got > limit {
		t.Errorf("%d calls delivered at once, want at most %d", got, limit)
	}
	if got := rb.next(t); string(got.msg) != "cast" {
		t.Errorf("cast = %q, want %q", got.msg, "cast")
	}
}

// TestHandle_QueueBytesBounded fills an instance's queue with large events:
// the bytes, not only the count, bound what waits, and an event larger than
// the whole budget is refused at once.
func TestHandle_QueueBytesBounded(t *testing.T) {
	t.Parallel()
	const payload = 4 << 10
	d := newTestDataplane(t, Config{QueueBytes: 3 * (payload + 256), SendTimeout: 100 * time.Millisecond})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	taken, release := rb.holdCasts()
	big := func(i int) []byte { return append([]byte(strconv.Itoa(i)+" "), make([]byte, payload-8)...) }
	if err := a.CastRaw(t.Context(), b.ID(), big(0)); err != nil {
		t.Fatal(err)
	}
	<-taken // the worker holds event 0 (its bytes are no longer queued)
	for i := 1; i <= 3; i++ {
		if err := a.CastRaw(t.Context(), b.ID(), big(i)); err != nil {
			t.Fatalf("cast %d with room for 3 = %v", i, err)
		}
	}
	err := a.CastRaw(t.Context(), b.ID(), big(4))
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "bytes waiting") {
		t.Errorf("cast beyond the queue's bytes = %v, want ErrQueueFull naming the bytes", err)
	}
	huge := make([]byte, 4*payload)
	if err := a.CastRaw(t.Context(), b.ID(), huge); !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "exceeds its queue") {
		t.Errorf("cast larger than the queue = %v, want ErrQueueFull at once", err)
	}
	close(release)
	for i := 0; i <= 3; i++ {
		if got := rb.next(t); !bytes.HasPrefix(got.msg, []byte(strconv.Itoa(i)+" ")) {
			t.Errorf("delivered %.8q, want event %d", got.msg, i)
		}
	}
	// Delivered events give their bytes back: the queue takes 3 again.
	for i := range 3 {
		if err := a.CastRaw(t.Context(), b.ID(), big(i)); err != nil {
			t.Errorf("cast %d after the queue drained = %v", i, err)
		}
	}
}

// TestMailbox_MaxQueueDelaySheds checks that a cast queue sized in time
// refuses casts at once once it holds more than MaxQueueDelay of work, that
// the refusals are counted, and that every accepted cast is delivered.
func TestMailbox_MaxQueueDelaySheds(t *testing.T) {
	t.Parallel()
	const (
		cost  = 20 * time.Millisecond // each cast takes at least this long
		limit = 50 * time.Millisecond
	)
	// SendTimeout far above limit: a refusal that waited for room would
	// show as a run of the test that takes minutes, not as a pass.
	d := newTestDataplane(t, Config{QueueSize: 100, MaxQueueDelay: limit, SendTimeout: time.Minute})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	taken := make(chan struct{}, 100)
	release := make(chan struct{})
	rb.onCast = func(ctx context.Context, _ contract.InstanceID, msg []byte) error {
		if string(msg) == "0" {
			time.Sleep(cost)
			return nil
		}
		taken <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	send := func(i int) error { return a.CastRaw(t.Context(), b.ID(), []byte(strconv.Itoa(i))) }
	for i := range 2 {
		if err := send(i); err != nil {
			t.Fatal(err)
		}
	}
	<-taken // cast 0's time is recorded; the worker holds cast 1
	accepted := 2
	var err error
	for ; accepted < 100; accepted++ {
		if err = send(accepted); err != nil {
			break
		}
	}
	// At most limit/cost casts queued behind the one being delivered.
	if max := 2 + int(limit/cost) + 1; accepted > max {
		t.Errorf("accepted %d casts, want at most %d with %s each and %s allowed", accepted, max, cost, limit)
	}
	if !errors.Is(err, ErrQueueFull) || !errors.Is(err, contract.ErrOverloaded) || !strings.Contains(err.Error(), "casts queued") {
		t.Errorf("cast beyond the queue's time = %v, want ErrQueueFull (casts queued ...)", err)
	}
	if s := d.Stats(); s.CastsShed != 1 || s.CastsDropped != 1 || s.QueueFull != 0 {
		t.Errorf("Stats() CastsShed=%d CastsDropped=%d QueueFull=%d, want 1, 1, 0", s.CastsShed, s.CastsDropped, s.QueueFull)
	}
	close(release)
	for i := range accepted {
		if got := rb.next(t); string(got.msg) != strconv.Itoa(i) {
			t.Fatalf("delivered %q, want %d", got.msg, i)
		}
	}
}

func TestMailbox_ReceivedCounts(t *testing.T) {
	t.Parallel()
	d1, d2 := twoNodes(t, Config{}, Config{})
	a, _ := instance(t, d1)
	b, rb := instance(t, d1)
	far, rfar := instance(t, d2)
	for i := range 3 {
		if err := a.CastRaw(t.Context(), b.ID(), []byte("x")); err != nil {
			t.Fatalf("CastRaw(%d) = %v", i, err)
		}
		rb.next(t)
	}
	if _, err := a.CallRaw(t.Context(), b.ID(), []byte("q")); err != nil {
		t.Fatalf("CallRaw = %v", err)
	}
	if err := a.CastRaw(t.Context(), far.ID(), []byte("x")); err != nil {
		t.Fatalf("CastRaw(remote) = %v", err)
	}
	rfar.next(t)
	for _, tt := range []struct {
		name string
		m    *Mailbox
		want uint64
	}{{"sender", a, 0}, {"local receiver", b, 4}, {"remote receiver", far, 1}} {
		if got := tt.m.Received(); got != tt.want {
			t.Errorf("%s: Received() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestMailbox_MaxQueueDelayFollowsSlowdown checks that the time-sized cast
// queue follows an instance that suddenly slows down: once a cast has
// waited longer per cast ahead of it than the moving average of the
// service times says (which lags), further casts are refused, and when the
// queue has drained casts are accepted again.
func TestMailbox_MaxQueueDelayFollowsSlowdown(t *testing.T) {
	t.Parallel()
	const (
		slow  = 50 * time.Millisecond
		limit = 100 * time.Millisecond
		batch = 8
	)
	d := newTestDataplane(t, Config{QueueSize: 100, MaxQueueDelay: limit, SendTimeout: time.Minute})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	var slowNow atomic.Bool
	rb.onCast = func(ctx context.Context, _ contract.InstanceID, msg []byte) error {
		if slowNow.Load() {
			time.Sleep(slow)
		}
		return nil
	}
	send := func(s string) error { return a.CastRaw(t.Context(), b.ID(), []byte(s)) }
	// Fast casts, one at a time: the average service time is small.
	for i := range 20 {
		if err := send("warm"); err != nil {
			t.Fatalf("warm cast %d = %v", i, err)
		}
		rb.next(t)
	}
	slowNow.Store(true)
	// A burst the average admits: it has not seen a slow cast yet.
	for i := range batch {
		if err := send(strconv.Itoa(i)); err != nil {
			t.Fatalf("cast %d of the burst = %v", i, err)
		}
	}
	rb.next(t) // cast 0 delivered after slow
	rb.next(t) // cast 1 delivered: it waited about slow behind one cast
	// Six casts ahead at about slow each: far beyond limit, although the
	// moving average has seen only two slow casts.
	err := send("late")
	if !errors.Is(err, ErrQueueFull) {
		t.Errorf("cast behind %d slow casts = %v, want ErrQueueFull", batch-2, err)
	}
	for i := 2; i < batch; i++ {
		if got := rb.next(t); string(got.msg) != strconv.Itoa(i) {
			t.Fatalf("delivered %q, want %d", got.msg, i)
		}
	}
	// Drained: the next cast finds the instance idle and is accepted.
	deadline := time.Now().Add(waitTimeout)
	for b.castStart.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := send("after"); err != nil {
		t.Errorf("cast after the queue drained = %v", err)
	}
	rb.next(t)
}

// TestMailbox_ObserveCastWait checks that every delivered cast reports the
// time it waited in the queue.
func TestMailbox_ObserveCastWait(t *testing.T) {
	t.Parallel()
	const hold = 30 * time.Millisecond
	waits := make(chan time.Duration, 10)
	d := newTestDataplane(t, Config{ObserveCastWait: func(w time.Duration) { waits <- w }})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	taken, release := make(chan struct{}), make(chan struct{})
	rb.onCast = func(_ context.Context, _ contract.InstanceID, msg []byte) error {
		if string(msg) == "0" {
			close(taken)
			<-release
		}
		return nil
	}
	if err := a.CastRaw(t.Context(), b.ID(), []byte("0")); err != nil {
		t.Fatal(err)
	}
	<-taken
	if err := a.CastRaw(t.Context(), b.ID(), []byte("1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(hold)
	close(release)
	rb.next(t)
	rb.next(t)
	first, second := <-waits, <-waits
	if first < 0 || second < hold {
		t.Errorf("waits %s and %s, want the second at least %s (behind a held cast)", first, second, hold)
	}
	select {
	case w := <-waits:
		t.Errorf("a third wait %s for two casts", w)
	default:
	}
}

// TestMailbox_MaxQueueDelayCountsAStall checks that a delivery that has
// taken longer than the time a queue may hold makes the instance refuse
// casts, although its service times so far were short, and that casts
// are accepted again once it ends.
func TestMailbox_MaxQueueDelayCountsAStall(t *testing.T) {
	t.Parallel()
	const limit = 50 * time.Millisecond
	d := newTestDataplane(t, Config{QueueSize: 100, MaxQueueDelay: limit, SendTimeout: time.Minute})
	a, _ := instance(t, d)
	b, rb := instance(t, d)
	taken, release := make(chan struct{}), make(chan struct{})
	rb.onCast = func(_ context.Context, _ contract.InstanceID, msg []byte) error {
		if string(msg) == "stall" {
			close(taken)
			<-release
		}
		return nil
	}
	send := func(s string) error { return a.CastRaw(t.Context(), b.ID(), []byte(s)) }
	for i := range 20 { // short service times
		if err := send("warm"); err != nil {
			t.Fatalf("warm cast %d = %v", i, err)
		}
		rb.next(t)
	}
	if err := send("stall"); err != nil {
		t.Fatal(err)
	}
	<-taken
	time.Sleep(2 * limit)
	if err := send("behind"); !errors.Is(err, ErrQueueFull) {
		t.Errorf("cast behind a delivery stalled for %s = %v, want ErrQueueFull", 2*limit, err)
	}
	close(release)
	rb.next(t)
	deadline := time.Now().Add(waitTimeout)
	for b.castStart.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := send("after"); err != nil {
		t.Errorf("cast after the stall = %v", err)
	}
	if got := rb.next(t); string(got.msg) != "after" {
		t.Errorf("delivered %q, want after", got.msg)
	}
}
