package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// NodeIDFile is the file, in a state directory, that keeps the id of a node
// whose configuration names none (edgeless-node without general.node_id,
// in-a-box without a config file, the demo). A restart then keeps the id, so the container runtime's start-up
// clean-up (by node-id label) removes what a killed run left.
const NodeIDFile = "node-id"

// LoadOrCreateNodeID returns the node id kept in dir/node-id, creating the
// directory and the file with a new random UUID when there is none;
// created reports whether it did. Processes racing to create it agree on
// one id. A file that does not hold a UUID is an error naming it.
func LoadOrCreateNodeID(dir string) (id string, created bool, err error) {
	p := filepath.Join(dir, NodeIDFile)
	if id, err := readNodeID(p); !errors.Is(err, fs.ErrNotExist) {
		return id, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("node id: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+NodeIDFile+".*.tmp")
	if err != nil {
		return "", false, fmt.Errorf("node id: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.WriteString(uuid.NewString() + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return "", false, fmt.Errorf("node id: write %s: %w", tmp, err)
	}
	// A hard link never replaces an existing file: of racing creators,
	// the first wins and the others read its id.
	lerr := os.Link(tmp, p)
	if lerr != nil && !errors.Is(lerr, fs.ErrExist) {
		return "", false, fmt.Errorf("node id: %w", lerr)
	}
	id, err = readNodeID(p)
	return id, err == nil && lerr == nil, err
}

func readNodeID(p string) (string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("node id: %w", err)
	}
	u, err := uuid.Parse(strings.TrimSpace(string(b)))
	if err != nil {
		const max = 64
		raw := string(b)
		if len(raw) > max {
			raw = raw[:max] + "..."
		}
		return "", fmt.Errorf("node id file %s: want a UUID, got %q (remove the file to make a new id)", p, raw)
	}
	return u.String(), nil
}
