// Command web is an example EDGELESS container function behind an
// http-ingress resource: each HTTP request reaches it as a call (upstream's
// EdgelessHTTPRequest JSON); it calls its "transform" output with the
// request body, casts a line describing the exchange to its "log" output
// (a file-log resource in the demo), and answers the transformed body as
// the HTTP response (EdgelessHTTPResponse JSON).
//
// Init payload: "echo=true" answers the request body as it is, without
// calls or casts (default false).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/edgeless-go/edgeless/function-template/guest"
)

func main() {
	if err := guest.Run(context.Background(), &web{}, os.Args[1:], os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
}
