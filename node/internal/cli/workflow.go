package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/adminapi"
	"github.com/edgeless-go/edgeless/node/internal/workflow"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/emptypb"
)

func newWorkflowCommand(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "workflow",
		Short: "Start, stop, list and inspect workflows",
	}
	cmd.AddCommand(newWorkflowStart(opts), newWorkflowStop(opts), newWorkflowList(opts), newWorkflowInspect(opts), newWorkflowValidate(),
		newWorkflowEvents(opts))
	return cmd
}

func newWorkflowStart(opts *options) *cobra.Command {
	var quiet, noProgress bool
	cmd := &cobra.Command{
		Use:   "start FILE",
		Short: "Start the workflow described by a workflow JSON file",
		Long: `Start the workflow described by FILE (upstream's workflow JSON). The file is
checked first; then each function's progress is shown as it starts, with the
time each step took. The workflow's id is printed last (alone with --quiet).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, cancel, err := opts.dial(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			out := cmd.OutOrStdout()
			if quiet {
				out = io.Discard
			}
			id, err := startWorkflow(ctx, c, args[0], out, cmd.ErrOrStderr(), !noProgress)
			if err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(cmd.OutOrStdout(), id)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the workflow id")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "use WorkflowInstance.Start only, as upstream's CLI")
	return cmd
}

// startWorkflow loads, checks and starts a workflow file, reporting progress
// to out and warnings to errOut, and returns the workflow id.
func startWorkflow(ctx context.Context, c *controller, path string, out, errOut io.Writer, progress bool) (string, error) {
	req, err := workflow.Load(path)
	if err != nil {
		return "", err
	}
	printWarnings(errOut, req)
	fmt.Fprintf(out, "Starting workflow %s (%d functions, %d resources) at %s\n", path, len(req.GetWorkflowFunctions()), len(req.GetWorkflowResources()), c.url)
	t0 := time.Now()
	var id string
	if progress {
		id, err = c.startStream(ctx, req, progressPrinter(out))
	}
	if !progress || errors.Is(err, adminapi.ErrNoAdmin) {
		var st *edgelessapi.WorkflowInstanceStatus
		st, err = c.start(ctx, req)
		if err == nil {
			if progress {
				fmt.Fprintln(out, "  (no progress shown: the controller has no admin API; used WorkflowInstance.Start)")
			}
			id = st.GetWorkflowId().GetWorkflowId()
			for _, m := range st.GetDomainMapping() {
				fmt.Fprintf(out, "  %-14s instance %s in domain %s\n", m.GetName(), m.GetFunctionId(), m.GetDomainId())
			}
		}
	}
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "Workflow %s started in %s\n", id, fmtDuration(time.Since(t0)))
	return id, nil
}

// progressPrinter prints each start step as it ends.
func progressPrinter(out io.Writer) func(adminapi.Progress) {
	return func(p adminapi.Progress) {
		switch p.Type {
		case adminapi.ProgressPlaced:
			what := p.Image
			if p.Resource {
				what = "resource"
			} else if what == "" {
				what = "function"
			}
			fmt.Fprintf(out, "  %-14s starting %s on node %s\n", p.Function, what, shortID(p.NodeID))
		case adminapi.ProgressStarted:
			steps := fmtSteps(p.Steps)
			if steps != "" {
				steps = " (" + steps + ")"
			}
			fmt.Fprintf(out, "  %-14s started in %s%s, instance %s\n", p.Function, fmtMS(p.DurationMS), steps, p.FunctionID)
		case adminapi.ProgressFailed:
			fmt.Fprintf(out, "  %-14s FAILED: %s\n", p.Function, p.Error)
		case adminapi.ProgressRolledBack:
			if p.Error != "" {
				fmt.Fprintf(out, "  %-14s rollback: stop FAILED: %s\n", p.Function, p.Error)
			} else {
				fmt.Fprintf(out, "  %-14s rolled back (stopped)\n", p.Function)
			}
		case adminapi.ProgressPatched:
			fmt.Fprintf(out, "  %-14s outputs wired in %s\n", "", fmtMS(p.DurationMS))
		}
	}
}

func newWorkflowStop(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "stop ID",
		Short: "Stop a workflow and all its function instances",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, cancel, err := opts.dial(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			return stopWorkflow(ctx, c, args[0], cmd.OutOrStdout())
		},
	}
}

func stopWorkflow(ctx context.Context, c *controller, id string, out io.Writer) error {
	t0 := time.Now()
	if _, err := c.wf.Stop(ctx, &edgelessapi.WorkflowId{WorkflowId: id}); err != nil {
		if connect.CodeOf(err) == connect.CodeNotFound {
			return fmt.Errorf("no workflow %s at %s", id, c.url)
		}
		return c.rpcError("stop workflow "+id, err)
	}
	fmt.Fprintf(out, "Workflow %s stopped in %s\n", id, fmtDuration(time.Since(t0)))
	return nil
}

func newWorkflowList(opts *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the running workflows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, cancel, err := opts.dial(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			list, err := c.wf.List(ctx, &emptypb.Empty{})
			if err != nil {
				return c.rpcError("list workflows", err)
			}
			ids := list.GetIdentifiers()
			if ids == nil {
				ids = []string{}
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				return json.NewEncoder(out).Encode(ids)
			case "table":
			default:
				return fmt.Errorf("--output %q: want table or json", output)
			}
			var infos []adminapi.WorkflowInfo
			if err := c.admin.Get(ctx, "/admin/v1/workflows", &infos); err != nil {
				// Upstream's controller: ids only.
				for _, id := range ids {
					fmt.Fprintln(out, id)
				}
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKFLOW\tFUNCTIONS\tCREATED")
			now := time.Now()
			for _, id := range ids {
				i := slices.IndexFunc(infos, func(w adminapi.WorkflowInfo) bool { return w.WorkflowID == id })
				if i < 0 {
					fmt.Fprintf(tw, "%s\t?\t?\n", id)
					continue
				}
				var names []string
				for _, f := range infos[i].Functions {
					names = append(names, f.Name)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", id, joinNames(names), fmtTime(infos[i].CreatedAt, now))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

func joinNames(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	s := names[0]
	for _, n := range names[1:] {
		s += "," + n
	}
	return s
}

// InstanceView is one function of `workflow inspect -o json`.
type InstanceView struct {
	Name          string         `json:"name"`
	FunctionID    string         `json:"function_id"`
	NodeID        string         `json:"node_id,omitempty"`
	AgentURL      string         `json:"agent_url,omitempty"`
	State         string         `json:"state"`
	FunctionType  string         `json:"function_type,omitempty"`
	Image         string         `json:"image,omitempty"`
	ContainerID   string         `json:"container_id,omitempty"`
	ContainerName string         `json:"container_name,omitempty"`
	StartedAt     time.Time      `json:"started_at"`
	StartMS       float64        `json:"start_ms,omitempty"`
	Steps         adminapi.Steps `json:"steps"`
	// Health, Reason, Restarts, Moves and LastRestart are the
	// orchestrator's view of the function (see adminapi.FunctionInfo).
	Health      string    `json:"health,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Restarts    int       `json:"restarts"`
	Moves       int       `json:"moves"`
	LastRestart time.Time `json:"last_restart,omitzero"`
	// EventsReceived counts the events the instance received, as its node
	// reports them (nil when it does not).
	EventsReceived *uint64 `json:"events_received,omitempty"`
	// EventsSent counts the events the instance sent by output alias, as
	// its node reports them.
	EventsSent map[string]uint64 `json:"events_sent,omitempty"`
	// Error says why the node could not be asked about the instance.
	Error string `json:"error,omitempty"`
}

// WorkflowView is the output of `workflow inspect -o json`.
type WorkflowView struct {
	WorkflowID string         `json:"workflow_id"`
	Domain     string         `json:"domain,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	Functions  []InstanceView `json:"functions"`
}

func newWorkflowInspect(opts *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "inspect ID",
		Short: "Show a workflow's functions: instance, node, state, container, start time, events received",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, cancel, err := opts.dial(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			v, err := inspectWorkflow(ctx, c, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			case "table":
				return printWorkflow(out, v)
			}
			return fmt.Errorf("--output %q: want table or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// inspectWorkflow joins three views of a workflow: WorkflowInstance.Inspect
// (names, instance ids), our orchestrator's admin API (node, agent URL, step
// durations) and each node's admin API (state, container, start time).
func inspectWorkflow(ctx context.Context, c *controller, id string) (*WorkflowView, error) {
	info, err := c.wf.Inspect(ctx, &edgelessapi.WorkflowId{WorkflowId: id})
	if err != nil {
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil, fmt.Errorf("no workflow %s at %s", id, c.url)
		}
		return nil, c.rpcError("inspect workflow "+id, err)
	}
	v := &WorkflowView{WorkflowID: id, Functions: []InstanceView{}}
	for _, m := range info.GetStatus().GetDomainMapping() {
		v.Domain = m.GetDomainId()
		v.Functions = append(v.Functions, InstanceView{Name: m.GetName(), FunctionID: m.GetFunctionId(), State: "?"})
	}
	wi, err := c.admin.Workflow(ctx, id)
	if err != nil {
		// Upstream's controller: what Inspect says is all there is.
		return v, nil
	}
	v.CreatedAt = wi.CreatedAt
	nodes := map[string][]adminapi.Instance{}
	nodeErr := map[string]error{}
	for i := range v.Functions {
		f := &v.Functions[i]
		j := slices.IndexFunc(wi.Functions, func(fi adminapi.FunctionInfo) bool { return fi.FunctionID == f.FunctionID })
		if j < 0 {
			continue
		}
		fi := wi.Functions[j]
		f.NodeID, f.AgentURL, f.StartedAt, f.StartMS, f.Steps = fi.NodeID, fi.AgentURL, fi.StartedAt, fi.StartMS, fi.Steps
		f.Health, f.Reason, f.Restarts, f.Moves, f.LastRestart = fi.Health, fi.Reason, fi.Restarts, fi.Moves, fi.LastRestart
		if fi.Health != "" && fi.Health != adminapi.HealthRunning {
			// The orchestrator knows more than the node: why, and what next.
			f.State = fi.Health + ": " + fi.Reason
			continue
		}
		if fi.NodeGone {
			f.State = "gone (node left)"
			continue
		}
		if fi.FunctionType == adminapi.FunctionTypeResource {
			// The node's admin API lists function instances only.
			f.State, f.Image = "resource", fi.ClassID
			continue
		}
		if _, asked := nodes[fi.AgentURL]; !asked && nodeErr[fi.AgentURL] == nil {
			ins, err := c.nodeAdmin(fi.AgentURL).Instances(ctx)
			if err != nil {
				nodeErr[fi.AgentURL] = err
			} else {
				nodes[fi.AgentURL] = ins
			}
		}
		if err := nodeErr[fi.AgentURL]; err != nil {
			f.Error = err.Error()
			continue
		}
		k := slices.IndexFunc(nodes[fi.AgentURL], func(n adminapi.Instance) bool { return n.FunctionID == f.FunctionID })
		if k < 0 {
			f.State = "unknown to its node"
			continue
		}
		n := nodes[fi.AgentURL][k]
		f.State, f.Image, f.ContainerID, f.ContainerName = n.State, n.Image, n.ContainerID, n.ContainerName
		f.FunctionType = n.FunctionType
		if n.ExitReason != "" {
			f.State = adminapi.Exit{Reason: n.ExitReason, ExitCode: n.ExitCode}.Describe()
		}
		f.EventsReceived = &n.EventsReceived
		f.EventsSent = n.EventsSent
		if !n.StartedAt.IsZero() {
			f.StartedAt = n.StartedAt
		}
	}
	return v, nil
}

func printWorkflow(out io.Writer, v *WorkflowView) error {
	now := time.Now()
	fmt.Fprintf(out, "Workflow %s", v.WorkflowID)
	if v.Domain != "" {
		fmt.Fprintf(out, " in domain %s", v.Domain)
	}
	if !v.CreatedAt.IsZero() {
		fmt.Fprintf(out, ", created %s", fmtTime(v.CreatedAt, now))
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FUNCTION\tINSTANCE\tNODE\tSTATE\tRESTARTS\tCONTAINER\tIMAGE\tSTARTED\tSTART TIME\tEVENTS")
	for _, f := range v.Functions {
		container := "-"
		if f.ContainerName != "" {
			container = fmt.Sprintf("%s (%s)", f.ContainerName, shortID(f.ContainerID))
		} else if f.FunctionType == "RUST_WASM" {
			container = "none (RUST_WASM, in-process)"
		}
		took := "-"
		if f.StartMS > 0 {
			took = fmtMS(f.StartMS)
			if s := fmtSteps(&f.Steps); s != "" {
				took += " (" + s + ")"
			}
		}
		state := f.State
		if f.Error != "" {
			state = "? (" + f.Error + ")"
		}
		events := "-"
		if f.EventsReceived != nil {
			events = fmt.Sprint(*f.EventsReceived)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, f.FunctionID, orDash(shortID(f.NodeID)), state,
			fmtRestarts(f, now), container, orDash(f.Image), fmtTime(f.StartedAt, now), took, events)
	}
	return tw.Flush()
}

// fmtRestarts renders the restarts and moves of a function and when the
// last one was.
func fmtRestarts(f InstanceView, now time.Time) string {
	if f.Restarts == 0 && f.Moves == 0 {
		return "0"
	}
	s := fmt.Sprint(f.Restarts)
	if f.Moves > 0 {
		s += fmt.Sprintf(", %d moved", f.Moves)
	}
	return s + ", last " + fmtTime(f.LastRestart, now)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
