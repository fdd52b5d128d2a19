package contract

import (
	"errors"
	"unicode/utf8"
)

// Errors that a Host, a Runtime or an Instance returns (wrapped with
// context). Each side's RPC edge maps them to wire codes; inside they are
// checked with errors.Is.
var (
	// ErrUnknownAlias: the alias has no mapping. A cast to it is dropped,
	// logged and counted; a call to it answers CALL_RET_ERR.
	ErrUnknownAlias = errors.New("unknown output alias")
	// ErrInvalidPayload: the payload cannot be carried to its destination
	// (e.g. a peer protocol needs UTF-8). The guest gets INVALID_ARGUMENT.
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrUnknownDestination: no instance or node is known under the
	// destination's id (NOT_FOUND at an RPC edge).
	ErrUnknownDestination = errors.New("unknown destination")
	// ErrOverloaded: the destination cannot take more events now
	// (RESOURCE_EXHAUSTED at an RPC edge).
	ErrOverloaded = errors.New("destination overloaded")
	// ErrInstanceStopped: the instance was stopped; calls to it fail.
	ErrInstanceStopped = errors.New("instance stopped")
	// ErrInstanceNotRunning: the instance has not finished starting, or has
	// ended.
	ErrInstanceNotRunning = errors.New("instance not running")
	// ErrRuntimeClosed: the runtime was closed; no instance can start.
	ErrRuntimeClosed = errors.New("runtime closed")
	// ErrDuplicateInstance: an instance with the same ID is already known.
	ErrDuplicateInstance = errors.New("instance already exists")
)

// QuoteLimit is how many bytes of a peer-supplied value Shorten keeps.
const QuoteLimit = 64

// Shorten bounds a peer-supplied value (an id, a header, a config value) that
// an error quotes: the whole value could be as large as a message. It keeps
// at most QuoteLimit bytes, cut at a rune boundary, and marks the cut.
func Shorten(s string) string {
	if len(s) <= QuoteLimit {
		return s
	}
	i := QuoteLimit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
