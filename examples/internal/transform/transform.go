// Package transform is the text transformation of the example transformers
// (the container one and the RUST_WASM one), chosen by the init payload.
package transform

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgeless-go/edgeless/examples/internal/initpayload"
)

// FromInitPayload returns the transformation that the init payload's mode
// names: "upper" (the default) or "reverse".
func FromInitPayload(payload string) (func(string) string, error) {
	opts, err := initpayload.Parse(payload, "mode")
	if err != nil {
		return nil, err
	}
	switch mode := opts["mode"]; mode {
	case "", "upper":
		return strings.ToUpper, nil
	case "reverse":
		return reverse, nil
	default:
		return nil, fmt.Errorf("init payload mode=%q: want upper or reverse", mode)
	}
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}
