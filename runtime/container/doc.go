// Package container runs EDGELESS function instances as Docker containers
// and serves the GuestAPIHost API they call back into. It is the CONTAINER
// runtime of the node: Runtime and Instance implement runtime/contract's
// interfaces, and use the contract's types (InstanceID, Reply, Host,
// StartSpec, ExitInfo, Info, LogLine) and error sentinels.
//
// # Layout
//
// runtime.go holds the registry and Start/Close; instance.go the Instance
// and its description; session.go the session with the function (boot,
// init, cast, call, stop, teardown); handle.go and watch.go the
// containerHandle (create, start, wait for the end, read the output,
// remove), which knows nothing of the session, as Nomad's driver keeps a
// task handle apart; docker.go the narrow Engine API calls; host.go the
// GuestAPIHost server, the one place where the node's contract errors get
// their wire codes; pool.go the prewarm pool.
//
// # Instances
//
// Runtime.Start takes a code string. "container:<image>" (split at the
// first colon, so "container:localhost:5000/fn:1.0" names the image
// "localhost:5000/fn:1.0") starts a container from a local image: the image
// is never pulled, and a missing one is ErrImageNotFound naming it. A
// container created for the instance (not a pool hit, see below) is named
// "edgeless-<function id>", labelled with LabelNodeID, LabelInstanceID,
// LabelFunctionClass, LabelImage and LabelStarted; every container runs
// docker-init as PID 1 (signals reach the function) with no-new-privileges,
// no capability but Config.CapAdd, a read-only root filesystem with a
// tmpfs /tmp (unless AnnotationReadOnly or Config.Defaults say otherwise)
// and a bounded json-file log, and gets the memory, CPU and pids limits of
// Config.Defaults overridden by the annotations AnnotationMemory,
// AnnotationCPUs and AnnotationPids, up to Config.Maxima. Its
// output goes to the node's log (attribute "instance") and to a ring that
// Instance.Logs returns. "grpc:http://<host>:<port>" attaches to an already
// running GuestAPIFunction server; no Docker is involved.
//
// The runtime then calls Boot (retrying with backoff from 2 ms under
// Config.BootTimeout, failing at once with the exit code and last output if
// the container ends) and Init (init payload and saved state). Cast and
// Call are forwarded under Config.CallTimeout. The engine's wait tells the
// runtime at once when a container ends: pending and later calls fail with
// an ExitError, the container is removed and StartSpec.OnExit is called.
// Stop sends the Stop RPC (Config.StopTimeout), then SIGTERM, then after
// Config.StopGrace (at most 250 ms if the function answered Stop) removes
// the container by force. Every failure after the
// container was created removes it; New removes the containers of an
// earlier run of the same node (Reconcile).
//
// # The prewarm pool
//
// With Config.Prewarm.Enabled, the runtime keeps containers created and
// started ahead, waiting unbooted (ready once their port accepts TCP; Boot
// is not sent, since it carries the instance id): for Prewarm.Images and
// for the last Prewarm.History distinct images and create parameters
// started, Prewarm.Size each, under a count and a memory bound. A Start
// whose image (by id: a moved tag does not match) and create parameters
// (limits, port, network, hardening: hashed into the LabelPool key) match
// an idle one takes it, skipping create and start (contract.Info.PoolHit,
// no CreateDuration); its address is registered for the GuestAPIHost
// server only then, Boot gives it the instance's id and secret, and it is
// renamed after the instance in the background. Such a container differs
// from one created for the instance: it is created from the image's id
// (the engine shows "sha256:..." as its image; LabelImage names it), is
// named PoolNamePrefix... until the rename (which is skipped if the
// instance ends first), and carries LabelPool and LabelNodeID but neither
// LabelInstanceID nor LabelFunctionClass (labels cannot change after
// create); Runtime.PoolContainers tells the pool's from the taken ones.
// It serves that one instance and is removed after it. If it fails
// before or at Boot (booted first by someone else, hung or broken while
// idle), it is removed and the Start goes on in a container of its own
// (PoolStats.Discarded, counted as a miss). Refills run one at a time while no
// Start is in progress. An idle container that ends is removed and
// replaced (with backoff); Close removes the pool's containers, and New's
// reconciler those of a dead run (they carry LabelNodeID). See
// BenchmarkColdStartPool.
//
// # Reaching containers
//
// Containers join Config.Network (EnsureNetwork: a bridge shared by the
// nodes of the host, created if missing, with inter-container traffic
// disabled), so a function reaches only its node, and no other container
// reaches a function. By default the runtime dials the container's address
// on that network, so the function port is never published on the host. With
// Config.PublishPort it is published on 127.0.0.1 only, never on 0.0.0.0.
// The cold-start benchmark (BenchmarkColdStart) measures both.
//
// The runtime calls into a function with grpc-go over one HTTP/2
// connection per instance, closed when the instance ends. A status that
// the function sent is told from one that grpc-go made up for a refused or
// broken connection by the trailers it arrived with (client.go,
// trailerWatch): only the latter makes a failed call wait for the
// container's exit reason. Boot waits for the connection while the function
// does not listen yet, redialling every few milliseconds.
//
// Every call into a function carries the instance's own random secret in
// SecretHeader, from Boot on; the Go SDK refuses requests without it once
// Boot brought one (upstream's templates ignore it). A function that
// answers FAILED_PRECONDITION to an event although the node did not stop
// it (someone else did) is ended like a container that exited, with
// ExitInfo.Reason ReasonNotRunning.
//
// # The GuestAPIHost server
//
// Runtime.Serve serves GuestAPIHost (gRPC over plain HTTP/2 with grpc-go;
// no gRPC-Web or Connect, which no function template speaks) on a listener
// that containers can reach, normally on the function network's gateway
// (Network().Gateway). A node that runs the server itself uses
// Runtime.NewGRPCServer on a listener wrapped by Runtime.KnownCallersOnly.
// A connection from an address that is neither one of the runtime's
// containers nor this host is closed as soon as it is accepted, and a
// request from such an address on an older connection is refused
// (PERMISSION_DENIED) before its body is read; both are counted
// (Runtime.RefusedCallers) and logged at most once per 10 s. Each request is routed by its
// originator to that instance's contract.Host. There is no global lock: requests of different
// instances, and nested calls (A calls B, which calls back into A), run
// concurrently. Messages up to 2 GiB are read (upstream has no limit; the
// Go default would be 4 MiB).
//
// Differences from upstream, all deliberate: an unknown originator is
// NOT_FOUND instead of a silent drop; Slf returns the caller's own id
// instead of a fixed "none" id; DelayedCast accepts a missing metadata and
// is dropped if its instance stops first; payloads are bytes end to end, and
// a payload the destination cannot carry is INVALID_ARGUMENT rather than a
// panic. A cast to an unmapped alias is accepted, dropped, logged and
// counted (Instance.Info().DroppedCasts, Runtime.DroppedCasts), as upstream
// does; a call to one answers CALL_RET_ERR.
//
// # Who may call as an instance
//
// Upstream trusts the originator field, so any container could act as any
// instance. Here a request is accepted only from the instance's own
// connection peer; otherwise it is PERMISSION_DENIED:
//
//   - a container instance's requests must come from its container's
//     address on the bridge network (the server sees each container's own
//     address as the peer), or in on its container's guest socket
//     (host.sock, see guestsock.go: the peer address names the socket; the
//     socket directory is mounted read-only, and a pooled container's
//     host.sock is not served until a Start takes it; at most 32
//     connections are open on one). The sockets are mode 0666 under a
//     root of mode 0700: any process running as the node's uid (or as
//     root) on the host can reach every container's host.sock and act as
//     that instance, as it could anyway by reading the node's memory;
//   - a grpc: instance has no container; its requests must come from an
//     address of the node's host itself (loopback or an address of one of
//     its interfaces). No container can pass this check, but any process on
//     the host can: grpc: is meant for debugging and for functions that the
//     operator runs next to the node.
//
// Slf carries no originator, so it identifies the caller by address alone:
// a container by its bridge address or guest socket; a process on the host only while
// exactly one grpc: instance runs (otherwise FAILED_PRECONDITION: such a
// function should remember the id it received in Boot).
package container
