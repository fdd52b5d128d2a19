// Package inabox runs an EDGELESS domain in one process, as upstream's
// edgeless_inabox does: the embedded orchestrator (WorkflowInstance on the
// controller URL, NodeRegistration on the node_register URL) and a node with
// the container runtime, which registers with it. One TOML file configures
// both: an [orchestrator] section and the node's own sections, exactly as
// in edgeless-node's node.toml.
package inabox
