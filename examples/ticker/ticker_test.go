package main

import (
	"strings"
	"testing"

	edgelessapi "github.com/edgeless-go/edgeless/gen/edgelessapi"

	"github.com/edgeless-go/edgeless/examples/internal/fntest"
)

func TestTicker_SchedulesAndCounts(t *testing.T) {
	t.Parallel()
	in := fntest.Start(t, &ticker{}, "period-ms=250")
	reqs := in.Host.Wait(t, 1)
	d, ok := reqs[0].Msg.(*edgelessapi.DelayedEventData)
	if reqs[0].Method != "DelayedCast" || !ok || d.GetAlias() != "self" || d.GetDelay() != 250 || string(d.GetMsg()) != "tick" {
		t.Fatalf("after Init the host got %s %v, want DelayedCast(self, 250, tick)", reqs[0].Method, reqs[0].Msg)
	}
	// The node delivers the tick: the next one is scheduled, "tick 1" goes out.
	in.Cast(t, "tick")
	in.Cast(t, "tick")
	reqs = in.Host.Wait(t, 5)
	var got []string
	for _, r := range reqs[1:] {
		switch m := r.Msg.(type) {
		case *edgelessapi.DelayedEventData:
			got = append(got, "DelayedCast "+m.GetAlias()+" "+string(m.GetMsg()))
		case *edgelessapi.OutputEventData:
			got = append(got, "Cast "+m.GetAlias()+" "+string(m.GetMsg()))
		}
	}
	want := "DelayedCast self tick|Cast output tick 1|DelayedCast self tick|Cast output tick 2"
	if strings.Join(got, "|") != want {
		t.Errorf("host requests = %q, want %q", strings.Join(got, "|"), want)
	}
	if res := in.Call(t, "count"); string(res.GetMsg()) != "2" {
		t.Errorf("Call(count) = %q, want %q", res.GetMsg(), "2")
	}
}

func TestTicker_BadInitPayload(t *testing.T) {
	t.Parallel()
	for payload, want := range map[string]string{
		"period-ms=5":   `period-ms="5": want an integer >= 10`,
		"period=100":    `"period": unknown key (known: period-ms)`,
		"period-ms":     `want key=value`,
		"period-ms=abc": `period-ms="abc"`,
	} {
		in := fntest.Boot(t, &ticker{})
		err := in.Init(t, payload)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Init(%q) = %v, want an error containing %q", payload, err, want)
		}
	}
}
