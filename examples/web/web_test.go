package main

import (
	"encoding/json"
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"

	"github.com/edgeless-go/edgeless/examples/internal/fntest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

func TestWeb_AnswersTheTransformedBody(t *testing.T) {
	t.Parallel()
	in := fntest.Start(t, &web{}, "")
	in.Host.SetCallReply(func(r guesttest.Request) (*edgelessapi.CallReturn, error) {
		m := r.Msg.(*edgelessapi.OutputEventData)
		return &edgelessapi.CallReturn{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte(strings.ToUpper(string(m.GetMsg())))}, nil
	})
	// What upstream's http-ingress sends for POST /x with body "hi".
	res := in.Call(t, `{"method":"Post","protocol":"Unknown","host":"h","path":"/x","body":[104,105],"headers":{}}`)
	var resp struct {
		Status  int
		Body    []int
		Headers map[string]string
	}
	if err := json.Unmarshal(res.GetMsg(), &resp); err != nil {
		t.Fatalf("reply %q: %v", res.GetMsg(), err)
	}
	if resp.Status != 200 || len(resp.Body) != 3 || resp.Body[0] != 'H' || resp.Body[1] != 'I' {
		t.Errorf("reply = %s, want status 200 and body \"HI\\n\"", res.GetMsg())
	}
	var logged bool
	for _, r := range in.Host.Wait(t, 2) {
		if m, ok := r.Msg.(*edgelessapi.OutputEventData); ok && r.Method == "Cast" && m.GetAlias() == "log" && string(m.GetMsg()) == `Post /x "hi" -> "HI"` {
			logged = true
		}
	}
	if !logged {
		t.Errorf("web sent %v, want a cast of the exchange to log", in.Host.Requests())
	}
}

func TestWeb_RefusesWhatIsNotARequest(t *testing.T) {
	t.Parallel()
	in := fntest.Start(t, &web{}, "")
	if res, err := in.C.Call(t.Context(), &edgelessapi.InputEventData{Msg: []byte("hello")}); err != nil || res.GetType() != edgelessapi.CallRetType_CALL_RET_ERR {
		t.Errorf("Call(hello) = %v, %v; want CALL_RET_ERR", res, err)
	}
}

func TestWeb_Echo(t *testing.T) {
	t.Parallel()
	in := fntest.Start(t, &web{}, "echo=true")
	res := in.Call(t, `{"method":"Post","protocol":"Unknown","host":"h","path":"/x","body":[104,105],"headers":{}}`)
	if got, want := string(res.GetMsg()), `{"body":[104,105],"status":200,"headers":{}}`; got != want {
		t.Errorf("Call = %s, want %s", got, want)
	}
	if r := in.Host.Requests(); len(r) != 0 {
		t.Errorf("echo sent %v, want nothing", r)
	}
	bad := fntest.Boot(t, &web{})
	if err := bad.Init(t, "echo=yes"); err == nil || !strings.Contains(err.Error(), `echo="yes"`) {
		t.Errorf("Init(echo=yes) = %v, want an error naming the value", err)
	}
}
