package container

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// StopPhases is how long each step of an instance's Stop took: the Stop
// RPC, the wait for the container's end after its signal, the engine's
// removal.
type StopPhases struct{ RPC, Exit, Remove time.Duration }

// StopPhasesOf returns the steps of i's last Stop (for the benchmarks).
func StopPhasesOf(i *Instance) StopPhases {
	i.mu.Lock()
	p := StopPhases{RPC: i.stopRPCDur}
	i.mu.Unlock()
	if i.ctr != nil {
		p.Exit, p.Remove = i.ctr.stopTimes()
	}
	return p
}

// SecretOf returns the secret the runtime sends in SecretHeader on every
// call into i's function, for benchmarks whose raw floor calls the same
// function (the Go SDK refuses calls without it).
func SecretOf(i *Instance) string { return i.secret }

// GuestSocketRoot returns the directory of r's guest socket directories
// (empty when guest sockets are off).
func GuestSocketRoot(r *Runtime) string { return r.sockRoot }

// SetGuestSocketHook makes r call f with each container's guest socket
// directory once its sockets listen, before the container is created.
func SetGuestSocketHook(r *Runtime, f func(dir string)) { r.sockHook = f }

// TakeSocketConn closes i's connection into its function and returns a
// dialer of the connections the function dials to its guest socket next
// (nil if i is not on guest sockets), for a raw client's floor over the
// same socket.
func TakeSocketConn(i *Instance) func(context.Context, string) (net.Conn, error) {
	cn := i.conn.Load()
	if cn == nil || !cn.socket {
		return nil
	}
	cn.close()
	return i.ctr.sockets().dialFunction
}

// OnGuestSockets reports whether i's events go over its guest sockets.
func OnGuestSockets(i *Instance) bool {
	cn := i.conn.Load()
	return cn != nil && cn.socket
}

// HostSocketRequests counts the GuestAPIHost requests r let in on its
// containers' host sockets.
func HostSocketRequests(r *Runtime) uint64 { return r.hostSockRequests.Load() }

// SkipUnlessEngineSharesFiles skips t unless the Docker engine is on a
// local unix:// socket and is not known to see other files than this
// process at the same paths (another mount namespace).
func SkipUnlessEngineSharesFiles(t testing.TB) {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok || !acceptSupported {
		t.Skip("guest sockets need a local engine on a unix:// socket (Linux)")
	}
	if shares, known, why := engineSharesMounts(path); known && !shares {
		t.Skip("the engine does not see this process's files: " + why)
	}
}
