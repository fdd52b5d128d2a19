package dataplane

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/edgeless-go/edgeless/runtime/contract"
)

// pendingKey identifies an outstanding call the way its reply addresses it:
// the reply's target is the caller and its stream id is the call's.
type pendingKey struct {
	src    contract.InstanceID
	stream uint64
}

type callResult struct {
	reply contract.Reply
	err   error
}

type pendingCall struct {
	dst contract.InstanceID
	ch  chan callResult // buffered 1; written once, by whoever removes the entry
}

// pendingCalls holds the calls waiting for a reply. Its mutex guards only
// map operations.
type pendingCalls struct {
	mu sync.Mutex
	m  map[pendingKey]*pendingCall
}

func newPendingCalls() *pendingCalls {
	return &pendingCalls{m: make(map[pendingKey]*pendingCall)}
}

// add records a call from src to dst under the next free stream id of the
// counter next, and returns its key and result channel.
func (p *pendingCalls) add(src, dst contract.InstanceID, next *atomic.Uint64) (pendingKey, <-chan callResult) {
	c := &pendingCall{dst: dst, ch: make(chan callResult, 1)}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		k := pendingKey{src: src, stream: next.Add(1)}
		if k.stream == 0 { // 0 is the casts' stream id
			continue
		}
		if _, taken := p.m[k]; taken {
			continue
		}
		p.m[k] = c
		return k, c.ch
	}
}

// replyMatch says what became of a reply.
type replyMatch int

const (
	replyMatched     replyMatch = iota // handed to its call
	replyUnmatched                     // no call waits under its key
	replyWrongSender                   // the call waiting was made to another instance
)

// complete hands res, sent by from, to the call k if it still waits and was
// made to from (anyone who can send events could otherwise answer another
// instance's call).
func (p *pendingCalls) complete(k pendingKey, from contract.InstanceID, res callResult) replyMatch {
	p.mu.Lock()
	c, ok := p.m[k]
	if ok && c.dst != canonID(from) {
		p.mu.Unlock()
		return replyWrongSender
	}
	delete(p.m, k)
	p.mu.Unlock()
	if !ok {
		return replyUnmatched
	}
	c.ch <- res
	return replyMatched
}

// randomStreamStart returns where a source's stream ids start: a random
// value, so that nobody can guess the id of another instance's call (62
// bits, so peers that read the id as a signed or JSON number see it
// unchanged).
func randomStreamStart() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) >> 2
}

// remove forgets the call k (after its deadline, or once answered).
func (p *pendingCalls) remove(k pendingKey) {
	p.mu.Lock()
	delete(p.m, k)
	p.mu.Unlock()
}

// failWhere completes with err every call for which match is true and
// returns how many it failed.
func (p *pendingCalls) failWhere(match func(k pendingKey, dst contract.InstanceID) bool, err error) int {
	var failed []*pendingCall
	p.mu.Lock()
	for k, c := range p.m {
		if match(k, c.dst) {
			delete(p.m, k)
			failed = append(failed, c)
		}
	}
	p.mu.Unlock()
	for _, c := range failed {
		c.ch <- callResult{err: err}
	}
	return len(failed)
}

func (p *pendingCalls) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}
