// Command transformer is an example EDGELESS container function: it
// transforms each event it receives and casts the result to its output. A
// call answers the transformed payload instead.
//
// Init payload: "mode=upper" (default: upper-case the payload) or
// "mode=reverse" (reverse its characters).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

func main() {
	if err := guest.Run(context.Background(), &transformer{}, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "transformer:", err)
		os.Exit(1)
	}
}
