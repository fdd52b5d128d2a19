// Package daemon runs an EDGELESS node: it wires the configuration to the
// container runtime, the data plane, the agent API, the registration with
// the orchestrator and the metrics endpoint, serves them until its context
// is done, and then stops every instance and removes its container before
// it returns.
//
// Every goroutine belongs to an errgroup that Serve waits for. Listeners
// accept port 0; URLs reports the addresses actually bound and announced.
package daemon
