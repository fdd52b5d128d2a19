// Package console is the web console that in-a-box serves on the
// controller's listener: the domain's nodes and workflows, each workflow as
// a live graph with per-function event counts, logs, and the actions the
// CLI has (start, stop, cast, call).
//
// It is static HTML, CSS and JavaScript embedded in the binary; the page
// reads and acts through the orchestrator's admin API (/admin/v1/, same
// origin), so the console has no power the CLI does not have. Routes:
//
//	GET /                       the domain: nodes, workflows, start form
//	GET /workflows/{id}         a workflow's page
//	GET /assets/{name}.{hash}.{ext}  the assets, cached for a year
//
// Every answer carries a Content-Security-Policy of default-src 'self'
// (no inline script, nothing from another origin); the script puts data
// into the page only as text.
package console
