// Package orchestrator is a single-domain EDGELESS orchestrator for one
// machine (or a small set of nodes): it plays the roles of upstream's
// controller (ε-CON) and orchestrator (ε-ORC) at once.
//
// It serves WorkflowInstance, wire-compatible with the controller, so that
// upstream's edgeless_cli and our CLI can start, stop, list and inspect
// workflows; and NodeRegistration, so that nodes (our own, in the same
// process or not, and upstream's) register with it. For each workflow it
// places every function on a registered node whose runtimes include the
// function's type, starts it through the node's agent API
// (FunctionInstance.Start), wires the outputs with Patch, and on Stop stops
// the instances in reverse order. If a function cannot start, the instances
// already started are stopped and the answer names the function and why.
//
// Node handling follows upstream (edgeless.md §2.4): an unknown node is
// Reset and peered with every node (itself included); an update with the
// same nonce refreshes its deadline; a new nonce means the node restarted and
// it is removed and added again; nodes past their deadline are swept. Every
// agent call has a deadline and runs on the target node's own queue, so a
// slow or dead agent never blocks registration or other nodes.
//
// Besides the wire API it serves a small JSON admin API (see admin.go) that
// our CLI uses for what the wire API cannot say: the node and agent URL of
// each instance, start progress per function, and per-step durations.
package orchestrator
