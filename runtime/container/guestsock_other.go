//go:build !linux

package container

import (
	"errors"
	"net"
	"os"
)

// acceptSupported: guest sockets need acceptNow, which only Linux has here.
const acceptSupported = false

func acceptNow(*net.UnixListener) (net.Conn, error) {
	return nil, errors.New("guest sockets: not supported on this system")
}

func engineSharesMounts(string) (shares, known bool, why string) { return false, false, "" }

func lockDir(string, bool) (*os.File, error) {
	return nil, errors.New("guest sockets: not supported on this system")
}

func ownedByMe(os.FileInfo) bool { return false }
