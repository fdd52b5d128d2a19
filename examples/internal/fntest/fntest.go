// Package fntest runs an example function in process against a fake node
// (guesttest.Host), booted and initialised, for the examples' tests.
package fntest

import (
	"log/slog"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/gen/edgelessapi/edgelessapiconnect"

	"github.com/edgeless-go/edgeless/function-template/guest"
	"github.com/edgeless-go/edgeless/function-template/guest/guesttest"
)

// Instance is a running function and the fake node it talks to.
type Instance struct {
	C    edgelessapiconnect.GuestAPIFunctionClient
	Host *guesttest.Host
	ID   *edgelessapi.InstanceId
}

// Boot serves fn, boots it against a new fake node and returns it before
// Init.
func Boot(t *testing.T, fn guest.Function) *Instance {
	t.Helper()
	host := guesttest.NewHost(t)
	_, url := guesttest.StartServer(t, fn, guest.Options{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	c := guesttest.NewClient(t, "grpc", url)
	boot := guesttest.BootData(host)
	if _, err := c.Boot(t.Context(), boot); err != nil {
		t.Fatalf("Boot() error = %v", err)
	}
	return &Instance{C: c, Host: host, ID: boot.GetInstanceId()}
}

// Init initialises the instance with payload.
func (in *Instance) Init(t *testing.T, payload string) error {
	t.Helper()
	_, err := in.C.Init(t.Context(), &edgelessapi.FunctionInstanceInit{InitPayload: payload})
	return err
}

// Start boots and initialises fn.
func Start(t *testing.T, fn guest.Function, payload string) *Instance {
	t.Helper()
	in := Boot(t, fn)
	if err := in.Init(t, payload); err != nil {
		t.Fatalf("Init(%q) error = %v", payload, err)
	}
	return in
}

// Cast casts msg to the instance from a fresh source.
func (in *Instance) Cast(t *testing.T, msg string) {
	t.Helper()
	if _, err := in.C.Cast(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte(msg)}); err != nil {
		t.Fatalf("Cast(%q) error = %v", msg, err)
	}
}

// Call calls the instance with msg.
func (in *Instance) Call(t *testing.T, msg string) *edgelessapi.CallReturn {
	t.Helper()
	res, err := in.C.Call(t.Context(), &edgelessapi.InputEventData{Src: guesttest.NewID(), Msg: []byte(msg)})
	if err != nil {
		t.Fatalf("Call(%q) error = %v", msg, err)
	}
	return res
}
