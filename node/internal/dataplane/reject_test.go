package dataplane

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/transport"
)

// lockedBuffer is an io.Writer for a slog handler used from many
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the JSON records written so far.
func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// A flood of bad events through the real grpc-go server (anyone who reaches
// a plain-text invocation_url can send one) is counted whole but logged
// once per reason per interval, and the next line of a reason carries the
// count of the events since the previous one.
func TestReject_FloodLogsOneLinePerReason(t *testing.T) {
	t.Parallel()
	var logs lockedBuffer
	d := New(Config{NodeID: uuid.NewString(), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	t.Cleanup(d.Close)
	d.rated.Interval = time.Hour // the whole flood within one interval, however slow the machine
	url := serve(t, d)
	conn, err := transport.Config{}.NewGRPCConn(url, transport.DefaultPayloadMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := edgelessapi.NewFunctionInvocationClient(conn)

	src := contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}
	here := contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()}
	ev := func(src, dst contract.InstanceID) *edgelessapi.Event {
		return newEvent(src, dst, 0, edgelessapi.EventType_CAST, []byte("x"), nil)
	}
	malformed := ev(src, here)
	malformed.Msg = nil
	kinds := []struct {
		reason string
		ev     *edgelessapi.Event
		code   codes.Code
	}{
		{"malformed event", malformed, codes.InvalidArgument},
		{"wrong target node", ev(src, contract.InstanceID{NodeID: uuid.NewString(), FunctionID: uuid.NewString()}), codes.InvalidArgument},
		{"forged source", ev(contract.InstanceID{NodeID: d.NodeID(), FunctionID: uuid.NewString()}, here), codes.PermissionDenied},
		{"unknown instance", ev(src, here), codes.NotFound},
	}
	const total = 1000
	var g errgroup.Group
	g.SetLimit(16)
	for i := range total {
		k := kinds[i%len(kinds)]
		g.Go(func() error {
			_, err := client.Handle(t.Context(), k.ev)
			if status.Code(err) != k.code {
				t.Errorf("Handle(%s) = %v, want %v", k.reason, err, k.code)
			}
			return nil
		})
	}
	g.Wait()

	if got := d.Stats().EventsRejected; got != total {
		t.Errorf("Stats().EventsRejected = %d, want %d (dataplane_events_rejected_total)", got, total)
	}
	lines := map[string]int{}
	for _, r := range logs.records(t) {
		if r["msg"] != "reject incoming event" {
			continue
		}
		reason, _ := r["reason"].(string)
		lines[reason]++
		if r["events"] != 1.0 || r["peer"] == "" {
			t.Errorf("first line of %q: events %v, peer %v; want 1 and the peer's address", reason, r["events"], r["peer"])
		}
	}
	for _, k := range kinds {
		if lines[k.reason] != 1 {
			t.Errorf("%d lines for %q, want 1 (all: %v)", lines[k.reason], k.reason, lines)
		}
	}
	if len(lines) != len(kinds) {
		t.Errorf("lines per reason %v, want one for each of the %d reasons", lines, len(kinds))
	}
	// The next line of a reason, once due, counts the events not logged.
	for _, k := range kinds {
		due, n := d.rated.Note("reject: "+k.reason, time.Now().Add(2*time.Hour))
		if want := total/len(kinds) - 1 + 1; !due || n != want {
			t.Errorf("next line of %q: due %v with %d events, want due with %d", k.reason, due, n, want)
		}
	}
}
