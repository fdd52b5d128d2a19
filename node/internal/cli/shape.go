package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"
)

// edge is one output mapping: from's channel goes to to.
type edge struct{ from, channel, to string }

// workflowEdges lists the output mappings of functions and resources in
// file order (channels sorted within a component).
func workflowEdges(req *edgelessapi.SpawnWorkflowRequest) (names []string, edges []edge) {
	add := func(name string, m map[string]string) {
		names = append(names, name)
		chans := make([]string, 0, len(m))
		for c := range m {
			chans = append(chans, c)
		}
		slices.Sort(chans)
		for _, c := range chans {
			edges = append(edges, edge{name, c, m[c]})
		}
	}
	for _, f := range req.GetWorkflowFunctions() {
		add(f.GetName(), f.GetOutputMapping())
	}
	for _, r := range req.GetWorkflowResources() {
		add(r.GetName(), r.GetOutputMapping())
	}
	return names, edges
}

// shapeLines draws a workflow's output mappings: one line
// "ticker ──output──▶ transformer ──output──▶ sink" when they form a single
// chain through every component, else one line per chain from each
// component that nothing feeds, then any mapping not drawn yet (cycles),
// then the components with no mapping at all.
func shapeLines(req *edgelessapi.SpawnWorkflowRequest) []string {
	names, edges := workflowEdges(req)
	out := map[string][]edge{}
	fed := map[string]bool{}
	for _, e := range edges {
		out[e.from] = append(out[e.from], e)
		fed[e.to] = true
	}
	drawn := map[edge]bool{}
	seen := map[string]bool{}
	var lines []string
	// chain follows single outputs from name as far as they go.
	chain := func(name string) string {
		var b strings.Builder
		b.WriteString(name)
		seen[name] = true
		for cur := name; len(out[cur]) == 1 && !drawn[out[cur][0]]; {
			e := out[cur][0]
			drawn[e] = true
			fmt.Fprintf(&b, " ──%s──▶ %s", e.channel, e.to)
			if seen[e.to] {
				break
			}
			seen[e.to] = true
			cur = e.to
		}
		return b.String()
	}
	for _, n := range names {
		if !fed[n] && len(out[n]) == 1 {
			lines = append(lines, chain(n))
		}
	}
	for _, e := range edges {
		if !drawn[e] {
			drawn[e] = true
			seen[e.from], seen[e.to] = true, true
			lines = append(lines, fmt.Sprintf("%s ──%s──▶ %s", e.from, e.channel, e.to))
		}
	}
	for _, n := range names {
		if !seen[n] {
			lines = append(lines, n+" (no outputs mapped, nothing maps to it)")
		}
	}
	return lines
}

// printShape prints the workflow's picture and, under it, where each
// function runs: node, state, start time and how long its start took.
func printShape(w io.Writer, req *edgelessapi.SpawnWorkflowRequest, v *WorkflowView) error {
	for _, l := range shapeLines(req) {
		fmt.Fprintf(w, "    %s\n", l)
	}
	if v == nil {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	now := time.Now()
	for _, f := range v.Functions {
		state := f.State
		if f.Error != "" {
			state = "? (" + f.Error + ")"
		}
		took := ""
		if f.StartMS > 0 {
			took = "in " + fmtMS(f.StartMS)
		}
		fmt.Fprintf(tw, "    %s\ton node %s\t%s\tstarted %s\t%s\n", f.Name, orDash(shortID(f.NodeID)), state, fmtTime(f.StartedAt, now), took)
	}
	return tw.Flush()
}
