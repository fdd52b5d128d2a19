// Package state persists the NodeLocal state of function instances: one
// file per state id in a directory, written atomically (temporary file,
// fsync, rename), so that a crash leaves either the old or the new state,
// never a torn one. The file layout matches upstream
// (./function_state/<state_id>).
package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// MaxStateBytes caps one state; Sync with more fails. Upstream has no limit;
// a state is held in memory and sent in one Init message, so it stays well
// below the 2 GiB message limit.
const MaxStateBytes = 256 << 20

// Store reads and writes states in a directory. It is safe for concurrent
// use: writes of the same id race only for which complete file wins.
type Store struct {
	dir string
}

// Open returns a Store in dir, creating the directory if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// path validates id (a UUID, so never a path) and returns its file.
func (s *Store) path(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", fmt.Errorf("state id %q: want a UUID", id)
	}
	return filepath.Join(s.dir, u.String()), nil
}

// Load returns the state saved under id; found is false when there is none.
func (s *Store) Load(id string) (data []byte, found bool, err error) {
	p, err := s.path(id)
	if err != nil {
		return nil, false, err
	}
	data, err = os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load state %s: %w", id, err)
	}
	return data, true, nil
}

// Save replaces the state saved under id.
func (s *Store) Save(id string, data []byte) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if len(data) > MaxStateBytes {
		return fmt.Errorf("save state %s: %d bytes exceed the limit of %d", id, len(data), MaxStateBytes)
	}
	f, err := os.CreateTemp(s.dir, "."+filepath.Base(p)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save state %s: %w", id, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("save state %s: %w", id, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state %s: %w", id, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state %s: %w", id, err)
	}
	// Make the rename durable.
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Delete removes the state saved under id; a missing state is not an error.
func (s *Store) Delete(id string) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete state %s: %w", id, err)
	}
	return nil
}
