package guest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path"
	"sync"
	"sync/atomic"
	"time"
)

// EnvGuestSockets is the environment variable a node sets to the directory
// in the container (a read-only bind mount of a directory of the node's)
// that holds the node's Unix sockets for this container: functionSocket,
// on which the function serves GuestAPIFunction over connections it dials
// itself, and hostSocket, the node's GuestAPIHost. A node that has none
// leaves it unset; the function then serves on TCP only.
const EnvGuestSockets = "EDGELESS_GUEST_SOCKETS"

// Names of the node's sockets in the EnvGuestSockets directory.
const (
	functionSocket = "function.sock"
	hostSocket     = "host.sock"
)

// Pacing of the connections dialled to the node's function socket.
const (
	// guestSocketDialTimeout bounds each dial.
	guestSocketDialTimeout = time.Second
	// guestSocketMinRedial and guestSocketMaxRedial bound the pause
	// between a connection's end (or a failed dial) and the next dial.
	guestSocketMinRedial = 5 * time.Millisecond
	guestSocketMaxRedial = 500 * time.Millisecond
)

// dialListener is a net.Listener whose Accept returns connections that it
// dials to the node's function socket, one at a time: the node listens and
// the function dials (so the function never creates a file that the node
// opens), and the function's server serves the node over each connection
// as over an accepted one. Accept returns the connection dialled at
// start-up first; after a connection closes, the next Accept dials again
// (with a backoff from guestSocketMinRedial while dials fail) until the
// listener is closed. Accept fails only once the listener is closed.
type dialListener struct {
	path   string
	closed chan struct{}
	once   sync.Once

	mu    sync.Mutex
	first net.Conn    // dialled at start-up, not accepted yet
	cur   *dialedConn // the last connection Accept returned
}

// dialGuestSocket dials the node's function socket in dir once (within
// guestSocketDialTimeout) and returns the listener that serves the node
// over it and the connections dialled after it.
func dialGuestSocket(ctx context.Context, dir string) (*dialListener, error) {
	p := path.Join(dir, functionSocket)
	d := net.Dialer{Timeout: guestSocketDialTimeout}
	c, err := d.DialContext(ctx, "unix", p)
	if err != nil {
		return nil, err
	}
	return &dialListener{path: p, closed: make(chan struct{}), first: c}, nil
}

// Accept waits until the previous connection has closed, then returns the
// next one: the start-up connection, or a fresh dial.
func (l *dialListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	cur, c := l.cur, l.first
	l.first = nil
	l.mu.Unlock()
	if cur != nil {
		select {
		case <-cur.done:
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
	delay := guestSocketMinRedial
	for c == nil {
		select {
		case <-l.closed:
			return nil, net.ErrClosed
		case <-time.After(delay):
		}
		var err error
		if c, err = net.DialTimeout("unix", l.path, guestSocketDialTimeout); err != nil {
			c = nil
			delay = min(2*delay, guestSocketMaxRedial)
		}
	}
	dc := &dialedConn{Conn: c, done: make(chan struct{})}
	l.mu.Lock()
	l.cur = dc
	l.mu.Unlock()
	select {
	case <-l.closed: // closed meanwhile
		_ = dc.Close()
		return nil, net.ErrClosed
	default:
	}
	return dc, nil
}

// Close stops Accept. A connection it returned on which the node has sent
// nothing yet (one dialled again after the node closed the previous one,
// as it does at Stop) is closed: the server would wait for its first bytes
// for ever, and a graceful stop with it. The others stay open (their
// server closes them).
func (l *dialListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.mu.Lock()
		if l.first != nil {
			_ = l.first.Close()
			l.first = nil
		}
		cur := l.cur
		l.mu.Unlock()
		if cur != nil && !cur.started.Load() {
			_ = cur.Close()
		}
	})
	return nil
}

// Addr returns the node's socket address.
func (l *dialListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// dialedConn is a connection of a dialListener: its Close lets the next
// Accept dial again.
type dialedConn struct {
	net.Conn
	once sync.Once
	done chan struct{}
	// started is set once the node has sent something.
	started atomic.Bool
}

func (c *dialedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.started.Load() {
		c.started.Store(true)
	}
	return n, err
}

func (c *dialedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.done) })
	return err
}

// SetDeadline is a no-op: grpc-go's server bounds a new connection's
// handshake with it (grpc.ConnectionTimeout), but a dialled connection
// waits, as long as the node needs, for the node to begin (a pooled
// container waits unbooted for minutes), and ending it would only make the
// node's backlog hold dead connections. The peer is the node itself.
// Reads and writes keep their own deadlines.
func (c *dialedConn) SetDeadline(time.Time) error { return nil }

// hostSocketEndpoint returns the socket path of a "unix://" GuestAPIHost
// endpoint, which must be an absolute, clean path directly in dir (the
// EnvGuestSockets directory; empty: no unix endpoint is accepted).
func hostSocketEndpoint(endpoint, dir string) (string, error) {
	const what = "guest API host endpoint"
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", what, endpoint, err)
	}
	switch {
	case dir == "":
		return "", fmt.Errorf("%s %q: a unix socket, but %s is not set", what, endpoint, EnvGuestSockets)
	case u.Host != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("%s %q: want unix:///absolute/path", what, endpoint)
	case !path.IsAbs(u.Path) || path.Clean(u.Path) != u.Path:
		return "", fmt.Errorf("%s %q: the path is not absolute and clean", what, endpoint)
	case path.Dir(u.Path) != path.Clean(dir):
		return "", fmt.Errorf("%s %q: the socket is not in %s (%s)", what, endpoint, path.Clean(dir), EnvGuestSockets)
	}
	return u.Path, nil
}
