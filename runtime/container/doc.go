// Package container runs EDGELESS function instances as Docker containers
// and serves the GuestAPIHost API they call back into.
package container
