// Package adminapi is the wire schema of the two JSON admin APIs and their
// clients, used by the servers (the node's agent, the orchestrator), the
// orchestrator as a client of its nodes, and the CLI.
//
// The node's admin API, on its agent URL:
//
//	GET  /admin/v1/instances                -> []Instance
//	GET  /admin/v1/instances/{id}/logs      -> Logs
//	POST /admin/v1/instances/{id}/cast      body: payload; 204
//	POST /admin/v1/instances/{id}/call      body: payload; -> CallResult
//
// The orchestrator's admin API, beside WorkflowInstance:
//
//	GET  /admin/v1/nodes            -> []NodeInfo
//	GET  /admin/v1/workflows        -> []WorkflowInfo
//	GET  /admin/v1/workflows/{id}   -> WorkflowInfo
//	GET  /admin/v1/workflows/{id}/functions/{name}/telemetry?after=SEQ
//	                                -> Telemetry: the function's
//	                                   TelemetryLog lines with seq > SEQ
//	POST /admin/v1/workflows        body: SpawnWorkflowRequest in protojson;
//	                                -> application/x-ndjson stream of Progress,
//	                                   ending with a "done" or "error" line.
//	POST /admin/v1/workflow-files   body: upstream's workflow file (JSON),
//	                                   checked as the CLI checks it;
//	                                -> the same Progress stream
//	GET  /admin/v1/workflows/{id}?events=1
//	                                -> WorkflowInfo with each function's
//	                                   EventsReceived (asked of its node)
//	POST /admin/v1/workflows/{id}/stop                   -> {"workflow_id": ID}
//	POST /admin/v1/workflows/{id}/functions/{name}/cast  body: EventRequest -> {}
//	POST /admin/v1/workflows/{id}/functions/{name}/call  body: EventRequest -> CallResult
//	GET  /admin/v1/workflows/{id}/functions/{name}/logs  -> Logs
//	                                (cast, call and logs are forwarded to
//	                                   the function's node)
//
// Errors of both are Error ({"error": "..."}) with a 4xx/5xx status.
package adminapi
