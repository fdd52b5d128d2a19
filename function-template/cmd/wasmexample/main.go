// Command wasmexample is an example EDGELESS function written in Go for the
// RUST_WASM runtime (upstream's WASM ABI through package wasmguest). Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o wasmexample.wasm ./cmd/wasmexample
//
// It speaks the container example's payload command language (the commands
// that make sense in a module: no sleep, no exit):
//
//	recast ALIAS MSG                  host Cast(ALIAS, MSG); reply "ok"
//	castraw NODE_ID FUNCTION_ID MSG   host CastRaw; reply "ok"
//	recall ALIAS MSG                  host Call(ALIAS, MSG); reply with the callee's answer
//	callraw NODE_ID FUNCTION_ID MSG   host CallRaw; reply as recall
//	delayed MS ALIAS MSG              host DelayedCast(ALIAS, MS ms, MSG); reply "ok"
//	sync STATE                        host Sync(STATE); reply "ok"
//	state                             reply the state received in Init or last synced
//	log TARGET MSG                    host TelemetryLog(INFO, TARGET, MSG); reply "ok"
//	self                              reply "NODE_ID FUNCTION_ID" (the host's ID)
//	noreply                           answer no reply
//	fail MSG                          return an error (Err)
//	panic                             panic (recovered by the SDK, answered Err)
//
// Anything else is not a command: a cast re-casts it to "output", a call
// echoes it.
package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/edgeless-go/edgeless/function-template/wasmguest"
)

func init() { wasmguest.Register(&function{}) }

// main is not called in a reactor module (-buildmode=c-shared); the node
// calls the exports after init has registered the function.
func main() {}

type function struct {
	host  *wasmguest.Host
	state []byte
}

var _ wasmguest.Function = (*function)(nil)

// Init keeps the host and the saved state and logs the init payload.
func (f *function) Init(ctx context.Context, host *wasmguest.Host, payload string, state []byte) error {
	f.host, f.state = host, state
	return host.TelemetryLog(ctx, wasmguest.LogInfo, "wasmexample", fmt.Sprintf("init payload=%q state=%d bytes", payload, len(state)))
}

// Cast runs a command, or re-casts msg to "output".
func (f *function) Cast(ctx context.Context, _ wasmguest.InstanceID, msg []byte) error {
	if _, ok, err := f.run(ctx, msg); ok {
		return err
	}
	return f.host.Cast(ctx, "output", msg)
}

// Call runs a command, or echoes msg.
func (f *function) Call(ctx context.Context, _ wasmguest.InstanceID, msg []byte) (wasmguest.Reply, error) {
	if r, ok, err := f.run(ctx, msg); ok {
		return r, err
	}
	return wasmguest.ReplyMsg(msg), nil
}

// Stop logs that the instance is stopping.
func (f *function) Stop(ctx context.Context) error {
	return f.host.TelemetryLog(ctx, wasmguest.LogInfo, "wasmexample", "stopped")
}

var ok = wasmguest.ReplyMsg([]byte("ok"))

func (f *function) run(ctx context.Context, msg []byte) (wasmguest.Reply, bool, error) {
	cmd, rest, _ := bytes.Cut(msg, []byte(" "))
	switch string(cmd) {
	case "recast":
		alias, m, err := word(rest, "recast", "ALIAS")
		if err != nil {
			return wasmguest.Reply{}, true, err
		}
		return ok, true, f.host.Cast(ctx, alias, m)
	case "castraw":
		dst, m, err := instanceArgs(rest, "castraw")
		if err != nil {
			return wasmguest.Reply{}, true, err
		}
		return ok, true, f.host.CastRaw(ctx, dst, m)
	case "recall":
		alias, m, err := word(rest, "recall", "ALIAS")
		if err != nil {
			return wasmguest.Reply{}, true, err
		}
		r, err := f.host.Call(ctx, alias, m)
		return r, true, err
	case "callraw":
		dst, m, err := instanceArgs(rest, "callraw")
		if err != nil {
			return wasmguest.Reply{}, true, err
		}
		r, err := f.host.CallRaw(ctx, dst, m)
		return r, true, err
	case "delayed":
		msArg, rest, err := word(rest, "delayed", "MS")
		if err != nil {
			return wasmguest.Reply{}, true, err
		}
		ms, err := strconv.ParseUint(msArg, 10, 32)
		if err != nil {
			return wasmguest.Reply{}, true, fmt.Errorf("delayed: MS %q is not a non-negative integer", msArg)
		}
		alias, m, err := word(rest, "delayed", "ALIAS")
		if err != nil {
			return wasmguest.Reply{}, true, err
		}
		return ok, true, f.host.DelayedCast(ctx, alias, time.Duration(ms)*time.Millisecond, m)
	case "sync":
		if err := f.host.Sync(ctx, rest); err != nil {
			return wasmguest.Reply{}, true, err
		}
		f.state = bytes.Clone(rest)
		return ok, true, nil
	case "state":
		return wasmguest.ReplyMsg(f.state), true, nil
	case "log":
		target, m, err := word(rest, "log", "TARGET")
		if err != nil {
			return wasmguest.Reply{}, true, err
		}
		return ok, true, f.host.TelemetryLog(ctx, wasmguest.LogInfo, target, string(m))
	case "self":
		id := f.host.ID()
		return wasmguest.ReplyMsg([]byte(id.NodeID + " " + id.FunctionID)), true, nil
	case "noreply":
		return wasmguest.NoReply(), true, nil
	case "fail":
		return wasmguest.Reply{}, true, fmt.Errorf("fail: %s", rest)
	case "panic":
		panic("panic command")
	}
	return wasmguest.Reply{}, false, nil
}

// word splits the first word (argument name of command cmd) off args.
func word(args []byte, cmd, name string) (string, []byte, error) {
	w, rest, _ := bytes.Cut(args, []byte(" "))
	if len(w) == 0 {
		return "", nil, fmt.Errorf("%s: missing %s", cmd, name)
	}
	return string(w), rest, nil
}

// instanceArgs parses "NODE_ID FUNCTION_ID MSG".
func instanceArgs(args []byte, cmd string) (wasmguest.InstanceID, []byte, error) {
	node, rest, err := word(args, cmd, "NODE_ID")
	if err != nil {
		return wasmguest.InstanceID{}, nil, err
	}
	fn, m, err := word(rest, cmd, "FUNCTION_ID")
	if err != nil {
		return wasmguest.InstanceID{}, nil, err
	}
	return wasmguest.InstanceID{NodeID: node, FunctionID: fn}, m, nil
}
