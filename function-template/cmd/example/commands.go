package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

// The payload command language. The first word of a Cast or Call payload
// is the command; MSG is the rest of the payload, verbatim (it may contain
// spaces and any bytes). In a Cast the reply is discarded.
//
//	recast ALIAS MSG                  host Cast(ALIAS, MSG); reply "ok"
//	castraw NODE_ID FUNCTION_ID MSG   host CastRaw; reply "ok"
//	recall ALIAS MSG                  host Call(ALIAS, MSG); reply with the callee's answer
//	callraw NODE_ID FUNCTION_ID MSG   host CallRaw; reply as recall
//	delayed MS ALIAS MSG              host DelayedCast(ALIAS, MS ms, MSG); reply "ok"
//	sync STATE                        host Sync(STATE); reply "ok"
//	state                             reply the state received in Init or last synced
//	log TARGET MSG                    host TelemetryLog(INFO, TARGET, MSG); reply "ok"
//	self                              host Slf; reply "NODE_ID FUNCTION_ID"
//	sleep MS                          sleep MS ms (cancellable); reply "slept"
//	noreply                           answer CALL_RET_NO_REPLY
//	fail MSG                          return an error (CALL_RET_ERR)
//	panic                             panic (recovered by the SDK, answered as an error)
//	exit CODE                         end the process with os.Exit(CODE)
//
// Anything else is not a command: a Cast re-casts it to "output", a Call
// echoes it.

var ok = guest.ReplyMsg([]byte("ok"))

// run executes msg if it is a command; isCommand reports whether it was.
func (f *function) run(ctx context.Context, msg []byte) (reply guest.Reply, isCommand bool, err error) {
	cmd, rest, _ := bytes.Cut(msg, []byte(" "))
	switch string(cmd) {
	case "recast":
		alias, m, err := word(rest, "recast", "ALIAS")
		if err != nil {
			return guest.Reply{}, true, err
		}
		return ok, true, f.host.Cast(ctx, alias, m)
	case "castraw":
		dst, m, err := instanceArgs(rest, "castraw")
		if err != nil {
			return guest.Reply{}, true, err
		}
		return ok, true, f.host.CastRaw(ctx, dst, m)
	case "recall":
		alias, m, err := word(rest, "recall", "ALIAS")
		if err != nil {
			return guest.Reply{}, true, err
		}
		r, err := f.host.Call(ctx, alias, m)
		return r, true, err
	case "callraw":
		dst, m, err := instanceArgs(rest, "callraw")
		if err != nil {
			return guest.Reply{}, true, err
		}
		r, err := f.host.CallRaw(ctx, dst, m)
		return r, true, err
	case "delayed":
		msArg, rest, err := word(rest, "delayed", "MS")
		if err != nil {
			return guest.Reply{}, true, err
		}
		ms, err := strconv.ParseUint(msArg, 10, 32)
		if err != nil {
			return guest.Reply{}, true, fmt.Errorf("delayed: MS %q is not a non-negative integer", msArg)
		}
		alias, m, err := word(rest, "delayed", "ALIAS")
		if err != nil {
			return guest.Reply{}, true, err
		}
		return ok, true, f.host.DelayedCast(ctx, alias, time.Duration(ms)*time.Millisecond, m)
	case "sync":
		if err := f.host.Sync(ctx, rest); err != nil {
			return guest.Reply{}, true, err
		}
		f.mu.Lock()
		f.state = bytes.Clone(rest)
		f.mu.Unlock()
		return ok, true, nil
	case "state":
		f.mu.Lock()
		state := bytes.Clone(f.state)
		f.mu.Unlock()
		return guest.ReplyMsg(state), true, nil
	case "log":
		target, m, err := word(rest, "log", "TARGET")
		if err != nil {
			return guest.Reply{}, true, err
		}
		return ok, true, f.host.TelemetryLog(ctx, guest.LogInfo, target, string(m))
	case "self":
		id, err := f.host.Slf(ctx)
		if err != nil {
			return guest.Reply{}, true, err
		}
		return guest.ReplyMsg([]byte(id.NodeID + " " + id.FunctionID)), true, nil
	case "sleep":
		msArg, _, err := word(rest, "sleep", "MS")
		if err != nil {
			return guest.Reply{}, true, err
		}
		ms, err := strconv.ParseUint(msArg, 10, 32)
		if err != nil {
			return guest.Reply{}, true, fmt.Errorf("sleep: MS %q is not a non-negative integer", msArg)
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return guest.ReplyMsg([]byte("slept")), true, nil
		case <-ctx.Done():
			return guest.Reply{}, true, fmt.Errorf("sleep: %w", ctx.Err())
		}
	case "noreply":
		return guest.NoReply(), true, nil
	case "fail":
		return guest.Reply{}, true, fmt.Errorf("fail: %s", rest)
	case "panic":
		panic("panic command")
	case "exit":
		codeArg, _, err := word(rest, "exit", "CODE")
		if err != nil {
			return guest.Reply{}, true, err
		}
		code, err := strconv.Atoi(codeArg)
		if err != nil || code < 0 || code > 255 {
			return guest.Reply{}, true, fmt.Errorf("exit: CODE %q is not an integer in 0-255", codeArg)
		}
		f.log.InfoContext(ctx, "exit command: ending the process", "code", code)
		os.Exit(code)
	}
	return guest.Reply{}, false, nil
}

// word splits the first word (an argument named name of command cmd) off
// args; the rest is returned verbatim.
func word(args []byte, cmd, name string) (string, []byte, error) {
	w, rest, _ := bytes.Cut(args, []byte(" "))
	if len(w) == 0 {
		return "", nil, fmt.Errorf("%s: missing %s", cmd, name)
	}
	return string(w), rest, nil
}

// instanceArgs parses "NODE_ID FUNCTION_ID MSG".
func instanceArgs(args []byte, cmd string) (guest.InstanceID, []byte, error) {
	node, rest, err := word(args, cmd, "NODE_ID")
	if err != nil {
		return guest.InstanceID{}, nil, err
	}
	fn, m, err := word(rest, cmd, "FUNCTION_ID")
	if err != nil {
		return guest.InstanceID{}, nil, err
	}
	return guest.InstanceID{NodeID: node, FunctionID: fn}, m, nil
}
