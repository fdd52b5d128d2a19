//go:build !race

package daemon

// raceEnabled reports that the race detector is on.
const raceEnabled = false
