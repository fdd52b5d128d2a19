package container

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// fakeSIGKILLEngine is an Engine API that reports a container ended by
// SIGKILL whose inspect does not (yet) show an OOM kill, and whose events
// stream sends what the test releases on events. The real engine records
// an OOM kill after the exit only now and then, on a busy host: that race
// cannot be produced on demand, hence this fake.
type fakeSIGKILLEngine struct {
	id string
	// eventsAsked is closed when the events stream is opened.
	eventsAsked chan struct{}
	// events are sent, as they come, on the events stream.
	events chan string
	// filters is the filters query of the events request.
	filters string
}

func newFakeSIGKILLEngine(t *testing.T, id string) (*fakeSIGKILLEngine, string) {
	t.Helper()
	f := &fakeSIGKILLEngine{id: id, eventsAsked: make(chan struct{}), events: make(chan string)}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, "tcp://" + strings.TrimPrefix(srv.URL, "http://")
}

func (f *fakeSIGKILLEngine) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.41")
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/_ping"):
		_, _ = w.Write([]byte("OK"))
	case strings.HasSuffix(p, "/containers/"+f.id+"/wait"):
		_ = json.NewEncoder(w).Encode(map[string]any{"StatusCode": 137})
	case strings.HasSuffix(p, "/containers/"+f.id+"/json"):
		_ = json.NewEncoder(w).Encode(map[string]any{"Id": f.id, "State": map[string]any{
			"Status": "exited", "Running": false, "ExitCode": 137, "OOMKilled": false,
			"StartedAt": "2026-11-29T16:00:00.000000000Z",
		}})
	case strings.HasSuffix(p, "/events"):
		f.filters = r.URL.Query().Get("filters")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		close(f.eventsAsked)
		for {
			select {
			case ev := <-f.events:
				_, _ = w.Write([]byte(ev + "\n"))
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	default:
		http.Error(w, "not faked: "+p, http.StatusNotFound)
	}
}

func (f *fakeSIGKILLEngine) event(action string, attrs map[string]string) {
	b, _ := json.Marshal(map[string]any{"Type": "container", "Action": action, "Actor": map[string]any{"ID": f.id, "Attributes": attrs}})
	f.events <- string(b)
}

// watchFake starts the waiter of a handle on the fake engine's container.
func watchFake(t *testing.T, host, id string) (*containerHandle, chan contract.ExitInfo) {
	t.Helper()
	c, err := newDockerClient(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	h := newContainerHandle(c, "edgeless-test", "img", newOutputRing(10), true, slog.New(slog.DiscardHandler))
	h.id = id
	// Far beyond the tests' own bounds: a reason that only the end of
	// this wait gave would fail them.
	h.oomBound = time.Hour
	exits := make(chan contract.ExitInfo, 1)
	go h.wait(id, func(e contract.ExitInfo) { exits <- e })
	t.Cleanup(func() { h.bgCancel(); <-h.waitDone })
	return h, exits
}

// TestHandle_OOMRecordedAfterExit: an OOM kill the engine records after the
// container's exit is still reported as one, however late (within the
// bound), and the exit is not reported before it.
func TestHandle_OOMRecordedAfterExit(t *testing.T) {
	t.Parallel()
	const id = "0123456789ab"
	f, host := newFakeSIGKILLEngine(t, id)
	h, exits := watchFake(t, host, id)
	<-f.eventsAsked
	for _, want := range []string{`"container":{"` + id + `":true}`, `"oom":true`, `"kill":true`} {
		if !strings.Contains(f.filters, want) {
			t.Errorf("events filters = %s, want %s", f.filters, want)
		}
	}
	select {
	case e := <-exits:
		t.Fatalf("exit reported as %+v before the engine's oom event", e)
	default:
	}
	f.event("kill", map[string]string{"signal": "15"}) // a SIGTERM before is no SIGKILL
	f.event("oom", nil)
	var e contract.ExitInfo
	select {
	case e = <-exits:
	case <-time.After(time.Minute):
		t.Fatal("exit not reported after the oom event")
	}
	if e.Reason != "oom-killed" || e.ExitCode != 137 {
		t.Fatalf("exit = %+v, want oom-killed with 137", e)
	}
	if got, ok := h.exitInfo(); !ok || got.Reason != "oom-killed" {
		t.Fatalf("exitInfo() = %+v, %v; want oom-killed", got, ok)
	}
}

// TestHandle_KillThroughEngine: a SIGKILL through the engine (logged before
// the exit) is reported as killed at once: the waiter does not wait for an
// oom event that will not come.
func TestHandle_KillThroughEngine(t *testing.T) {
	t.Parallel()
	const id = "ba9876543210"
	f, host := newFakeSIGKILLEngine(t, id)
	_, exits := watchFake(t, host, id)
	<-f.eventsAsked
	f.event("kill", map[string]string{"signal": "9"})
	select {
	case e := <-exits:
		if e.Reason != "killed" || e.ExitCode != 137 {
			t.Fatalf("exit = %+v, want killed with 137", e)
		}
	case <-time.After(time.Minute):
		t.Fatal("a kill through the engine waits for an oom event that will not come")
	}
}
