package transport

import (
	"compress/gzip"
	"errors"
	"io"
	"math"

	"connectrpc.com/connect"
)

// errUnpackedTooLarge ends the unpacking of a message past the read limit.
var errUnpackedTooLarge = errors.New("gzip: unpacked message larger than the read limit")

// cappedGunzip is a gzip reader that fails once it has produced more than
// max+1 bytes. connect reads max+1 bytes to see that a message is too large
// and would then unpack the rest only to report its size: a gzip bomb of a
// few MiB on the wire would cost gigabytes of inflating. With the cap the
// refusal (RESOURCE_EXHAUSTED) is immediate.
type cappedGunzip struct {
	gzip.Reader
	max, left int64
}

// Read unpacks into p, failing once more than max+1 bytes were unpacked.
func (g *cappedGunzip) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, errUnpackedTooLarge
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, err := g.Reader.Read(p)
	g.left -= int64(n)
	return n, err
}

// Reset starts a new message.
func (g *cappedGunzip) Reset(r io.Reader) error {
	g.left = g.max + 1
	if g.max <= 0 { // no limit
		g.left = math.MaxInt64
	}
	return g.Reader.Reset(r)
}

func gzipCodec(maxBytes int) (func() connect.Decompressor, func() connect.Compressor) {
	return func() connect.Decompressor { return &cappedGunzip{max: int64(maxBytes)} },
		func() connect.Compressor { return gzip.NewWriter(io.Discard) }
}
