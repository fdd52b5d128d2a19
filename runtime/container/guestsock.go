package container

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc/peer"
)

// Guest sockets: the two RPCs of every event between the node and a
// container (node -> function GuestAPIFunction, function -> node
// GuestAPIHost) go over Unix sockets of the node, bind-mounted into the
// container, instead of the Docker bridge, for functions that can (the Go
// SDK); every other function keeps TCP.
//
// For each container the node makes a directory (random name, mode 0755)
// under its socket root (mode 0700) holding two sockets the NODE listens on
// (mode 0666): function.sock and host.sock. The directory is bind-mounted
// read-only at GuestSocketsMount, and EnvGuestSockets names it. The function
// dials function.sock before it listens on TCP and serves GuestAPIFunction
// over the connections it dials (so the function never creates a file the
// node opens); when Boot finds such a connection waiting, the node's client
// uses those connections and Boot names host.sock as the GuestAPIHost
// endpoint. host.sock is served by the same grpc-go server as the TCP
// listener; a request on it is the container's, whatever its originator
// says (see instanceFor).

// GuestSocketsMount is where a container sees its socket directory, and
// EnvGuestSockets the environment variable that names it.
const (
	GuestSocketsMount = "/run/edgeless-guest"
	EnvGuestSockets   = "EDGELESS_GUEST_SOCKETS"
)

// Names of the sockets, and the GuestAPIHost endpoint sent in Boot to a
// function that uses them.
const (
	functionSocketName = "function.sock"
	hostSocketName     = "host.sock"
	guestHostEndpoint  = "unix://" + GuestSocketsMount + "/" + hostSocketName
)

// Values of Config.GuestSockets.
const (
	GuestSocketsAuto = "auto"
	GuestSocketsOff  = "off"
)

// maxSocketPath is the longest socket path (sun_path holds 108 bytes with
// the terminating NUL).
const maxSocketPath = 107

// guestDirNameLen is the length of a container's directory name.
const guestDirNameLen = 10

// guestSocketsEnabled decides Config.GuestSockets = "auto": on unless the
// engine is not on a local unix:// socket or does not see this process's
// files at the same paths (the node runs in a container): the engine's
// mount namespace is compared with the node's when the engine's process
// is visible (engineSharesMounts); if it cannot be told, the node is taken
// to run in a container when /.dockerenv or /run/.containerenv exists. An
// operator who set the directory (dirSet) says that the engine sees it at
// the same path: only the engine's address is checked.
func guestSocketsEnabled(dockerHost string, dirSet bool) (bool, string) {
	if !acceptSupported {
		return false, "not supported on this system"
	}
	host := dockerHost
	if host == "" {
		host = os.Getenv("DOCKER_HOST")
	}
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	path, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return false, "the Docker engine is not on a local unix:// socket"
	}
	if dirSet {
		return true, ""
	}
	if shares, known, why := engineSharesMounts(path); known {
		return shares, why
	}
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			return false, "the node runs in a container (" + f + ")"
		}
	}
	return true, ""
}

// socketParent is the directory the socket root is made in: dir if set,
// else the service's runtime directory ($RUNTIME_DIRECTORY, set by systemd
// for RuntimeDirectory=; the first if it names several), else
// os.TempDir().
func socketParent(dir string) string {
	if dir != "" {
		return dir
	}
	if rd, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":"); filepath.IsAbs(rd) {
		return rd
	}
	return os.TempDir()
}

// socketRootPrefix begins the name of every socket root. (Roots of
// versions that did not lock them began "eg-": they are never swept, as
// such a root may be in use by a node of that version.)
const socketRootPrefix = "egs-"

// makeSocketRoot creates the runtime's socket root: a fresh directory
// (mode 0700) in parent, locked (flock LOCK_EX) through the returned file
// for the runtime's life, so that neither tmpfiles' aging nor another
// node's sweep removes it. It first removes the socket roots in parent
// that no node holds (left by a crash) and that belong to this user; the
// sweep and the creation and locking of the new root are done under a
// lock on parent, so a sweep never sees a root not yet locked.
func makeSocketRoot(parent string, log *slog.Logger) (string, *os.File, error) {
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", nil, fmt.Errorf("guest socket dir: %w", err)
	}
	plock, err := lockDir(parent, false)
	if err != nil {
		return "", nil, fmt.Errorf("guest socket dir: %w", err)
	}
	defer plock.Close()
	if n := sweepSocketRoots(parent); n > 0 {
		log.Info("guest sockets: removed socket roots left by nodes that ended without Close", slog.String("dir", parent), slog.Int("removed", n))
	}
	root, err := os.MkdirTemp(parent, socketRootPrefix)
	if err != nil {
		return "", nil, fmt.Errorf("guest socket dir: %w", err)
	}
	if n := len(root) + 1 + guestDirNameLen + 1 + len(functionSocketName); n > maxSocketPath {
		_ = os.Remove(root)
		return "", nil, fmt.Errorf("guest socket dir %s: too long for socket paths (%d bytes, at most %d)", parent, n, maxSocketPath)
	}
	if err := os.Chmod(root, 0o700); err != nil {
		_ = os.Remove(root)
		return "", nil, fmt.Errorf("guest socket dir: %w", err)
	}
	lock, err := lockDir(root, true)
	if err != nil {
		_ = os.Remove(root)
		return "", nil, fmt.Errorf("guest socket dir: %w", err)
	}
	return root, lock, nil
}

// sweepSocketRoots removes the socket roots in parent that belong to this
// user and whose lock it can take at once (no node holds them); it
// returns how many.
func sweepSocketRoots(parent string) int {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), socketRootPrefix) {
			continue
		}
		p := filepath.Join(parent, e.Name())
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() || !ownedByMe(fi) {
			continue
		}
		f, err := lockDir(p, true)
		if err != nil {
			continue
		}
		if os.RemoveAll(p) == nil {
			n++
		}
		f.Close()
	}
	return n
}

// guestSockets are one container's sockets.
type guestSockets struct {
	rt     *Runtime
	dir    string
	fnLn   *net.UnixListener
	hostLn *net.UnixListener
	// addr is the RemoteAddr of every connection accepted on host.sock:
	// it names these sockets, so the handlers know the caller.
	addr *guestSockAddr
	// owner is the instance the container serves (nil while pooled).
	owner atomic.Pointer[Instance]

	mu        sync.Mutex
	closed    bool
	serving   bool
	conns     map[net.Conn]struct{} // accepted and not closed
	hostConns int                   // of conns, those accepted on host.sock
	stashed   net.Conn              // found by waitFunction, for the client's first dial
	served    sync.WaitGroup        // the host server's Serve on host.sock
}

// newGuestSockets makes a container's directory and listens on its two
// sockets; nil (and no error) when the runtime has no socket root.
func (r *Runtime) newGuestSockets() (*guestSockets, error) {
	if r.sockRoot == "" {
		return nil, nil
	}
	dir := filepath.Join(r.sockRoot, strings.ToLower(rand.Text()[:guestDirNameLen]))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("guest sockets: %w", err)
	}
	s := &guestSockets{rt: r, dir: dir, conns: map[net.Conn]struct{}{}}
	r.openSockets.Add(1) // until close
	s.addr = &guestSockAddr{s: s}
	var err error
	if err = os.Chmod(dir, 0o755); err == nil {
		s.fnLn, err = listenSocket(filepath.Join(dir, functionSocketName))
	}
	if err == nil {
		s.hostLn, err = listenSocket(filepath.Join(dir, hostSocketName))
	}
	if err != nil {
		s.close()
		return nil, fmt.Errorf("guest sockets: %w", err)
	}
	// host.sock is served from bind on: while the container is pooled, a
	// connection waits in the listen backlog.
	return s, nil
}

// listenSocket listens on a Unix socket at path that anyone may connect
// to (the container's user is not the node's).
func listenSocket(path string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// attachGuestSockets gives the container h its guest sockets, if the
// runtime has them on, and returns their directory ("" if none: the
// container then uses the Docker network only; a failure to make them is
// logged and does not stop the start). It fails only if h is being
// removed.
func (r *Runtime) attachGuestSockets(h *containerHandle, log *slog.Logger) (string, error) {
	s, err := r.newGuestSockets()
	if err != nil {
		if due, n := r.sockLog.Note(time.Now()); due {
			log.Warn("no guest sockets for this container; it uses the Docker network (the next failures in 10 s are only counted)",
				slog.Any("error", err), slog.Int("failures", n))
		}
		return "", nil
	}
	if s == nil {
		return "", nil
	}
	if err := h.setSockets(s); err != nil {
		return "", err
	}
	if r.sockHook != nil {
		r.sockHook(s.dir)
	}
	return s.dir, nil
}

// maxHostConns caps the connections open on a container's host.sock: the
// SDK keeps one; further ones are closed at accept (refused callers).
const maxHostConns = 32

// bind makes the container's host requests i's and serves host.sock.
func (s *guestSockets) bind(i *Instance) {
	s.owner.Store(i)
	s.serveHost()
}

// isClosed reports whether close has begun.
func (s *guestSockets) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// serveHost serves GuestAPIHost on host.sock with the runtime's host
// server, once one exists (Runtime.NewGRPCServer); it reports whether it
// does. Only bind and the Boot of the bound instance call it: a pooled
// container's host.sock is not served.
func (s *guestSockets) serveHost() bool {
	srv := s.rt.hostSrv.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serving || s.closed || srv == nil {
		return s.serving
	}
	s.serving = true
	s.served.Go(func() { _ = srv.Serve(hostListener{s}) })
	return true
}

// hostServed reports whether host.sock is served.
func (s *guestSockets) hostServed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving && !s.closed
}

// track records an accepted connection, to be closed by close; it closes
// c and fails if close has begun.
func (s *guestSockets) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	sc := &sockConn{Conn: c, s: s}
	s.conns[sc] = struct{}{}
	return sc, nil
}

// trackHost records a connection accepted on host.sock (see track); it
// closes c and returns nil, nil if the container has no owner or already
// has maxHostConns such connections open, and reports why.
func (s *guestSockets) trackHost(c net.Conn) (net.Conn, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, "", net.ErrClosed
	}
	why := ""
	switch {
	case s.owner.Load() == nil:
		why = "connection closed at accept: the container of this socket runs no instance"
	case s.hostConns >= maxHostConns:
		why = fmt.Sprintf("connection closed at accept: the container has %d host.sock connections open", s.hostConns)
	}
	if why != "" {
		_ = c.Close()
		return nil, why, nil
	}
	sc := &sockConn{Conn: c, s: s, host: true}
	s.conns[sc] = struct{}{}
	s.hostConns++
	return sc, "", nil
}

// waitFunction waits, within ctx and backing off from 2 ms, until the
// function takes connections, and reports whether it uses the function
// socket: a connection it dialled waits there (kept for the client's
// first dial) when its TCP port answers, since the Go SDK dials the
// socket before it listens. The port probed is ap, or bridge if set (the
// container's own address when ap is a port published on the host, which
// docker-proxy answers before the function listens) as long as bridge is
// reachable: a refused dial there means the function does not listen
// yet, any other failure that the address cannot be reached, and ap is
// probed from then on. It returns false at once when ended closes or ctx
// is done (Boot then reports why).
func (s *guestSockets) waitFunction(ctx context.Context, ap, bridge string, ended <-chan struct{}) bool {
	backoff := 2 * time.Millisecond
	t := time.NewTimer(0)
	<-t.C
	defer t.Stop()
	d := net.Dialer{Timeout: time.Second}
	for {
		if s.takeWaiting() {
			return true
		}
		target := ap
		if bridge != "" {
			target = bridge
		}
		c, err := d.DialContext(ctx, "tcp", target)
		if err == nil {
			_ = c.Close()
			return s.takeWaiting()
		}
		if bridge != "" && !errors.Is(err, syscall.ECONNREFUSED) && ctx.Err() == nil {
			bridge = "" // unreachable: probe ap
			continue
		}
		t.Reset(backoff)
		select {
		case <-t.C:
		case <-ended:
			return false
		case <-ctx.Done():
			return false
		}
		backoff = min(backoff*2, maxBootBackoff)
	}
}

// takeWaiting accepts, without waiting, a connection waiting on the
// function socket and keeps it for the client's first dial; it reports
// whether there was one.
func (s *guestSockets) takeWaiting() bool {
	c, err := acceptNow(s.fnLn)
	if err != nil || c == nil {
		return false
	}
	tc, err := s.track(c)
	if err != nil {
		return false
	}
	s.mu.Lock()
	old := s.stashed
	s.stashed = tc
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return true
}

// dialFunction is the context dialer of the GuestAPIFunction client of a
// function on the socket: it returns the connection waitFunction found,
// else the next one the function dials, waiting until ctx is done.
func (s *guestSockets) dialFunction(ctx context.Context, _ string) (net.Conn, error) {
	s.mu.Lock()
	c, closed := s.stashed, s.closed
	s.stashed = nil
	s.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	if c != nil {
		return c, nil
	}
	dl, _ := ctx.Deadline()
	_ = s.fnLn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = s.fnLn.SetDeadline(time.Unix(1, 0)) })
	c, err := s.fnLn.Accept()
	stop()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return s.track(c)
}

// close unbinds the sockets, closes their listeners and every connection
// accepted on them, waits for the host server to stop serving host.sock,
// and removes the directory.
func (s *guestSockets) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.stashed = nil
	s.mu.Unlock()
	s.owner.Store(nil)
	for _, ln := range []*net.UnixListener{s.fnLn, s.hostLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	for c := range conns {
		_ = c.(*sockConn).Conn.Close()
	}
	s.served.Wait()
	_ = os.RemoveAll(s.dir)
	s.rt.openSockets.Add(-1)
}

// hostListener is host.sock as the host server sees it: its connections
// report the sockets' guestSockAddr as their remote address.
type hostListener struct{ s *guestSockets }

func (l hostListener) Accept() (net.Conn, error) {
	for {
		c, err := l.s.hostLn.Accept()
		if err != nil {
			return nil, err
		}
		tc, why, err := l.s.trackHost(c)
		if err != nil || tc != nil {
			return tc, err
		}
		l.s.rt.refuseCaller(l.s.addr, why)
	}
}

func (l hostListener) Close() error   { return l.s.hostLn.Close() }
func (l hostListener) Addr() net.Addr { return l.s.hostLn.Addr() }

// sockConn is a connection accepted on a container's socket.
type sockConn struct {
	net.Conn
	s    *guestSockets
	host bool // accepted on host.sock
}

func (c *sockConn) RemoteAddr() net.Addr { return c.s.addr }

func (c *sockConn) Close() error {
	c.s.mu.Lock()
	if _, ok := c.s.conns[c]; ok {
		delete(c.s.conns, c)
		if c.host {
			c.s.hostConns--
		}
	}
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// guestSockAddr is the remote address of a connection on a container's
// socket: it names the container's sockets, hence the container.
type guestSockAddr struct{ s *guestSockets }

func (a *guestSockAddr) Network() string { return "unix" }
func (a *guestSockAddr) String() string  { return "guest-socket:" + filepath.Base(a.s.dir) }

// callerSockets returns the sockets a request came in on (nil: TCP).
func callerSockets(ctx context.Context) *guestSockets {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	if a, ok := p.Addr.(*guestSockAddr); ok {
		return a.s
	}
	return nil
}
