// Package initpayload parses the init payloads of the example functions:
// comma-separated key=value options, as the function template's.
package initpayload

import (
	"fmt"
	"slices"
	"strings"
)

// Parse splits payload into options and checks every key is one of known.
// An empty payload gives no options.
func Parse(payload string, known ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(payload, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, fmt.Errorf("init payload option %q: want key=value", part)
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("init payload option %q: unknown key (known: %s)", k, strings.Join(known, ", "))
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}
