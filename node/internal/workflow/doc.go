// Package workflow reads EDGELESS workflow files (the JSON that upstream's
// edgeless_cli accepts), checks them, and turns them into the
// WorkflowInstance API's SpawnWorkflowRequest.
//
// The format is upstream's, field for field: a top-level object with
// "functions", "resources" and "annotations"; each function has "name",
// "class_specification" {"id", "function_type", "version", "code",
// "outputs"}, "output_mapping" and "annotations". Like upstream, every one of
// these is required (empty maps and lists are fine) and "code" and "binary"
// are optional. Unlike upstream, an unknown field is an error, so that a typo
// such as "output_maping" is reported instead of silently ignored.
//
// Errors name the place in the file: "functions[2] (sink):
// output_mapping[output]: unknown target \"snk\"".
package workflow
