// Package agent serves the node's agent API on agent_url: the
// FunctionInstance, NodeManagement and ResourceConfiguration services that
// the orchestrator drives (wire-compatible with upstream's edgeless_node),
// and the node's admin JSON API under /admin/v1/.
//
// Unlike upstream, Start answers only once the instance is initialized, with
// its InstanceId, or with a ResponseError saying why it could not start
// (upstream answers before the container exists and never reports a
// failure). Stop waits until the container is gone and is idempotent.
// UpdatePeers implements CLEAR (upstream panics), and ignores the node
// itself as a peer (the orchestrator announces every node to every node,
// itself included; local delivery needs no peer).
//
// The agent keeps a table of its instances (function id -> class, workflow,
// state id, runtime instance, data-plane mailbox). A mutex guards the map
// only; no lock is held across a call.
package agent
