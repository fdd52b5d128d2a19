package agent

import (
	"sync"
	"sync/atomic"
)

// maxSentAliases bounds the aliases an instance's sent-event counts keep.
// Only sends that resolved count (an alias of the instance's output
// mapping, or "self"), so the bound is reached only by an instance patched
// again and again with new aliases; sends under further aliases are then
// not counted.
const maxSentAliases = 256

// sentCounter counts the events an instance sent per output alias. Adding
// to a known alias takes a read lock and an atomic add.
type sentCounter struct {
	mu sync.RWMutex
	m  map[string]*atomic.Uint64
}

// add counts one event sent under alias.
func (c *sentCounter) add(alias string) {
	c.mu.RLock()
	n := c.m[alias]
	c.mu.RUnlock()
	if n == nil {
		c.mu.Lock()
		if n = c.m[alias]; n == nil {
			if len(c.m) >= maxSentAliases {
				c.mu.Unlock()
				return
			}
			if c.m == nil {
				c.m = map[string]*atomic.Uint64{}
			}
			n = new(atomic.Uint64)
			c.m[alias] = n
		}
		c.mu.Unlock()
	}
	n.Add(1)
}

// snapshot returns the counts by alias (nil if nothing was sent).
func (c *sentCounter) snapshot() map[string]uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.m) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(c.m))
	for alias, n := range c.m {
		out[alias] = n.Load()
	}
	return out
}
