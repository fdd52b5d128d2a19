package guest

import (
	"net"
	"testing"
	"time"
)

// TestProtocolMux_BoundsSilentConnections: connections that send nothing
// hold at most maxPendingConns goroutines; past that the mux accepts no
// more (the kernel's backlog holds them), and once a silent one goes away
// the next connection is served.
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
	accepted := make(chan net.Conn, 1)
	go func() {
		if a, err := m.h2.Accept(); err == nil {
			accepted <- a
		}
	}()
	// Every token is taken by a silent connection in dispatch (the mux
	// then waits with the next token in hand for none: the channel is
	// full).
	deadline := time.Now().Add(10 * time.Second)
	for len(m.pending) < maxPendingConns {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d silent connections pending", len(m.pending), maxPendingConns)
		}
		time.Sleep(time.Millisecond)
	}
	// A client past the bound is connected (the backlog) but not served
	// while the silent ones hold every token.
	c := dial()
	if _, err := c.Write(http2Preface); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-accepted:
		_ = a.Close()
		t.Fatal("a connection past the bound was served while every token was held")
	case <-time.After(200 * time.Millisecond):
	}
	// One silent connection goes: the waiting client is served.
	_ = silent[0].Close()
	select {
	case a := <-accepted:
		_ = a.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the connection past the bound was not served after a silent one went away")
	}
}
