package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/edgeless-go/edgeless/node/internal/daemon"
)

// printAvailableResources prints the resource classes as upstream's
// edgeless_node_d --available-resources does (text or JSON).
func printAvailableResources(w io.Writer, asJSON bool) error {
	specs := daemon.AvailableResources()
	if asJSON {
		b, err := json.Marshal(specs)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	for _, s := range specs {
		fmt.Fprintln(w, "----------")
		fmt.Fprintln(w, "class_type:", s.ClassType)
		fmt.Fprintln(w, "version:", s.Version)
		fmt.Fprintf(w, "outputs: [%s]\n", strings.Join(s.Outputs, ","))
		if len(s.Configurations) > 0 {
			fmt.Fprintln(w, "configurations:")
			keys := make([]string, 0, len(s.Configurations))
			for k := range s.Configurations {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "  - %s: %s\n", k, s.Configurations[k])
			}
		}
		fmt.Fprintf(w, "description:\n%s\n\n", s.Description)
	}
	return nil
}
