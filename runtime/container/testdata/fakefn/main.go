// Command fakefn is a broken container function for the runtime's tests:
// "exit CODE" writes a line to stdout and stderr and exits with CODE;
// "hang" listens on the function port but never answers, and ignores
// SIGTERM; "oom" allocates memory until the kernel kills it; "probe" tries
// what a confined container must not do, prints one line per attempt and
// exits; "dial ADDR" connects to ADDR and exits 0 if it could, else 1;
// "post URL BYTES" POSTs a Connect request of BYTES bytes to URL, prints
// the answer and exits with 0 if it was PERMISSION_DENIED (403) or if the
// server closed the connection without an answer;
// "guestprobe NODE FUNCTION" tries what a container must not do with the
// node's guest sockets (guestprobe.go);
// "stubborn" serves GuestAPIFunction but exits neither on Stop nor on
// SIGTERM, and "stubborn-stop-hangs" never answers Stop either.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fakefn exit CODE | hang")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "exit":
		code, _ := strconv.Atoi(os.Args[2])
		fmt.Println("fakefn: starting")
		fmt.Fprintf(os.Stderr, "fakefn: fatal: cannot start, exiting with %d\n", code)
		os.Exit(code)
	case "oom":
		fmt.Println("fakefn: eating memory")
		var keep [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "dial":
		c, err := net.DialTimeout("tcp", os.Args[2], 3*time.Second)
		if err != nil {
			fmt.Printf("dial %s: %v\n", os.Args[2], err)
			os.Exit(1)
		}
		c.Close()
		fmt.Printf("dial %s: ok\n", os.Args[2])
	case "post":
		post(os.Args[2], os.Args[3])
	case "probe":
		probe()
	case "guestprobe":
		guestProbe(os.Args[2], os.Args[3])
	case "stubborn":
		stubborn(true)
	case "stubborn-stop-hangs":
		stubborn(false)
	case "hang":
		signal.Ignore(syscall.SIGTERM)
		ln, err := net.Listen("tcp", ":7101")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("fakefn: listening, never answering")
		var conns []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conns = append(conns, c) // hold, never read
		}
	}
}

// probe prints, for each thing a confined container tries, "NAME: ok" or
// "NAME: " and the error.
func probe() {
	fmt.Printf("uid: %d\n", os.Getuid())
	report := func(name string, err error) {
		if err != nil {
			fmt.Printf("%s: %v\n", name, err)
			return
		}
		fmt.Printf("%s: ok\n", name)
	}
	report("write /", os.WriteFile("/probe", []byte("x"), 0o600))
	err := os.WriteFile("/tmp/probe", []byte("x"), 0o600)
	report("write /tmp", err)
	if err == nil {
		report("chown /tmp", os.Chown("/tmp/probe", 1, 1))
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP)
	if err == nil {
		syscall.Close(fd)
	}
	report("raw socket", err)
}

// post sends a body of n bytes as a Connect unary request and reports the
// answer.
func post(url, n string) {
	size, _ := strconv.Atoi(n)
	res, err := http.Post(url, "application/proto", bytes.NewReader(make([]byte, size)))
	if err != nil {
		// A server that closes the connection at accept refuses too.
		fmt.Printf("post: %v\n", err)
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	res.Body.Close()
	fmt.Printf("post: %d %s\n", res.StatusCode, body)
	if res.StatusCode != http.StatusForbidden {
		os.Exit(1)
	}
}
