// Command fakefn is a broken container function for the runtime's tests:
// "exit CODE" writes a line to stdout and stderr and exits with CODE;
// "hang" listens on the function port but never answers, and ignores
// SIGTERM; "oom" allocates memory until the kernel kills it.
package main

import (
	"fmt"
	"net"
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
