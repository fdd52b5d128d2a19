package orchestrator

import (
	"context"
	"sync"
)

// opQueue runs one node's agent calls in order on one goroutine, so that a
// node is Reset before it is told about peers, and a slow agent delays only
// its own calls.
type opQueue struct {
	mu     sync.Mutex
	ops    []func(context.Context)
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newOpQueue() *opQueue {
	return &opQueue{wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

// push appends op; it never blocks.
func (q *opQueue) push(op func(context.Context)) {
	q.mu.Lock()
	q.ops = append(q.ops, op)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close makes run return; pending ops are dropped.
func (q *opQueue) close() { q.once.Do(func() { close(q.closed) }) }

func (q *opQueue) pop() func(context.Context) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ops) == 0 {
		return nil
	}
	op := q.ops[0]
	q.ops[0] = nil
	q.ops = q.ops[1:]
	return op
}

// run executes ops until close or ctx is done.
func (q *opQueue) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.closed:
			return
		case <-q.wake:
		}
		for op := q.pop(); op != nil; op = q.pop() {
			select {
			case <-q.closed:
				return
			default:
			}
			op(ctx)
		}
	}
}
