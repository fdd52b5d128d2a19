// Package httpingress is the http-ingress resource (upstream's class type
// "http-ingress", output "new_request"): one HTTP/1.1 listener per node
// (http_ingress_url), on which each resource instance claims requests.
//
// An instance's configuration, as upstream's: "host" (if set and not
// empty, the request's Host header must equal it, port included), "method"
// (comma-separated GET, HEAD, POST, PUT, DELETE, PATCH; default any),
// "wf_id" ("true": the request must carry ?wf_id=<the workflow's id>),
// "async" ("true": cast instead of call) and "encode_base64" ("true", with
// async: the body is cast base64-encoded). Among the patched instances that
// match a request one is chosen at random, as upstream does.
//
// A matching request becomes a call to the instance's new_request output
// carrying upstream's EdgelessHTTPRequest JSON (protocol "Unknown", path
// with its query, header names in lower case); the reply, upstream's
// EdgelessHTTPResponse JSON, becomes the HTTP response (status, headers,
// body). With async the body is cast and the client gets 200 "OK".
//
// Where upstream has no answer this package has one, so that no connection
// hangs and no client is told "Not Found" for a function's failure:
//
//	404  no patched instance matches (host, method, wf_id), as upstream
//	405  a method upstream cannot encode (OPTIONS, TRACE, ...)
//	413  a body over Config.MaxBodyBytes
//	400  async without encode_base64 and a body that is not UTF-8
//	502  the function answered ERR, no reply, or a reply that is not an
//	     EdgelessHTTPResponse (upstream: 404 or a dropped connection)
//	503  the function is gone or its queue is full
//	504  no reply within Config.RequestTimeout (upstream waits forever)
//
// The listener has header, read, write and idle timeouts and a header size
// limit. Like upstream it has no authentication: any client that reaches
// http_ingress_url can call the workflows that claim a host on it, so bind it
// to an address only the intended clients reach.
package httpingress
