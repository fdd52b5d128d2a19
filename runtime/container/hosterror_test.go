package container

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"connectrpc.com/connect"

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
		want connect.Code
	}{
		{"overloaded", fmt.Errorf("cast: %w", contract.ErrOverloaded), connect.CodeResourceExhausted},
		{"overloaded past the deadline", full, connect.CodeResourceExhausted},
		{"unknown destination", fmt.Errorf("cast: %w", contract.ErrUnknownDestination), connect.CodeNotFound},
		{"unknown alias", fmt.Errorf("cast: %w", contract.ErrUnknownAlias), connect.CodeNotFound},
		{"invalid payload", fmt.Errorf("cast: %w", contract.ErrInvalidPayload), connect.CodeInvalidArgument},
		{"instance stopped", fmt.Errorf("cast: %w", contract.ErrInstanceStopped), connect.CodeUnavailable},
		{"deadline", context.DeadlineExceeded, connect.CodeDeadlineExceeded},
		{"canceled", context.Canceled, connect.CodeCanceled},
		{"a peer's code", fmt.Errorf("send: %w", connect.NewError(connect.CodeUnavailable, errors.New("peer down"))), connect.CodeUnavailable},
		{"anything else", errors.New("boom"), connect.CodeInternal},
	} {
		got := hostError(t.Context(), "cast", tt.err)
		if connect.CodeOf(got) != tt.want || !errors.Is(got, tt.err) {
			t.Errorf("%s: hostError(%v) = %v (code %v), want code %v wrapping the error", tt.name, tt.err, got, connect.CodeOf(got), tt.want)
		}
	}
}
