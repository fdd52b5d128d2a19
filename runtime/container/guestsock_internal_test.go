package container

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAcceptNow: acceptNow returns nil at once when no connection waits,
// and a waiting connection as soon as a dial has returned.
func TestAcceptNow(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if c, err := acceptNow(ln); c != nil || err != nil {
		t.Fatalf("acceptNow() with none waiting = %v, %v; want nil, nil", c, err)
	}
	d, err := net.Dial("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := acceptNow(ln)
	if c == nil || err != nil {
		t.Fatalf("acceptNow() after a dial = %v, %v; want the connection", c, err)
	}
	defer c.Close()
	if _, err := d.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v", b, err)
	}
}

// newSocketRuntime returns a Runtime without Docker whose guest sockets
// live under a fresh root, with its host server made.
func newSocketRuntime(t *testing.T) *Runtime {
	t.Helper()
	r := newBareSocketRuntime(t)
	srv, err := r.NewGRPCServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return r
}

// newBareSocketRuntime is newSocketRuntime without the host server.
func newBareSocketRuntime(t *testing.T) *Runtime {
	t.Helper()
	r := &Runtime{cfg: Config{MaxPayloadBytes: 1 << 20}, log: slog.New(slog.DiscardHandler)}
	r.sockRoot = t.TempDir()
	return r
}

// TestGuestSockets_HostServedFromBind: a pooled container's host.sock is
// not served (a connection waits in the backlog); once bound, it is, and
// connections beyond maxHostConns are closed at accept and counted as
// refused callers.
func TestGuestSockets_HostServedFromBind(t *testing.T) {
	t.Parallel()
	r := newSocketRuntime(t)
	s, err := r.newGuestSockets()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.hostServed() {
		t.Fatal("host.sock served before bind")
	}
	path := filepath.Join(s.dir, hostSocketName)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	const extra = 8
	for range maxHostConns + extra {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if s.hostServed() {
		t.Fatal("host.sock served before bind")
	}
	s.bind(&Instance{})
	if !s.hostServed() {
		t.Fatal("host.sock not served after bind")
	}
	deadline := time.Now().Add(30 * time.Second)
	for r.RefusedCallers() < extra && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := r.RefusedCallers(); got != extra {
		t.Errorf("refused callers = %d, want %d", got, extra)
	}
	s.mu.Lock()
	n := s.hostConns
	s.mu.Unlock()
	if n != maxHostConns {
		t.Errorf("host.sock connections tracked = %d, want %d", n, maxHostConns)
	}
}

// TestSocketRoot_Sweep: a new socket root sweeps the roots in its parent
// that no node holds (a crash left them), and keeps the locked ones and
// everything else.
func TestSocketRoot_Sweep(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	live, lock, err := makeSocketRoot(parent, log)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	stale := filepath.Join(parent, "egs-stale")
	other := filepath.Join(parent, "other")
	unlocking := filepath.Join(parent, "eg-unlocked") // a root of a version without the lock
	for _, d := range []string{filepath.Join(stale, "abc"), other, unlocking} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	root, lock2, err := makeSocketRoot(parent, log)
	if err != nil {
		t.Fatal(err)
	}
	defer lock2.Close()
	for _, tt := range []struct {
		path string
		want bool
	}{{live, true}, {root, true}, {other, true}, {unlocking, true}, {stale, false}} {
		if _, err := os.Stat(tt.path); (err == nil) != tt.want {
			t.Errorf("%s after a new root: %v, want it there %v", tt.path, err, tt.want)
		}
	}
	if f, err := lockDir(root, true); err == nil {
		f.Close()
		t.Error("a new root is not locked")
	}
}

// TestSocketParent: guest_socket_dir, else $RUNTIME_DIRECTORY (its first
// entry), else the temp directory.
func TestSocketParent(t *testing.T) {
	t.Setenv("RUNTIME_DIRECTORY", "/run/edgeless:/run/other")
	if got := socketParent("/set"); got != "/set" {
		t.Errorf("socketParent(/set) = %q", got)
	}
	if got := socketParent(""); got != "/run/edgeless" {
		t.Errorf("socketParent() with RUNTIME_DIRECTORY = %q, want /run/edgeless", got)
	}
	t.Setenv("RUNTIME_DIRECTORY", "")
	if got := socketParent(""); got != os.TempDir() {
		t.Errorf("socketParent() = %q, want %q", got, os.TempDir())
	}
}

// TestSocketRoot_AutoFallsBack: with no guest_socket_dir, a socket root
// that cannot be made ($TMPDIR too long for socket paths) turns guest
// sockets off instead of failing the start; a set dir fails it.
func TestSocketRoot_AutoFallsBack(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	t.Setenv("RUNTIME_DIRECTORY", "")
	t.Setenv("TMPDIR", long)
	r := &Runtime{cfg: Config{GuestSockets: GuestSocketsAuto}, log: slog.New(slog.DiscardHandler)}
	if err := r.makeSocketRoot(); err != nil || r.sockRoot != "" {
		t.Fatalf("makeSocketRoot() with a long TMPDIR = %v, root %q; want no error, guest sockets off", err, r.sockRoot)
	}
	r.cfg.GuestSocketDir = long
	if err := r.makeSocketRoot(); err == nil {
		t.Fatalf("makeSocketRoot() with a long guest_socket_dir = nil, want an error")
	}
}

// TestGuestSockets_HostServedAfterLateServer: a bind that comes before the
// runtime's host server exists (Serve makes it on its own goroutine, which
// a Start can overtake) serves nothing; the Boot's serveHost then serves
// host.sock, so the instance is not sent to its host over TCP.
func TestGuestSockets_HostServedAfterLateServer(t *testing.T) {
	t.Parallel()
	r := newBareSocketRuntime(t)
	s, err := r.newGuestSockets()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	s.bind(&Instance{})
	if s.hostServed() {
		t.Fatal("host.sock served with no host server")
	}
	srv, err := r.NewGRPCServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if !s.serveHost() || !s.hostServed() {
		t.Fatal("host.sock not served once the host server exists")
	}
}
