package state

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestLoadOrCreateNodeID_Kept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	id, created, err := LoadOrCreateNodeID(dir)
	if err != nil || !created || uuid.Validate(id) != nil {
		t.Fatalf("LoadOrCreateNodeID() = %q, %v, %v; want a new UUID", id, created, err)
	}
	again, created, err := LoadOrCreateNodeID(dir)
	if err != nil || created || again != id {
		t.Fatalf("LoadOrCreateNodeID() again = %q, %v, %v; want %q, not created", again, created, err, id)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d entries, want only %s", len(entries), NodeIDFile)
	}
}

func TestLoadOrCreateNodeID_Racing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			id, _, err := LoadOrCreateNodeID(dir)
			if err != nil {
				t.Errorf("LoadOrCreateNodeID #%d: %v", k, err)
			}
			ids[k] = id
		})
	}
	wg.Wait()
	for k, id := range ids {
		if id != ids[0] {
			t.Errorf("id #%d = %q, want %q (every racer the same)", k, id, ids[0])
		}
	}
}

func TestLoadOrCreateNodeID_Bad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, NodeIDFile), []byte(strings.Repeat("x", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := LoadOrCreateNodeID(dir)
	if err == nil || !strings.Contains(err.Error(), "want a UUID") || len(err.Error()) > 300 {
		t.Errorf("LoadOrCreateNodeID(bad file) = %v, want a short error saying it wants a UUID", err)
	}
}
