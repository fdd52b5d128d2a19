package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
	"github.com/edgeless-go/edgeless/node/internal/workflow"
	"github.com/spf13/cobra"
)

func newWorkflowValidate() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a workflow file and show what would run (no controller needed)",
		Long: `Check FILE as "workflow start" does before it sends anything: JSON syntax and
fields, names, output mappings, function types and code strings. Print what
would run (each function's image, init payload and annotations, and the
workflow's shape) and any warnings (e.g. an annotation nothing reads), or the
errors. Nothing is contacted: neither a controller nor Docker.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := workflow.Load(args[0])
			if err != nil {
				return err
			}
			printWarnings(cmd.ErrOrStderr(), req)
			return printPlan(cmd.OutOrStdout(), args[0], req)
		},
	}
}

// printWarnings prints what is probably a mistake in a valid workflow.
func printWarnings(w io.Writer, req *edgelessapi.SpawnWorkflowRequest) {
	for _, s := range workflow.Warnings(req) {
		fmt.Fprintln(w, "warning:", s)
	}
}

// printPlan prints what a valid workflow would run.
func printPlan(w io.Writer, path string, req *edgelessapi.SpawnWorkflowRequest) error {
	fns := req.GetWorkflowFunctions()
	fmt.Fprintf(w, "%s: valid; %d function(s), %d resource(s), started in this order:\n", path, len(fns), len(req.GetWorkflowResources()))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range fns {
		c := f.GetClassSpec()
		code := c.GetCode()
		if code == "" && len(c.GetBinary()) > 0 {
			code = fmt.Sprintf("(%d bytes of code)", len(c.GetBinary()))
		}
		var extra []string
		keys := sortedKeys(f.GetAnnotations())
		for _, k := range keys {
			extra = append(extra, fmt.Sprintf("%s=%q", k, f.GetAnnotations()[k]))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.GetName(), c.GetFunctionType(), code, strings.Join(extra, " "))
	}
	for _, r := range req.GetWorkflowResources() {
		var conf []string
		for _, k := range sortedKeys(r.GetConfigurations()) {
			conf = append(conf, fmt.Sprintf("%s=%q", k, r.GetConfigurations()[k]))
		}
		fmt.Fprintf(tw, "  %s\tresource\t%s\t%s\n", r.GetName(), r.GetClassType(), strings.Join(conf, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "Shape:")
	return printShape(w, req, nil)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
