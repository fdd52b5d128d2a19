package container

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// Errors returned by the runtime, besides the contract's (ErrInstanceStopped,
// ErrInstanceNotRunning, ErrRuntimeClosed, ErrDuplicateInstance, ...).
var (
	// ErrImageNotFound: the image of a container: code string is not on
	// the host. The runtime never pulls.
	ErrImageNotFound = errors.New("image not found locally (the runtime never pulls; load or build it first)")
	// ErrBadCode: the code string is neither container:<image> nor
	// grpc:<url>.
	ErrBadCode = errors.New("bad function code")
	// ErrBadAnnotation: a resource annotation has a value the runtime cannot
	// use.
	ErrBadAnnotation = errors.New("bad annotation")
	// ErrLimitExceeded: an annotation asks for more than the node's
	// maximum (Config.Maxima).
	ErrLimitExceeded = errors.New("limit exceeded")
)

// ExitError says that an instance's container ended on its own. Calls that
// were pending, and calls made afterwards, fail with it.
type ExitError struct {
	Info contract.ExitInfo
}

// Error implements error.
func (e *ExitError) Error() string {
	return fmt.Sprintf("instance %s/%s ended: %s (exit code %d)",
		e.Info.ID.NodeID, e.Info.ID.FunctionID, e.Info.Reason, e.Info.ExitCode)
}

// Is makes errors.Is(err, contract.ErrInstanceNotRunning) true: the
// instance has ended.
func (e *ExitError) Is(target error) bool { return target == contract.ErrInstanceNotRunning }

// BootError says that an instance did not come up: its container exited
// while booting, or Boot did not succeed before the deadline.
type BootError struct {
	ID    contract.InstanceID
	Image string
	// Exited is true when the container ended during the boot; ExitCode
	// and Reason are then set.
	Exited   bool
	ExitCode int
	Reason   string
	// LastLogs are the last lines the container wrote.
	LastLogs []string
	// Err is the underlying cause (the last Boot error, or the deadline).
	Err error
}

// Error implements error.
func (e *BootError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "boot instance %s", e.ID.FunctionID)
	if e.Image != "" {
		fmt.Fprintf(&b, " (image %s)", e.Image)
	}
	if e.Exited {
		fmt.Fprintf(&b, ": container %s with exit code %d while booting", e.Reason, e.ExitCode)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.LastLogs) > 0 {
		fmt.Fprintf(&b, "; last output: %s", strings.Join(e.LastLogs, " | "))
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *BootError) Unwrap() error { return e.Err }

// initError is a failed Init. It says so once: the function's own message
// without the RPC code ("internal: ") and without the "Init: " prefix that
// our guest SDK adds.
type initError struct{ err error }

// Error implements error.
func (e *initError) Error() string {
	if fs := new(functionStatus); errors.As(e.err, &fs) {
		if st := status.Convert(fs.err); st.Code() != codes.DeadlineExceeded && st.Code() != codes.Unavailable {
			return "init: " + strings.TrimPrefix(st.Message(), "Init: ")
		}
	}
	return "init: " + e.err.Error()
}

// Unwrap returns the cause.
func (e *initError) Unwrap() error { return e.err }
