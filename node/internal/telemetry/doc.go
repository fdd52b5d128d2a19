// Package telemetry records what the node does with its function instances:
// Prometheus metrics on a registry of the node's own (so that several nodes
// share a process without colliding), performance samples and function log
// entries for the orchestrator (upstream's NodePerformanceSamples), and
// function log lines in the node's structured log.
package telemetry
