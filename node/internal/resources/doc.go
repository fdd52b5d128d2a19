// Package resources holds the node's resource providers and serves the
// ResourceConfiguration service (Start, Stop, Patch) that the orchestrator
// drives, wire-compatible with upstream's edgeless_node.
//
// A provider (http-ingress, http-egress, file-log: the sub-packages) is
// announced in the registration's resource_providers with its provider id,
// class type and outputs. Each resource instance it starts joins the data
// plane like a function instance: the Manager gives it an InstanceId on
// this node, registers it in the data plane under that id (so functions
// cast and call it, on this node or from peers), and applies Patch's
// output_mapping to its alias table (so it casts and calls by output alias).
//
// As upstream, Start picks the first provider whose class type matches
// (providers are kept in the order of the configuration), a refused
// configuration is a StartComponentResponse with a ResponseError, and Stop
// of an unknown instance succeeds.
package resources
