package guest

import "fmt"

// State is the life-cycle state of an instance (see the package
// documentation for the transitions).
type State int

// The states of the upstream EDGELESS function state machine.
const (
	// PreBooted is the state of a fresh process, before Boot.
	PreBooted State = iota
	// Booted: the instance knows its id and is connected to the host.
	Booted
	// Initialized: Function.Init succeeded; Cast and Call are accepted.
	Initialized
	// Stopped: Stop was handled; a new Boot may start a new life.
	Stopped
	// Error: Init or Stop failed; terminal.
	Error
)

// String returns the state's name, e.g. "Initialized".
func (s State) String() string {
	switch s {
	case PreBooted:
		return "PreBooted"
	case Booted:
		return "Booted"
	case Initialized:
		return "Initialized"
	case Stopped:
		return "Stopped"
	case Error:
		return "Error"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// WrongStateError is the error of a command that arrived in a state that
// does not accept it. The RPC edge answers it with FAILED_PRECONDITION.
type WrongStateError struct {
	// Command is the refused command, e.g. "Cast".
	Command string
	// State is the state the instance was in.
	State State
	// Want lists the states that accept the command.
	Want []State
}

// Error implements error.
func (e *WrongStateError) Error() string {
	return fmt.Sprintf("%s refused: instance is in state %s, want %s", e.Command, e.State, joinStates(e.Want))
}

func joinStates(ss []State) string {
	out := ""
	for i, s := range ss {
		switch {
		case i == 0:
		case i == len(ss)-1:
			out += " or "
		default:
			out += ", "
		}
		out += s.String()
	}
	return out
}
