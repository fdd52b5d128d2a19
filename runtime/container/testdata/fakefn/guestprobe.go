package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// guestProbe tries, in the node's guest socket directory
// ($EDGELESS_GUEST_SOCKETS), what a container must not do there (create,
// replace or remove a file) and, on the node's host socket, to act as the
// instance nodeID/functionID (another container's), then asks Slf who it
// is. It prints one line per attempt and exits.
func guestProbe(nodeID, functionID string) {
	dir := os.Getenv("EDGELESS_GUEST_SOCKETS")
	fmt.Printf("guest sockets: %q\n", dir)
	if dir == "" {
		return
	}
	report := func(name string, err error) {
		if err != nil {
			fmt.Printf("%s: %v\n", name, err)
			return
		}
		fmt.Printf("%s: ok\n", name)
	}
	host := filepath.Join(dir, "host.sock")
	report("create file", os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o600))
	report("remove host.sock", os.Remove(host))
	report("replace host.sock", os.Rename(filepath.Join(dir, "function.sock"), host))
	_, err := net.Listen("unix", filepath.Join(dir, "mine.sock"))
	report("listen", err)

	cc, err := grpc.NewClient("passthrough:///localhost",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", host)
		}))
	if err != nil {
		report("client", err)
		return
	}
	defer cc.Close()
	c := edgelessapi.NewGuestAPIHostClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Cast(ctx, &edgelessapi.OutputEventData{
		Originator: &edgelessapi.InstanceId{NodeId: nodeID, FunctionId: functionID},
		Alias:      "output", Msg: []byte("spoofed"),
	})
	fmt.Printf("cast as another: %s\n", status.Code(err))
	id, err := c.Slf(ctx, &emptypb.Empty{})
	fmt.Printf("slf: %s %s\n", id.GetFunctionId(), status.Code(err))
}
