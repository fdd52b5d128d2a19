// Package lograte rate-limits repeated log lines. The first line of a kind
// is written at once, the next ones at most once per interval, each with the
// count of the occurrences since the previous line: a flood (a peer sending
// bad events, a client failing its TLS handshake in a loop, a library
// repeating a warning) costs one line per kind per interval, while the
// metrics count every occurrence. It is shared by the runtimes and the
// node.
package lograte

import (
	"sync"
	"time"
)

// Every is the default least time between two lines of one kind.
const Every = 10 * time.Second

// MaxKeys bounds the kinds a Keyed limiter tells apart; occurrences of
// further kinds share the limiter of the key Other.
const MaxKeys = 64

// Other is the key that kinds beyond MaxKeys share.
const Other = "other"

// Limiter decides when a line of one kind is due. The zero value is ready
// and allows a line per Every.
type Limiter struct {
	// Interval is the least time between two lines (0: Every). Set it
	// before the first Note.
	Interval time.Duration

	mu   sync.Mutex
	next time.Time
	n    int
}

// Note counts one occurrence at now; when a line is due it returns true and
// the count of the occurrences since the previous line, this one included
// (so n-1 were not logged).
func (l *Limiter) Note(now time.Time) (due bool, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if now.Before(l.next) {
		return false, 0
	}
	every := l.Interval
	if every <= 0 {
		every = Every
	}
	n = l.n
	l.n, l.next = 0, now.Add(every)
	return true, n
}

// Keyed is a Limiter per key (a reason, a kind of message). The zero value
// is ready. It holds at most MaxKeys keys: further keys share Other, so a
// peer that varies its messages cannot grow it.
type Keyed struct {
	// Interval is the least time between two lines of one key (0: Every).
	// Set it before the first Note.
	Interval time.Duration

	mu sync.Mutex
	m  map[string]*Limiter
}

// Note counts one occurrence of key at now (see Limiter.Note).
func (k *Keyed) Note(key string, now time.Time) (due bool, n int) {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		if k.m == nil {
			k.m = make(map[string]*Limiter)
		}
		if len(k.m) >= MaxKeys {
			key = Other
			l = k.m[key]
		}
		if l == nil {
			l = &Limiter{Interval: k.Interval}
			k.m[key] = l
		}
	}
	k.mu.Unlock()
	return l.Note(now)
}
