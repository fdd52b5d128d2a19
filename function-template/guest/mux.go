package guest

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"time"
)

// http2Preface is what every HTTP/2 connection with prior knowledge (h2c:
// gRPC clients, tonic, grpc-go, connect-go's gRPC over h2c) starts with.
// An HTTP/1.1 request never does (PRI is reserved for it).
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// protocolMux splits the connections of one listener by their first
// bytes: HTTP/2 (the preface) to h2, anything else to http1. It lets Serve
// answer gRPC with grpc-go's server, whose writer batches frames, and keep
// Connect, gRPC-Web and curl over HTTP/1.1 on the same port.
type protocolMux struct {
	ln      net.Listener
	timeout time.Duration // to read the first bytes
	h2      *chanListener
	http1   *chanListener
	// pending holds a token per connection whose first bytes are still
	// being read: a peer that opens connections and sends nothing holds
	// at most maxPendingConns goroutines (each for up to timeout); past
	// that, the mux accepts no more until one of them is dispatched (the
	// kernel's backlog holds the rest), so a burst of real clients only
	// waits for its own first bytes.
	pending chan struct{}
	done    chan struct{} // closed by close
	once    sync.Once
}

// maxPendingConns bounds the connections whose first bytes are awaited at
// once.
const maxPendingConns = 64

func newProtocolMux(ln net.Listener, timeout time.Duration) *protocolMux {
	return &protocolMux{
		ln:      ln,
		timeout: timeout,
		h2:      newChanListener(ln.Addr()),
		http1:   newChanListener(ln.Addr()),
		pending: make(chan struct{}, maxPendingConns),
		done:    make(chan struct{}),
	}
}

// run accepts connections until the listener is closed (then it returns
// nil) or fails. The two sides stay open: their servers close them when
// they stop (a side closed under a running server would fail its Serve).
func (m *protocolMux) run() error {
	var delay time.Duration
	for {
		select {
		case m.pending <- struct{}{}:
		case <-m.done:
			return nil
		}
		c, err := m.ln.Accept()
		if err != nil {
			<-m.pending
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() { // e.g. out of file descriptors
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				err = nil
			}
			return err
		}
		delay = 0
		go m.dispatch(c)
	}
}

// close stops accepting: the listener is closed.
func (m *protocolMux) close() error {
	m.once.Do(func() { close(m.done) })
	return m.ln.Close()
}

// dispatch reads the first bytes of c (within the timeout: a peer that
// sends nothing is dropped) and hands c, bytes replayed, to its side.
func (m *protocolMux) dispatch(c net.Conn) {
	defer func() { <-m.pending }()
	_ = c.SetReadDeadline(time.Now().Add(m.timeout))
	buf := make([]byte, len(http2Preface))
	n := 0
	for n < len(buf) && bytes.HasPrefix(http2Preface, buf[:n]) {
		k, err := c.Read(buf[n:])
		n += k
		if err != nil {
			_ = c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	side := m.http1
	if bytes.Equal(buf[:n], http2Preface) {
		side = m.h2
	}
	side.deliver(&replayConn{Conn: c, head: buf[:n]})
}

// replayConn is a connection whose first bytes, already read, are read
// again.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is a net.Listener fed by a protocolMux.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
	err   error // set before done is closed
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) close(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.done)
	})
}

// Accept implements net.Listener.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close implements net.Listener: the server using it stops; the mux's own
// listener is closed by protocolMux.close.
func (l *chanListener) Close() error {
	l.close(net.ErrClosed)
	return nil
}

// Addr implements net.Listener.
func (l *chanListener) Addr() net.Addr { return l.addr }
