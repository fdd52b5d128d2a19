//go:build race

package daemon

// raceEnabled reports that the race detector is on: it slows the node
// about tenfold, so the load test sends fewer events.
const raceEnabled = true
