package container

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeRemovingEngine is an Engine API on which the container is already
// being removed by someone else: a removal answers Conflict, and a wait
// for its removal answers with removed (once released) or notFound.
type fakeRemovingEngine struct {
	id string
	// waitAsked is closed when the wait for the removal arrives.
	waitAsked chan struct{}
	// removed, once closed, lets the wait answer.
	removed  chan struct{}
	notFound bool
}

func newFakeRemovingEngine(t *testing.T, id string, notFound bool) (*fakeRemovingEngine, containerAPI) {
	t.Helper()
	f := &fakeRemovingEngine{id: id, waitAsked: make(chan struct{}), removed: make(chan struct{}), notFound: notFound}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	c, err := newDockerClient("tcp://" + strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return f, c
}

func (f *fakeRemovingEngine) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", "1.41")
	w.Header().Set("Content-Type", "application/json")
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/_ping"):
		_, _ = w.Write([]byte("OK"))
	case r.Method == http.MethodDelete && strings.HasSuffix(p, "/containers/"+f.id):
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": "removal of container " + f.id + " is already in progress"})
	case strings.HasSuffix(p, "/containers/"+f.id+"/wait") && r.URL.Query().Get("condition") == "removed":
		close(f.waitAsked)
		if f.notFound {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": "No such container: " + f.id})
			return
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-f.removed:
			_ = json.NewEncoder(w).Encode(map[string]any{"StatusCode": 0})
		case <-r.Context().Done():
		}
	default:
		http.Error(w, "not faked: "+r.Method+" "+p, http.StatusNotFound)
	}
}

// A removal that finds another in progress returns only once the
// container is gone: Stop's success means that no container is left.
func TestRemoveContainer_WaitsForARemovalInProgress(t *testing.T) {
	f, api := newFakeRemovingEngine(t, "c0ffee", false)
	done := make(chan error, 1)
	go func() { done <- removeContainer(t.Context(), api, f.id) }()
	select {
	case <-f.waitAsked:
	case err := <-done:
		t.Fatalf("removeContainer = %v before waiting for the removal in progress", err)
	case <-time.After(10 * time.Second):
		t.Fatal("removeContainer neither returned nor waited for the removal in progress")
	}
	select {
	case err := <-done:
		t.Fatalf("removeContainer = %v while the other removal is still in progress", err)
	default:
	}
	close(f.removed)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("removeContainer after the other removal ended = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("removeContainer still waiting after the container was removed")
	}
}

func TestRemoveContainer_RemovalInProgressAlreadyDone(t *testing.T) {
	f, api := newFakeRemovingEngine(t, "c0ffee", true)
	if err := removeContainer(t.Context(), api, f.id); err != nil {
		t.Fatalf("removeContainer = %v, want nil (the container is gone)", err)
	}
}

// If the other removal does not end in time, the error says why.
func TestRemoveContainer_RemovalInProgressNeverEnds(t *testing.T) {
	f, api := newFakeRemovingEngine(t, "c0ffee", false)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-f.waitAsked
		cancel()
	}()
	err := removeContainer(ctx, api, f.id)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "already in progress") {
		t.Fatalf("removeContainer = %v, want the conflict and the cancelled wait", err)
	}
}
