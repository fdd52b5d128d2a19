package guest_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

// testOptions returns server options that log to the test output.
func testOptions(t *testing.T) guest.Options {
	return guest.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

// ctxTimeout returns the test context bounded to d, for calls expected to
// end on their own.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantCode fails unless err is a connect error with code want.
func wantCode(t *testing.T, what string, err error, want connect.Code) {
	t.Helper()
	if got := connect.CodeOf(err); err == nil || got != want {
		t.Fatalf("%s: error = %v (code %v), want code %v", what, err, got, want)
	}
}

// recorder is a guest.Function whose behaviour tests set per method; it
// records the host handle and what it received.
type recorder struct {
	mu      sync.Mutex
	host    *guest.Host
	payload string
	state   []byte
	inits   int
	stops   int
	casts   [][]byte
	initFn  func() error
	stopFn  func() error
	castFn  func(ctx context.Context, msg []byte) error
	callFn  func(ctx context.Context, msg []byte) (guest.Reply, error)
	lastSrc guest.InstanceID
}

func (r *recorder) Init(_ context.Context, host *guest.Host, payload string, state []byte) error {
	r.mu.Lock()
	r.host, r.payload, r.state = host, payload, state
	r.inits++
	f := r.initFn
	r.mu.Unlock()
	if f != nil {
		return f()
	}
	return nil
}

func (r *recorder) Cast(ctx context.Context, src guest.InstanceID, msg []byte) error {
	r.mu.Lock()
	r.casts = append(r.casts, msg)
	r.lastSrc = src
	f := r.castFn
	r.mu.Unlock()
	if f != nil {
		return f(ctx, msg)
	}
	return nil
}

func (r *recorder) Call(ctx context.Context, src guest.InstanceID, msg []byte) (guest.Reply, error) {
	r.mu.Lock()
	r.lastSrc = src
	f := r.callFn
	r.mu.Unlock()
	if f != nil {
		return f(ctx, msg)
	}
	return guest.ReplyMsg(msg), nil
}

func (r *recorder) Stop(context.Context) error {
	r.mu.Lock()
	r.stops++
	f := r.stopFn
	r.mu.Unlock()
	if f != nil {
		return f()
	}
	return nil
}

func (r *recorder) Host() *guest.Host {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.host
}
