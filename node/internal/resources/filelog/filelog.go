// Package filelog is the file-log resource (upstream's class type
// "file-log"): each event its instance receives, cast or call, becomes one
// line appended to the file named by its "filename" configuration, with
// upstream's optional prefixes: "add-timestamp" (RFC 3339, UTC) and
// "add-source-id" (the sender as upstream prints an InstanceId). As
// upstream, the presence of these keys turns them on, whatever their value.
// A call is answered with an empty reply once its line is written.
//
// Unlike upstream, which opens "filename" relative to the node's working
// directory (any path the node can write), files live only under the
// provider's directory: filename must be a relative path that stays inside
// it (checked with filepath.IsLocal, then opened through an os.Root, which
// also refuses symbolic links that lead outside). Each line is written with
// one write(2) on an unbuffered file before the event is acknowledged, so a
// crash of the node loses no acknowledged line.
package filelog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/dataplane"
	"github.com/edgeless-go/edgeless/node/internal/resources"
	"github.com/edgeless-go/edgeless/runtime/contract"
)

// ClassType is the resource class this provider creates.
const ClassType = "file-log"

// The configuration keys of a file-log instance.
const (
	KeyFilename     = "filename"
	KeyAddTimestamp = "add-timestamp"
	KeyAddSourceID  = "add-source-id"
)

// timestampLayout is chrono's to_rfc3339 for UTC (nine fraction digits,
// +00:00), which upstream writes.
const timestampLayout = "2006-01-02T15:04:05.000000000-07:00"

// Provider creates file-log instances writing under one directory.
type Provider struct {
	root *os.Root
	dir  string
	now  func() time.Time

	mu    sync.Mutex
	files map[string]*writer // by instance function id
}

var _ resources.Provider = (*Provider)(nil)

// New returns a provider writing under dir, which it creates if needed.
func New(dir string) (*Provider, error) {
	if dir == "" {
		return nil, fmt.Errorf("file-log: empty log directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("file-log: log directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("file-log: log directory: %w", err)
	}
	return &Provider{root: root, dir: dir, now: time.Now, files: map[string]*writer{}}, nil
}

// Dir returns the directory the provider writes under.
func (p *Provider) Dir() string { return p.dir }

// Close closes the log directory; stop the instances first.
func (p *Provider) Close() error { return p.root.Close() }

// ClassType returns "file-log".
func (p *Provider) ClassType() string { return ClassType }

// Outputs returns none: a file-log sends nothing.
func (p *Provider) Outputs() []string { return []string{} }

// Start opens (creating, appending) the instance's file.
func (p *Provider) Start(_ context.Context, in *resources.Instance) (dataplane.Receiver, error) {
	cfg := in.Spec.Configuration
	name, ok := cfg[KeyFilename]
	if !ok {
		return nil, fmt.Errorf("field 'filename' missing: %w", resources.ErrConfiguration)
	}
	if !filepath.IsLocal(name) {
		return nil, fmt.Errorf("filename %q: want a relative path inside the node's file-log directory (no .., not absolute, not empty): %w", name, resources.ErrConfiguration)
	}
	if d := filepath.Dir(name); d != "." {
		if err := p.root.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("filename %q: %w: %w", name, err, resources.ErrConfiguration)
		}
	}
	f, err := p.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("filename %q: %w: %w", name, err, resources.ErrConfiguration)
	}
	_, ts := cfg[KeyAddTimestamp]
	_, src := cfg[KeyAddSourceID]
	w := &writer{f: f, now: p.now, addTimestamp: ts, addSourceID: src}
	p.mu.Lock()
	p.files[in.ID.FunctionID] = w
	p.mu.Unlock()
	return w, nil
}

// Patched accepts any mapping: a file-log has no outputs.
func (p *Provider) Patched(*resources.Instance, map[string]contract.InstanceID) error { return nil }

// Stop closes the instance's file.
func (p *Provider) Stop(in *resources.Instance) {
	p.mu.Lock()
	w := p.files[in.ID.FunctionID]
	delete(p.files, in.ID.FunctionID)
	p.mu.Unlock()
	if w != nil {
		w.close()
	}
}

// writer is one instance: the data plane's receiver of its events.
type writer struct {
	now                       func() time.Time
	addTimestamp, addSourceID bool

	mu sync.Mutex // one line at a time (calls arrive concurrently)
	f  *os.File
}

func (w *writer) write(src contract.InstanceID, msg []byte) error {
	line := make([]byte, 0, len(msg)+128)
	if w.addTimestamp {
		line = w.now().UTC().AppendFormat(line, timestampLayout)
		line = append(line, ' ')
	}
	if w.addSourceID {
		line = fmt.Appendf(line, "InstanceId(node_id: %s, function_id: %s) ", src.NodeID, src.FunctionID)
	}
	line = append(line, msg...)
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("file-log: instance stopped")
	}
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("file-log: write %s: %w", w.f.Name(), err)
	}
	return nil
}

func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		_ = w.f.Close()
		w.f = nil
	}
}

// Cast appends msg.
func (w *writer) Cast(_ context.Context, src contract.InstanceID, msg []byte) error {
	return w.write(src, msg)
}

// Call appends msg and answers an empty reply, as upstream.
func (w *writer) Call(_ context.Context, src contract.InstanceID, msg []byte) (contract.Reply, error) {
	if err := w.write(src, msg); err != nil {
		return contract.Reply{}, err
	}
	return contract.Reply{Type: edgelessapi.CallRetType_CALL_RET_REPLY, Msg: []byte{}}, nil
}

// Spec describes the class (upstream's FileLogResourceSpec, with filename).
var Spec = resources.ClassSpec{
	ClassType:   ClassType,
	Description: "Save log lines to a node-local file",
	Version:     "1.1",
	Outputs:     []string{},
	Configurations: map[string]string{
		KeyFilename:     "Name of the file, relative to the node's file_log_dir (required)",
		KeyAddSourceID:  "If specified adds the InstanceId of the source component",
		KeyAddTimestamp: "If specified adds a timestamp",
	},
}
