package guest

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// expiredCtx is a context whose deadline has passed but whose timer has
// not fired yet: Err is still nil.
type expiredCtx struct{ context.Context }

func (expiredCtx) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestRPCFailure_DeadlinePassedBeforeCtxDone: a DEADLINE_EXCEEDED that
// grpc-go reports once the deadline has passed by the clock, before the
// context's timer has fired (a server's RST_STREAM CANCEL at the same
// deadline), still wraps context.DeadlineExceeded; one with the deadline
// ahead does not.
func TestRPCFailure_DeadlinePassedBeforeCtxDone(t *testing.T) {
	rst := status.Error(codes.DeadlineExceeded, "stream terminated by RST_STREAM with error code: CANCEL")
	err := rpcFailure(expiredCtx{context.Background()}, rst)
	if connect.CodeOf(err) != connect.CodeDeadlineExceeded || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("rpcFailure(deadline passed, Err nil) = %v, want DEADLINE_EXCEEDED wrapping context.DeadlineExceeded", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := rpcFailure(ctx, rst); errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("rpcFailure(deadline an hour ahead) = %v wrapping context.DeadlineExceeded, want the server's error only", err)
	}
}
