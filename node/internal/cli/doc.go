// Package cli is the edgeless command: a client of the WorkflowInstance API
// (our orchestrator's or upstream's controller) for starting, stopping,
// listing and inspecting workflows, plus tools that use the admin APIs of
// our orchestrator and nodes: start progress per function, instance details
// (node, state, container, start time), sending an event to a function and
// reading its logs. The demo command runs the whole single-machine story:
// build the example images, start in-a-box, deploy, watch events, stop,
// clean up.
package cli
