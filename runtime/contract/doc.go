// Package contract is the runtime-neutral contract between a node and the
// runtimes that run its function instances, as Nomad keeps plugins/drivers
// apart from drivers/docker: the identifiers, the Host a node offers each
// instance, the StartSpec, the Runtime and Instance interfaces, and the
// error sentinels both sides share.
//
// A runtime (runtime/container for CONTAINER functions, others for other
// function types) implements Runtime and Instance; the node's agent holds
// one Runtime per function type and sees instances only through Instance.
// The node implements Host for each instance; a runtime calls it when the
// instance sends events, saves state or writes a log line.
//
// Errors are domain errors: neither side builds wire (Connect) codes from
// them except at its RPC edge.
//
// The package imports only the generated API types and the standard library.
package contract
