// Command example is the EDGELESS example container function: it behaves
// like the upstream Rust and Python templates (a cast re-casts its payload
// to the alias "output", a call echoes its payload) and understands a small
// payload command language that exercises every host method, for tests and
// demos. See function.go and commands.go, and the README.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

func main() {
	if err := guest.Run(context.Background(), &function{}, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "function:", err)
		os.Exit(1)
	}
}
