package guest

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestProtocolMux_BoundsSilentConnections: connections that send nothing
// hold at most maxPendingConns goroutines; past that a new connection is
// closed at once and counted, and once a silent one goes away the mux
// serves again.
func TestProtocolMux_BoundsSilentConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newProtocolMux(ln, time.Minute) // silent peers are not dropped during the test
	done := make(chan error, 1)
	go func() { done <- m.run() }()
	t.Cleanup(func() {
		_ = m.close()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		m.h2.close(net.ErrClosed)
		m.http1.close(net.ErrClosed)
	})

	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	silent := make([]net.Conn, 0, maxPendingConns)
	for range maxPendingConns {
		silent = append(silent, dial())
	}
	// Wait until the mux has taken every token: each silent connection is
	// in dispatch.
	deadline := time.Now().Add(10 * time.Second)
	for len(m.pending) < maxPendingConns {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d silent connections pending", len(m.pending), maxPendingConns)
		}
		time.Sleep(time.Millisecond)
	}

	extra := dial()
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("connection past the bound: read = %v, want EOF (closed by the mux)", err)
	}
	if got := m.refused.Load(); got != 1 {
		t.Fatalf("refused = %d, want 1", got)
	}

	// One silent connection goes: its token comes back and an HTTP/2
	// client is served again.
	_ = silent[0].Close()
	for len(m.pending) >= maxPendingConns {
		if time.Now().After(deadline) {
			t.Fatal("the closed silent connection's token did not come back")
		}
		time.Sleep(time.Millisecond)
	}
	c := dial()
	if _, err := c.Write(http2Preface); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		if a, err := m.h2.Accept(); err == nil {
			accepted <- a
		}
	}()
	select {
	case a := <-accepted:
		_ = a.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("an HTTP/2 connection after the bound freed was not handed to the gRPC side")
	}
}
