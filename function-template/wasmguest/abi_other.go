//go:build !wasip1

package wasmguest

import "github.com/google/uuid"

func hostCast(string, []byte) error                           { return ErrNotWasm }
func hostCastRaw(uuid.UUID, uuid.UUID, []byte) error          { return ErrNotWasm }
func hostCall(string, []byte) (Reply, error)                  { return Reply{}, ErrNotWasm }
func hostCallRaw(uuid.UUID, uuid.UUID, []byte) (Reply, error) { return Reply{}, ErrNotWasm }
func hostDelayedCast(uint64, string, []byte) error            { return ErrNotWasm }
func hostSync([]byte) error                                   { return ErrNotWasm }
func hostLog(LogLevel, string, string) error                  { return ErrNotWasm }
