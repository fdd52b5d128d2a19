package agent

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSentCounter(t *testing.T) {
	t.Parallel()
	var c sentCounter
	if got := c.snapshot(); got != nil {
		t.Errorf("empty snapshot = %v, want nil", got)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.add("output")
			}
			c.add("self")
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]uint64{"output": 8000, "self": 8}, c.snapshot()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	// The number of aliases is bounded; known ones still count.
	for i := range 2 * maxSentAliases {
		c.add(fmt.Sprint("alias-", i))
	}
	c.add("output")
	got := c.snapshot()
	if len(got) != maxSentAliases || got["output"] != 8001 {
		t.Errorf("after %d more aliases: %d aliases kept, output = %d; want %d and 8001", 2*maxSentAliases, len(got), got["output"], maxSentAliases)
	}
	// A snapshot is a copy.
	got["output"] = 0
	if c.snapshot()["output"] != 8001 {
		t.Error("changing a snapshot changed the counter")
	}
}
