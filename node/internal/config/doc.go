// Package config holds the node's TOML configuration: upstream
// edgeless_node_d's sections and keys ([general], [telemetry],
// [wasm_runtime], [container_runtime], [resources], [user_node_capabilities],
// [power_info]) plus this node's own keys, documented in the template that
// Template writes.
//
// Loading is strict: an unknown key, a value of the wrong type or a value
// that Validate rejects is an error naming the file, line and key. A key that
// is missing takes its documented default, except general.node_id, which a
// node needs to keep its identity across restarts: Parse requires it, while
// LoadWithEnv (what edgeless-node uses) keeps a generated one in
// state_dir/node-id. LoadWithEnv also lets environment variables set keys
// (EDGELESS_<SECTION>_<KEY>, and the names of upstream's node image).
package config
