// Command sink is an example EDGELESS container function: the end of a
// pipeline. It writes every event it receives to the node's telemetry log
// (TelemetryLog, target "sink") and to its own output. A call with the
// payload "count" answers how many events it has received.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

func main() {
	if err := guest.Run(context.Background(), &sink{out: os.Stdout}, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		os.Exit(1)
	}
}
