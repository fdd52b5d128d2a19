package state

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestStore_SaveLoad(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "function_state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if _, found, err := s.Load(id); found || err != nil {
		t.Fatalf("Load(new) = found %v, %v; want not found", found, err)
	}
	for _, v := range [][]byte{[]byte("one"), {0xff, 0x00, 0xfe}, {}} {
		if err := s.Save(id, v); err != nil {
			t.Fatalf("Save(%q) = %v", v, err)
		}
		got, found, err := s.Load(id)
		if err != nil || !found || !bytes.Equal(got, v) {
			t.Errorf("Load = %q, %v, %v; want %q", got, found, err, v)
		}
	}
	// The file is named after the state id, as upstream's; no temp file is left.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != id {
		t.Errorf("state dir holds %v, want only %s", entries, id)
	}
	// Another store on the same directory (a restarted node) sees it.
	s2, _ := Open(dir)
	if _, found, _ := s2.Load(strings.ToUpper(id)); !found {
		t.Errorf("Load(%s) in a new store: not found", strings.ToUpper(id))
	}
	if err := s.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := s.Load(id); found {
		t.Error("Load after Delete: found")
	}
	if err := s.Delete(id); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
}

func TestStore_RejectsBadIDs(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	for _, id := range []string{"", "../etc/passwd", "x", "/tmp/a"} {
		if err := s.Save(id, []byte("x")); err == nil || !strings.Contains(err.Error(), "want a UUID") {
			t.Errorf("Save(%q) = %v, want a UUID error", id, err)
		}
		if _, _, err := s.Load(id); err == nil {
			t.Errorf("Load(%q) = nil error", id)
		}
	}
}

func TestStore_TooLarge(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	if err := s.Save(uuid.NewString(), make([]byte, MaxStateBytes+1)); err == nil {
		t.Error("Save(too large) = nil error")
	}
}

func TestStore_ConcurrentSavesNeverTear(t *testing.T) {
	t.Parallel()
	s, _ := Open(t.TempDir())
	id := uuid.NewString()
	a, b := bytes.Repeat([]byte("a"), 1<<16), bytes.Repeat([]byte("b"), 1<<16)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			v := a
			if i%2 == 1 {
				v = b
			}
			for range 10 {
				if err := s.Save(id, v); err != nil {
					t.Errorf("Save = %v", err)
				}
				got, _, err := s.Load(id)
				if err != nil || !(bytes.Equal(got, a) || bytes.Equal(got, b)) {
					t.Errorf("Load = %d bytes, %v; want one complete state", len(got), err)
				}
			}
		})
	}
	wg.Wait()
}

func TestOpen_Unwritable(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	if _, err := Open(filepath.Join(f, "sub")); err == nil {
		t.Error("Open(under a file) = nil error")
	}
}
