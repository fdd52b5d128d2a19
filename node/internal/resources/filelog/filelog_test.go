package filelog

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

func newManager(t *testing.T) (*resources.Manager, *dataplane.Dataplane, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "logs")
	p, err := New(dir)
	if err != nil {
		t.Fatalf("New(%q) = %v", dir, err)
	}
	dp := dataplane.New(dataplane.Config{NodeID: uuid.NewString(), CallTimeout: 10 * time.Second})
	m, err := resources.NewManager(dp, nil, resources.Named{ID: "file-log-1", Provider: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); dp.Close(); _ = p.Close() })
	return m, dp, dir
}

func TestFileLog_CastsAndCallsAppendLines(t *testing.T) {
	t.Parallel()
	m, dp, dir := newManager(t)
	id, err := m.Start(t.Context(), resources.Spec{ClassType: ClassType, Configuration: map[string]string{
		KeyFilename: "wf/out.log", KeyAddTimestamp: "", KeyAddSourceID: "false",
	}})
	if err != nil {
		t.Fatalf("Start = %v", err)
	}
	src := contract.InstanceID{NodeID: dp.NodeID(), FunctionID: uuid.NewString()}
	if err := dp.Cast(t.Context(), src, id, []byte("first")); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	r, err := dp.Call(t.Context(), src, id, []byte("second"))
	if err != nil || r.Type.String() != "CALL_RET_REPLY" || len(r.Msg) != 0 {
		t.Fatalf("Call = %v, %v; want an empty reply", r, err)
	}
	// The call was answered after its line was written.
	if data, _ := os.ReadFile(filepath.Join(dir, "wf", "out.log")); !strings.Contains(string(data), ") second\n") {
		t.Errorf("file = %q right after the call was answered, want the call's line", data)
	}
	// The cast is delivered on its own queue (a call may overtake it):
	// wait for its line.
	var data []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if data, err = os.ReadFile(filepath.Join(dir, "wf", "out.log")); err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(data), "\n") >= 2 || time.Now().After(deadline) {
			break
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	want := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00 InstanceId\(node_id: ` + src.NodeID + `, function_id: ` + src.FunctionID + `\) (first|second)$`)
	if len(lines) != 2 {
		t.Fatalf("file = %q, want 2 lines", data)
	}
	for _, l := range lines {
		if !want.MatchString(l) {
			t.Errorf("line %q does not match %s", l, want)
		}
	}

	// After Stop the instance is gone from the data plane; a new instance
	// on the same file appends.
	m.Stop(id.FunctionID)
	if err := dp.Cast(t.Context(), src, id, []byte("late")); err == nil {
		t.Errorf("Cast to a stopped file-log = nil, want an error")
	}
	id2, err := m.Start(t.Context(), resources.Spec{ClassType: ClassType, Configuration: map[string]string{KeyFilename: "wf/out.log"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dp.Call(t.Context(), src, id2, []byte("plain")); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(dir, "wf", "out.log"))
	if !strings.HasSuffix(string(data), "\nplain\n") {
		t.Errorf("file = %q, want it to end with the plain line", data)
	}
}

func TestFileLog_RefusesPathsOutsideItsDirectory(t *testing.T) {
	t.Parallel()
	m, _, dir := newManager(t)
	outside := filepath.Join(filepath.Dir(dir), "escape")
	if err := os.Symlink(filepath.Dir(dir), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../escape.log", "/tmp/abs.log", "", "a/../../b.log", "link/escape.log", outside} {
		_, err := m.Start(t.Context(), resources.Spec{ClassType: ClassType, Configuration: map[string]string{KeyFilename: name}})
		if !errors.Is(err, resources.ErrConfiguration) {
			t.Errorf("Start(filename %q) = %v, want an ErrConfiguration", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was created outside the log directory: %v", err)
	}
	_, err := m.Start(t.Context(), resources.Spec{ClassType: ClassType, Configuration: map[string]string{}})
	if !errors.Is(err, resources.ErrConfiguration) || !strings.Contains(err.Error(), "'filename' missing") {
		t.Errorf("Start(no filename) = %v, want \"field 'filename' missing\"", err)
	}
}

// TestFileLog_EventsFromAnotherNode sends casts and calls to a file-log
// from a function on another node, through FunctionInvocation over gRPC
// (as a function on a Rust node would reach it).
func TestFileLog_EventsFromAnotherNode(t *testing.T) {
	t.Parallel()
	m, dpLog, dir := newManager(t)
	dpFn := dataplane.New(dataplane.Config{NodeID: uuid.NewString(), CallTimeout: 10 * time.Second})
	t.Cleanup(dpFn.Close)
	for _, p := range []struct {
		from, to *dataplane.Dataplane
	}{{dpFn, dpLog}, {dpLog, dpFn}} {
		srv, err := p.to.NewGRPCServer(transport.Config{}) // as the node serves it
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln)
		t.Cleanup(srv.Stop)
		if err := p.from.AddPeer(p.to.NodeID(), "http://"+ln.Addr().String()); err != nil {
			t.Fatal(err)
		}
	}
	id, err := m.Start(t.Context(), resources.Spec{ClassType: ClassType, Configuration: map[string]string{KeyFilename: "remote.log", KeyAddSourceID: ""}})
	if err != nil {
		t.Fatal(err)
	}
	fn := dpFn.Register(contract.InstanceID{NodeID: dpFn.NodeID(), FunctionID: uuid.NewString()})
	fn.SetAliases(map[string]contract.InstanceID{"log": id})
	if err := fn.Cast(t.Context(), "log", []byte("cast over the wire")); err != nil {
		t.Fatalf("Cast = %v", err)
	}
	if r, err := fn.Call(t.Context(), "log", []byte("call over the wire")); err != nil || r.Type != edgelessapi.CallRetType_CALL_RET_REPLY {
		t.Fatalf("Call = %v, %v; want an empty reply", r, err)
	}
	prefix := "InstanceId(node_id: " + dpFn.NodeID() + ", function_id: " + fn.ID().FunctionID + ") "
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		data, _ := os.ReadFile(filepath.Join(dir, "remote.log"))
		if strings.Contains(string(data), prefix+"cast over the wire\n") && strings.Contains(string(data), prefix+"call over the wire\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote.log = %q, want both events with the remote source", data)
		}
	}
}
