package container

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// TestHostError_ContractErrors: the GuestAPIHost server is the edge where
// the node's contract errors get their wire codes; the node builds none.
func TestHostError_ContractErrors(t *testing.T) {
	t.Parallel()
	// A full queue past the sender's deadline matches both ErrOverloaded
	// and DeadlineExceeded; the overload decides the code.
	full := fmt.Errorf("cast a -> b: instance queue full: %w: %w", contract.ErrOverloaded, context.DeadlineExceeded)
	for _, tt := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"overloaded", fmt.Errorf("cast: %w", contract.ErrOverloaded), codes.ResourceExhausted},
		{"overloaded past the deadline", full, codes.ResourceExhausted},
		{"unknown destination", fmt.Errorf("cast: %w", contract.ErrUnknownDestination), codes.NotFound},
		{"unknown alias", fmt.Errorf("cast: %w", contract.ErrUnknownAlias), codes.NotFound},
		{"invalid payload", fmt.Errorf("cast: %w", contract.ErrInvalidPayload), codes.InvalidArgument},
		{"instance stopped", fmt.Errorf("cast: %w", contract.ErrInstanceStopped), codes.Unavailable},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
		{"canceled", context.Canceled, codes.Canceled},
		{"a peer's code", fmt.Errorf("send: %w", connect.NewError(connect.CodeUnavailable, errors.New("peer down"))), codes.Unavailable},
		{"a grpc-go peer's code", fmt.Errorf("send: %w", status.Error(codes.FailedPrecondition, "peer says no")), codes.FailedPrecondition},
		{"anything else", errors.New("boom"), codes.Internal},
	} {
		got := hostError(t.Context(), "cast", tt.err)
		if status.Code(got) != tt.want || !errors.Is(got, tt.err) {
			t.Errorf("%s: hostError(%v) = %v (code %v), want code %v wrapping the error", tt.name, tt.err, got, status.Code(got), tt.want)
		}
	}
}
