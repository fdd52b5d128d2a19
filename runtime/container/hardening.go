package container

import (
	"fmt"
	"strconv"
	"strings"

	dcontainer "github.com/moby/moby/api/types/container"
)

// hardening is how every container is confined beyond its limits.
type hardening struct {
	capAdd      []string // every other capability is dropped
	tmpfsBytes  int64    // size of /tmp when the root filesystem is read-only
	logMaxBytes int64    // json-file rotation size
	logMaxFiles int      // json-file files kept
}

// validCapability reports whether s looks like a Linux capability name
// ("NET_BIND_SERVICE" or "CAP_NET_BIND_SERVICE"); the engine checks that it
// exists.
func validCapability(s string) bool {
	s = strings.TrimPrefix(s, "CAP_")
	if s == "" || s == "ALL" {
		return false
	}
	for _, r := range s {
		if (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

// apply confines a container beyond its resource limits: no capability
// but those the operator listed (an image without USER runs as root, and
// CAP_NET_RAW would let it forge the source address that the host API
// trusts), a read-only root filesystem with a small tmpfs /tmp unless l
// asks for a writable one, and a bounded json-file log (the engine keeps
// a container's output on disk).
func (h hardening) apply(hc *dcontainer.HostConfig, l Limits) {
	hc.CapDrop = []string{"ALL"}
	hc.CapAdd = h.capAdd
	hc.LogConfig = dcontainer.LogConfig{Type: "json-file", Config: map[string]string{
		"max-size": strconv.FormatInt(h.logMaxBytes, 10),
		"max-file": strconv.Itoa(h.logMaxFiles),
	}}
	if !l.WritableRootFS {
		hc.ReadonlyRootfs = true
		hc.Tmpfs = map[string]string{"/tmp": fmt.Sprintf("rw,nosuid,nodev,noexec,size=%d", h.tmpfsBytes)}
	}
}
