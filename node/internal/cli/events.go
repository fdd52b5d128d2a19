package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/spf13/cobra"
)

func newWorkflowEvents(opts *options) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "events ID",
		Short: "Show a workflow's lifecycle events: started, crashed, restarted, moved, failed",
		Long: `Show a workflow's lifecycle events as the orchestrator records them: each
function's start, its crashes (with the reason: exit code, OOM kill, ...), the
restarts and their backoff, the moves away from a lost node, and the failures
(crash loop, restart_policy "never", no node to host it). With --follow the
command keeps printing events as they happen until the workflow is stopped
or the command is interrupted (--timeout does not apply), so that you can watch
a recovery.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, cancel, err := opts.dial(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if follow {
				// A stream that may last for hours has no overall deadline.
				ctx = context.WithoutCancel(ctx)
				var stop context.CancelFunc
				ctx, stop = context.WithCancel(ctx)
				defer stop()
				go func() {
					select {
					case <-cmd.Context().Done():
						stop()
					case <-ctx.Done():
					}
				}()
			}
			out := cmd.OutOrStdout()
			err = c.admin.Events(ctx, args[0], 0, follow, func(e adminapi.Event) error {
				_, err := fmt.Fprintln(out, fmtEvent(e))
				return err
			})
			if errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
				return nil
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing events until the workflow stops")
	return cmd
}

// fmtEvent renders an event as one line.
func fmtEvent(e adminapi.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-11s", e.Time.Local().Format("15:04:05.000"), e.Type)
	if e.Function != "" {
		fmt.Fprintf(&b, " %s", e.Function)
	}
	if e.FunctionID != "" {
		fmt.Fprintf(&b, " instance %s", shortID(e.FunctionID))
	}
	if e.NodeID != "" {
		fmt.Fprintf(&b, " on node %s", shortID(e.NodeID))
	}
	switch e.Type {
	case adminapi.EventRestarting:
		fmt.Fprintf(&b, " in %s", fmtMS(e.DelayMS))
	case adminapi.EventRestarted, adminapi.EventMoved:
		fmt.Fprintf(&b, " after %s (restarts: %d)", fmtMS(e.DurationMS), e.Restarts)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	return b.String()
}

// notRunning says why a function of our orchestrator is not running, or
// returns nil while it runs (or the orchestrator does not say).
func notRunning(name string, f *adminapi.FunctionInfo) error {
	switch f.Health {
	case "", adminapi.HealthRunning:
		return nil
	case adminapi.HealthFailed:
		return fmt.Errorf("function %q is dead and will not be restarted: %s", name, f.Reason)
	}
	return fmt.Errorf("function %q is dead (%s), %s: try again in a moment or watch `edgeless workflow events`", name, f.Reason, f.Health)
}
