package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/spf13/cobra"
)

func newFunctionCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "function",
		Short: "Send events to a workflow's function and read its logs (for testing)",
		Long: `Work with one function of a running workflow, named by the workflow id and the
function's name in the workflow. These commands use the admin APIs of our
orchestrator and nodes.`,
	}
	cmd.AddCommand(newFunctionEvent(opts, "cast"), newFunctionEvent(opts, "call"), newFunctionLogs(opts))
	return cmd
}

// payloadArg returns the payload argument; "-" reads standard input.
func payloadArg(cmd *cobra.Command, arg string) ([]byte, error) {
	if arg != "-" {
		return []byte(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read payload from standard input: %w", err)
	}
	return b, nil
}

func newFunctionEvent(opts *options, kind string) *cobra.Command {
	short := "Cast an event (one-way) to a function"
	if kind == "call" {
		short = "Call a function and print its reply"
	}
	return &cobra.Command{
		Use:   kind + " WORKFLOW_ID FUNCTION PAYLOAD",
		Short: short,
		Long:  short + `. PAYLOAD "-" reads the payload from standard input.`,
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, cancel, err := opts.dial(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			payload, err := payloadArg(cmd, args[2])
			if err != nil {
				return err
			}
			f, err := c.admin.Function(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if err := notRunning(args[1], f); err != nil {
				return err
			}
			// A failure that the orchestrator explains (the instance died
			// meanwhile) is reported with its reason.
			explain := func(err error) error {
				if g, gerr := c.admin.Function(ctx, args[0], args[1]); gerr == nil && g.FunctionID == f.FunctionID {
					if why := notRunning(args[1], g); why != nil {
						return why
					}
				}
				return fmt.Errorf("%s %s: %w", kind, args[1], err)
			}
			node := c.nodeAdmin(f.AgentURL)
			if kind == "cast" {
				if err := node.Cast(ctx, f.FunctionID, payload); err != nil {
					return explain(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cast %d bytes to %s (instance %s)\n", len(payload), args[1], f.FunctionID)
				return nil
			}
			r, err := node.Call(ctx, f.FunctionID, payload)
			if err != nil {
				return explain(err)
			}
			msg, err := r.Payload()
			if err != nil {
				return err
			}
			switch r.Type {
			case "REPLY":
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", msg)
				return err
			case "NO_REPLY":
				fmt.Fprintln(cmd.ErrOrStderr(), "(no reply)")
				return nil
			}
			return fmt.Errorf("call %s: the function answered %s %q", args[1], r.Type, msg)
		},
	}
}

func newFunctionLogs(opts *options) *cobra.Command {
	var telemetry, follow bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "logs WORKFLOW_ID FUNCTION",
		Short: "Print a function's output lines, or its telemetry log",
		Long: `Print the recent lines that a function's container wrote (stdout and stderr,
from its node), or with --telemetry the lines it sent with TelemetryLog (kept by
the orchestrator from the nodes' performance samples). --follow keeps printing
new lines until interrupted.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.controller()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			if telemetry {
				return followTelemetry(ctx, c, args[0], args[1], follow, interval, opts.timeout, func(e adminapi.LogEntry) {
					fmt.Fprintf(out, "%s %s: %s\n", e.Time.Local().Format("15:04:05.000"), e.Target, e.Msg)
				})
			}
			return followOutput(ctx, c, args[0], args[1], follow, interval, opts.timeout, out)
		},
	}
	cmd.Flags().BoolVar(&telemetry, "telemetry", false, "print the TelemetryLog lines instead of the container's output")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().DurationVar(&interval, "interval", 500*time.Millisecond, "poll interval with --follow")
	return cmd
}

// followTelemetry prints a function's TelemetryLog entries, then, with
// follow, new ones every interval until ctx is done.
func followTelemetry(ctx context.Context, c *controller, wfID, name string, follow bool, interval, timeout time.Duration,
	print func(adminapi.LogEntry)) error {
	var after uint64
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		entries, err := c.admin.Telemetry(rctx, wfID, name, after)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("telemetry of %s: %w", name, err)
		}
		for _, e := range entries {
			print(e)
			after = e.Seq
		}
		if !follow || !sleep(ctx, interval) {
			return nil
		}
	}
}

// followOutput prints a function's container output lines.
func followOutput(ctx context.Context, c *controller, wfID, name string, follow bool, interval, timeout time.Duration, out io.Writer) error {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	f, err := c.admin.Function(rctx, wfID, name)
	cancel()
	if err != nil {
		return err
	}
	node := c.nodeAdmin(f.AgentURL)
	var last *adminapi.LogLine
	for {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		lines, err := node.Logs(rctx, f.FunctionID)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("logs of %s: %w", name, err)
		}
		for _, l := range newLines(lines, last) {
			stream := ""
			if l.Stream == "stderr" {
				stream = " [stderr]"
			}
			fmt.Fprintf(out, "%s%s %s\n", l.Time.Local().Format("15:04:05.000"), stream, l.Text)
		}
		if len(lines) > 0 {
			last = &lines[len(lines)-1]
		}
		if !follow || !sleep(ctx, interval) {
			return nil
		}
	}
}

// newLines returns the lines after last (the last line printed before):
// those after its latest occurrence, or, if the node's buffer has dropped
// it, those written later.
func newLines(lines []adminapi.LogLine, last *adminapi.LogLine) []adminapi.LogLine {
	if last == nil {
		return lines
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if lines[i] == *last {
			return lines[i+1:]
		}
	}
	for i, l := range lines {
		if l.Time.After(last.Time) {
			return lines[i:]
		}
	}
	return nil
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
