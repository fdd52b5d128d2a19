package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/spf13/cobra"
)

func newNodeCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Show the nodes registered with the orchestrator",
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "List the registered nodes, their status and runtimes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, cancel, err := opts.dial(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var nodes []adminapi.NodeInfo
			if err := c.admin.Get(ctx, "/admin/v1/nodes", &nodes); err != nil {
				return fmt.Errorf("list nodes: %w", err)
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				return json.NewEncoder(out).Encode(nodes)
			case "table":
			default:
				return fmt.Errorf("--output %q: want table or json", output)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NODE\tSTATUS\tRUNTIMES\tINSTANCES\tAGENT\tLAST SEEN")
			now := time.Now()
			for _, n := range nodes {
				status := n.Status
				if n.Error != "" {
					status += " (" + n.Error + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", n.NodeID, status, orDash(strings.Join(n.Runtimes, ",")),
					n.Instances, n.AgentURL, fmtTime(n.LastSeen, now))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.AddCommand(list)
	return cmd
}
