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
// Self-healing (heal.go, watch.go). The orchestrator long-polls each of our
// nodes' admin API for instances that ended on their own (container exit,
// OOM kill, docker kill) or that let 3 events in a row pass their deadline,
// and replaces such a crashed instance: after a backoff
// (RestartBackoff, doubled for each crash in a row, at most
// RestartBackoffMax) it stops what is left of it, starts a new instance of
// the same function with the same state id (on the same node while it fits,
// so that Init gets the NodeLocal state of the last Sync), and patches the
// new instance's outputs and every output that pointed at the old one. After
// CrashLoopLimit crashes in a row (a run of StableAfter resets the count)
// the function is marked failed with the last reason; the workflow
// annotation restart_policy=never marks it failed at the first crash. When a
// node misses its refresh deadline or re-registers with a new nonce, its
// instances are re-placed on the nodes that remain with the same placement
// rules (no backoff; the state of a lost node is lost with it), every other
// node gets UpdatePeers DEL, and a node that comes back is Reset before it
// hosts anything, so nothing runs twice. A replacement that finds no node
// waits until a node becomes ready. Every step is a lifecycle event of the
// workflow (started, crashed, restarting, restarted, node_lost, moved,
// waiting, failed, stopped), streamed by the admin API. Nodes without the
// admin API (upstream's) are not watched: their crashed instances are not
// restarted, but their loss is handled.
//
// Besides the wire API it serves a small JSON admin API (see admin.go) that
// our CLI uses for what the wire API cannot say: the node and agent URL of
// each instance, start progress per function, per-step durations, each
// function's health, restarts and reason, and the workflow's events.
package orchestrator
