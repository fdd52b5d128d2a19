package main

import (
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"

	"github.com/edgeless-go/edgeless/examples/internal/fntest"
)

func TestTransformer(t *testing.T) {
	t.Parallel()
	tests := []struct{ payload, in, want string }{
		{"", "tick 1", "TICK 1"},
		{"mode=upper", "héllo", "HÉLLO"},
		{"mode=reverse", "tick 12", "21 kcit"},
	}
	for _, tt := range tests {
		in := fntest.Start(t, &transformer{}, tt.payload)
		in.Cast(t, tt.in)
		r := in.Host.Wait(t, 1)[0]
		m, ok := r.Msg.(*edgelessapi.OutputEventData)
		if r.Method != "Cast" || !ok || m.GetAlias() != "output" || string(m.GetMsg()) != tt.want {
			t.Errorf("[%s] Cast(%q) sent %s %v, want Cast(output, %q)", tt.payload, tt.in, r.Method, r.Msg, tt.want)
		}
		if res := in.Call(t, tt.in); string(res.GetMsg()) != tt.want {
			t.Errorf("[%s] Call(%q) = %q, want %q", tt.payload, tt.in, res.GetMsg(), tt.want)
		}
	}
}

func TestTransformer_BadMode(t *testing.T) {
	t.Parallel()
	in := fntest.Boot(t, &transformer{})
	if err := in.Init(t, "mode=lower"); err == nil || !strings.Contains(err.Error(), `mode="lower": want upper or reverse`) {
		t.Errorf("Init(mode=lower) = %v, want an error naming the mode", err)
	}
}
