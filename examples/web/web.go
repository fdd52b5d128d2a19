package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/edgeless-go/edgeless/examples/internal/httpmsg"
	"github.com/edgeless-go/edgeless/examples/internal/initpayload"
	"github.com/edgeless-go/edgeless/function-template/guest"
)

// web is the guest.Function.
type web struct {
	host *guest.Host
	// echo answers the request body as it is, without calls or casts (the
	// benchmark's function).
	echo bool
}

var _ guest.Function = (*web)(nil)

func (w *web) Init(ctx context.Context, host *guest.Host, payload string, _ []byte) error {
	opts, err := initpayload.Parse(payload, "echo")
	if err != nil {
		return err
	}
	switch opts["echo"] {
	case "", "false":
	case "true":
		w.echo = true
	default:
		return fmt.Errorf("init payload echo=%q: want true or false", opts["echo"])
	}
	w.host = host
	slog.InfoContext(ctx, "web initialised", "instance", host.ID())
	return nil
}

// Cast refuses: requests arrive as calls.
func (w *web) Cast(context.Context, guest.InstanceID, []byte) error {
	return errors.New("web answers HTTP requests, which arrive as calls (use an http-ingress without async)")
}

// Call answers one HTTP request.
func (w *web) Call(ctx context.Context, _ guest.InstanceID, msg []byte) (guest.Reply, error) {
	req, err := httpmsg.ParseRequest(msg)
	if err != nil {
		return guest.Reply{}, err
	}
	in := []byte(req.Body)
	if w.echo {
		return guest.ReplyMsg(httpmsg.Response{Status: 200, Body: httpmsg.Body(in)}.Encode()), nil
	}
	if len(in) == 0 {
		in = []byte("hello from " + req.Path)
	}
	r, err := w.host.Call(ctx, "transform", in)
	if err != nil {
		return guest.Reply{}, fmt.Errorf("call transform: %w", err)
	}
	out, ok := r.Msg()
	if !ok {
		return guest.Reply{}, errors.New("transform answered no reply")
	}
	line := fmt.Sprintf("%s %s %q -> %q", req.Method, req.Path, in, out)
	if err := w.host.Cast(ctx, "log", []byte(line)); err != nil {
		slog.WarnContext(ctx, "cast to log", "error", err)
	}
	return guest.ReplyMsg(httpmsg.Response{
		Status:  200,
		Headers: map[string]string{"content-type": "text/plain; charset=utf-8", "x-edgeless-function": "web"},
		Body:    append(out, '\n'),
	}.Encode()), nil
}

func (w *web) Stop(context.Context) error { return nil }
