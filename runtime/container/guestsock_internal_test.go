package container

import (
	"net"
	"path/filepath"
	"testing"
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
