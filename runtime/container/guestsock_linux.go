package container

import (
	"errors"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// acceptSupported: acceptNow works here.
const acceptSupported = true

// acceptNow accepts a connection waiting on ln without waiting: nil if
// none is waiting. (Accept with a deadline in the past fails before it
// tries; the listener's socket is non-blocking, so accept4 on it returns
// EAGAIN at once when none waits.)
func acceptNow(ln *net.UnixListener) (net.Conn, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd, aerr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		nfd, _, aerr = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
	}); err != nil {
		return nil, err
	}
	if aerr != nil {
		if errors.Is(aerr, syscall.EAGAIN) || errors.Is(aerr, syscall.ECONNABORTED) {
			return nil, nil
		}
		return nil, os.NewSyscallError("accept4", aerr)
	}
	f := os.NewFile(uintptr(nfd), "function.sock")
	defer f.Close()
	return net.FileConn(f)
}

// engineSharesMounts tells whether the Docker engine listening on the
// Unix socket at path sees this process's files at the same paths: it
// asks the socket for its peer's pid (SO_PEERCRED) and compares that
// process's mount namespace with this one's. known is false when it
// cannot tell (the namespace links are not readable, e.g. a non-root node
// and a root engine).
func engineSharesMounts(path string) (shares, known bool, why string) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false, true, "the engine's socket " + path + ": " + err.Error()
	}
	defer c.Close()
	rc, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return false, false, ""
	}
	var cred *syscall.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false, false, ""
	}
	if cred.Pid == 0 {
		return false, true, "the engine runs in another PID namespace (the node runs in a container)"
	}
	theirs, err1 := os.Readlink("/proc/" + strconv.Itoa(int(cred.Pid)) + "/ns/mnt")
	ours, err2 := os.Readlink("/proc/self/ns/mnt")
	if err1 != nil || err2 != nil {
		return false, false, ""
	}
	if theirs != ours {
		return false, true, "the engine runs in another mount namespace (a container, or a service with its own mounts such as systemd's PrivateTmp or ProtectSystem): set guest_socket_dir to a path both see"
	}
	return true, true, ""
}

// lockDir opens the directory at path and takes an exclusive flock on it
// (failing at once if another holds it when nonblock); closing the file
// releases it. systemd-tmpfiles does not age a directory so locked.
func lockDir(path string, nonblock bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if nonblock {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return f, nil
}

// ownedByMe reports whether fi is owned by this process's user.
func ownedByMe(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Getuid()
}
