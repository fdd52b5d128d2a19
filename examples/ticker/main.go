// Command ticker is an example EDGELESS container function: a clock. After
// Init it asks the node to cast "tick" back to itself after period-ms
// (DelayedCast to "self"); each tick casts "tick N" to its output and
// schedules the next one. A call answers the current count.
//
// Init payload: "period-ms=N" (default 1000, at least 10).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

func main() {
	if err := guest.Run(context.Background(), &ticker{}, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "ticker:", err)
		os.Exit(1)
	}
}
