package config

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/edgeless-go/edgeless/runtime/container"
	"github.com/edgeless-go/edgeless/runtime/transport"
	"github.com/edgeless-go/edgeless/runtime/wasm"
)

// CanonicalNodeID returns a valid node id in its one spelling on the wire
// (lower case, no braces or urn: prefix), and any other string unchanged:
// peers compare node ids as text.
func CanonicalNodeID(id string) string {
	u, err := uuid.Parse(id)
	if err != nil {
		return id
	}
	return u.String()
}

// size is a [container_runtime] size in bytes ("" is 0: the runtime's
// default), at least min.
func size(key, v string, min int64, minText string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := container.ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("container_runtime.%s: %w", key, err)
	}
	if n < min {
		return 0, fmt.Errorf("container_runtime.%s: %s, got %q", key, minText, v)
	}
	return n, nil
}

// RuntimeConfig is the container runtime's configuration of this node
// ([container_runtime], the node id and [dataplane] max_payload_bytes);
// guestAPIHostURL is the guest API host address the node chose.
func (c *Config) RuntimeConfig(guestAPIHostURL string, log *slog.Logger) (container.Config, error) {
	cr := c.ContainerRuntime
	var sizes [5]int64
	var errs []error
	for k, f := range []struct {
		key, v  string
		min     int64
		minText string
	}{
		{"default_memory", cr.DefaultMemory, container.MinMemoryBytes, "Docker needs at least 6MiB"},
		{"max_memory", cr.MaxMemory, container.MinMemoryBytes, "Docker needs at least 6MiB"},
		{"tmp_size", cr.TmpSize, 1 << 20, "want at least 1MiB"},
		{"log_max_size", cr.LogMaxSize, 1 << 10, "want at least 1KiB"},
		{"prewarm_max_memory", cr.PrewarmMaxMemory, container.MinMemoryBytes, "want at least 6MiB"},
	} {
		var err error
		sizes[k], err = size(f.key, f.v, f.min, f.minText)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return container.Config{}, err
	}
	sec := func(v uint64) time.Duration { return time.Duration(v) * time.Second }
	return container.Config{
		NodeID:          CanonicalNodeID(c.General.NodeID),
		GuestAPIHostURL: guestAPIHostURL,
		BootTimeout:     sec(cr.BootTimeoutSec),
		InitTimeout:     sec(cr.InitTimeoutSec),
		CallTimeout:     sec(cr.CallTimeoutSec),
		StopTimeout:     sec(cr.StopTimeoutSec),
		StopGrace:       sec(cr.StopGraceSec),
		MaxPayloadBytes: c.Dataplane.MaxPayloadBytes,
		Defaults: container.Limits{
			MemoryBytes:    sizes[0],
			NanoCPUs:       int64(cr.DefaultCPUs * 1e9),
			PidsLimit:      cr.DefaultPids,
			WritableRootFS: !cr.ReadOnlyRoot,
		},
		Maxima: container.Limits{
			MemoryBytes: sizes[1],
			NanoCPUs:    int64(cr.MaxCPUs * 1e9),
			PidsLimit:   cr.MaxPids,
		},
		Network:        cr.Network,
		CapAdd:         cr.CapAdd,
		TmpfsBytes:     sizes[2],
		LogMaxBytes:    sizes[3],
		LogMaxFiles:    cr.LogMaxFiles,
		Logger:         log,
		GuestSockets:   cr.GuestSockets,
		GuestSocketDir: cr.GuestSocketDir,
		Prewarm: container.Prewarm{
			Enabled:        cr.Prewarm,
			Images:         cr.PrewarmImages,
			Size:           cr.PrewarmSize,
			History:        cr.PrewarmHistory,
			MaxContainers:  cr.PrewarmMaxContainers,
			MaxMemoryBytes: sizes[4],
		},
	}, nil
}

// WasmRuntimeConfig is the RUST_WASM runtime's configuration of this node
// ([wasm_runtime]).
func (c *Config) WasmRuntimeConfig(log *slog.Logger) wasm.Config {
	wr := c.WasmRuntime
	sec := func(v uint64) time.Duration { return time.Duration(v) * time.Second }
	return wasm.Config{
		MaxMemoryPages: uint32(wr.MaxMemoryMiB * 16), // 64 KiB pages
		InitTimeout:    sec(wr.InitTimeoutSec),
		CallTimeout:    sec(wr.CallTimeoutSec),
		CacheDir:       wr.CacheDir,
		Logger:         log,
	}
}

// LoadTLS loads the TLS configuration: s.TLSConfig, or tls_config.toml in
// the working directory (as upstream), or none (plain text, logged at
// plainLevel: a warning for a node, as upstream; information for in-a-box,
// a single machine whose listeners are loopback by default). A file that
// exists but is wrong is an error.
func (s Security) LoadTLS(log *slog.Logger, plainLevel slog.Level) (*transport.TLS, error) {
	tc, err := transport.FindTLS(s.TLSConfig)
	if errors.Is(err, transport.ErrNoTLSFile) {
		log.Log(context.Background(), plainLevel, err.Error()+" (set security.tls_config or --tls-config for TLS)")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("security.tls_config: %w", err)
	}
	log.Info("TLS configured", "file", tc.Path, "server_tls", tc.Server != nil,
		"client_certificates_required", tc.Server != nil && tc.Server.ClientCAs != nil,
		"client_tls", tc.Client != nil, "client_certificate", tc.Client != nil && len(tc.Client.Certificates) > 0)
	return tc, nil
}
