package container

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"

	"github.com/edgeless-go/edgeless/runtime/contract"
	"github.com/edgeless-go/edgeless/runtime/lograte"
)

// The prewarm pool keeps containers created and started ahead of the
// Starts that will need them, unbooted: such a container is generic for
// its image and create parameters, since a function learns its instance id
// and secret only at Boot. A Start whose image and create parameters match
// an idle pooled container (a hit) takes it and skips create and start;
// otherwise it creates its own (a miss). Each pooled container serves one
// instance: after that instance it is removed like any other, never
// returned. Which images are kept warm: the operator's (Prewarm.Images,
// with the node's default limits and port) and the keys of the last
// Prewarm.History distinct container Starts (hit or miss), Prewarm.Size
// each, under a total count (Prewarm.MaxContainers) and a memory bound
// (Prewarm.MaxMemoryBytes, the sum of the pooled containers' memory
// limits); operator images rank first, then the most recent. Refills run in
// the background, one container at a time, after the Start that took or
// missed has returned.

// LabelPool marks a pooled container; its value is the pool key. A pooled
// container has no LabelInstanceID or LabelFunctionClass (labels cannot be
// changed after create): when a Start takes it, it is renamed to the
// instance's container name.
const LabelPool = "edgeless.pool"

// PoolNamePrefix starts the name of a pooled container until a Start takes
// it.
const PoolNamePrefix = ContainerNamePrefix + "pool-"

// Defaults of Prewarm's zero fields.
const (
	DefaultPrewarmSize           = 1
	DefaultPrewarmHistory        = 4
	DefaultPrewarmMaxContainers  = 4
	DefaultPrewarmMaxMemoryBytes = 1 << 30
)

// Prewarm configures the prewarm pool (see LabelPool). The zero value is
// off.
type Prewarm struct {
	// Enabled turns the pool on.
	Enabled bool
	// Images are kept warm from the start (with Config.Defaults' limits
	// and DefaultFunctionPort), whether started recently or not.
	Images []string
	// Size is the number of idle containers kept per key (default 1).
	Size int
	// History is the number of recently started distinct keys (image and
	// create parameters) kept warm besides Images (default 4; negative:
	// none).
	History int
	// MaxContainers bounds the pooled containers, idle or warming
	// (default 4).
	MaxContainers int
	// MaxMemoryBytes bounds the sum of the pooled containers' memory limits
	// (default 1 GiB).
	MaxMemoryBytes int64
}

func (p *Prewarm) fill() {
	if p.Size <= 0 {
		p.Size = DefaultPrewarmSize
	}
	if p.History == 0 {
		p.History = DefaultPrewarmHistory
	}
	if p.History < 0 {
		p.History = 0
	}
	if p.MaxContainers <= 0 {
		p.MaxContainers = DefaultPrewarmMaxContainers
	}
	if p.MaxMemoryBytes <= 0 {
		p.MaxMemoryBytes = DefaultPrewarmMaxMemoryBytes
	}
}

// PoolStats counts what the prewarm pool did.
type PoolStats struct {
	// Hits and Misses count container Starts that took a pooled container
	// and those that created their own (with the pool on), as each
	// Start's attempt in a pooled container ends (one that failed at
	// Boot and went on in a container of its own is a miss).
	Hits, Misses uint64
	// Idle and Warming are the pooled containers ready to be taken and
	// those being created or waiting for their port.
	Idle, Warming int
	// Evicted counts idle containers removed unused to make room, because
	// their key left the history or their image changed; Died those that
	// ended while idle; FillFailures the refills that failed.
	Evicted, Died, FillFailures uint64
	// Discarded counts taken containers that failed at Boot (booted by
	// someone else first, hung or broken while idle): each was removed
	// and its Start created its own container instead, counted as a miss.
	Discarded uint64
}

// poolSpec is what the containers of one pool key are created from.
type poolSpec struct {
	key    string
	image  string // as the code names it
	limits Limits
	port   uint16
}

// poolKey hashes an image and the effective create parameters of a
// container (everything but its name and labels).
func (r *Runtime) poolKey(image string, l Limits, port uint16) string {
	c := r.cfg
	s := strings.Join([]string{image, strconv.FormatInt(l.MemoryBytes, 10), strconv.FormatInt(l.NanoCPUs, 10),
		strconv.FormatInt(l.PidsLimit, 10), strconv.FormatBool(l.WritableRootFS), strconv.Itoa(int(port)),
		strconv.FormatBool(c.PublishPort), r.network.ID, strings.Join(c.CapAdd, ","),
		strconv.FormatInt(c.TmpfsBytes, 10), strconv.FormatInt(c.LogMaxBytes, 10), strconv.Itoa(c.LogMaxFiles)}, "\x00")
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:12])
}

// pooled is one pooled container.
type pooled struct {
	spec    *poolSpec
	h       *containerHandle
	logs    *outputRing
	imageID string
	ip      netip.Addr
	ap      netip.AddrPort

	mu    sync.Mutex
	taken bool
	owner func(contract.ExitInfo) // set by claim
	// exit is an end reported after the take and before claim.
	exit *contract.ExitInfo
}

// onExit is the container's waiter's callback: while the container is
// pooled, the pool drops it; once taken, its instance is told.
func (pd *pooled) onExit(p *pool) func(contract.ExitInfo) {
	return func(ex contract.ExitInfo) {
		pd.mu.Lock()
		owner, taken := pd.owner, pd.taken
		if taken && owner == nil {
			pd.exit = &ex
		}
		pd.mu.Unlock()
		switch {
		case owner != nil:
			owner(ex)
		case !taken:
			p.died(pd, ex)
		}
	}
}

// claim gives the taken container's end to owner from now on (at once if
// it has already ended).
func (pd *pooled) claim(owner func(contract.ExitInfo)) {
	pd.mu.Lock()
	pd.owner = owner
	ex := pd.exit
	pd.mu.Unlock()
	if ex != nil {
		owner(*ex)
	}
}

// pool is the runtime's prewarm pool; nil when off.
type pool struct {
	rt  *Runtime
	cfg Prewarm
	log *slog.Logger

	bg     context.Context
	cancel context.CancelFunc
	kickCh chan struct{}
	done   chan struct{} // closed when run returns
	// work counts removals of containers that left the pool unused.
	work sync.WaitGroup
	// starting counts container Starts in progress: fills wait for none,
	// so that a refill does not slow a Start down (the engine and the
	// CPUs are shared).
	starting atomic.Int32

	mu       sync.Mutex
	closed   bool
	operator []*poolSpec // Images, in order
	history  []*poolSpec // most recent first
	idle     map[string][]*pooled
	warming  map[string]int
	all      map[*pooled]struct{} // idle and warming
	count    int                  // len(all)
	memory   int64                // memory limits of all
	failures map[string]int       // failed fills or deaths in a row, per key
	notUntil map[string]time.Time // no fill of the key before
	// taken holds the ids of the containers taken by Starts that have
	// not registered their instance yet (afterTake drops them): Reconcile
	// leaves them alone, then finds them in the registry.
	taken map[string]struct{}
	// filling is the container being filled, if any.
	filling *pooled

	hits, misses, evicted, diedN, fillFailures, discarded atomic.Uint64
	// discardLog rate-limits the warnings about discarded hits.
	discardLog lograte.Limiter
}

// maxFillBackoff caps the pause after failed fills of a key.
const maxFillBackoff = time.Minute

// newPool starts the pool of r (r.docker and r.network are set).
func newPool(r *Runtime, cfg Prewarm) *pool {
	cfg.fill()
	p := &pool{
		rt: r, cfg: cfg, log: r.log.With(slog.String("part", "prewarm-pool")),
		kickCh: make(chan struct{}, 1), done: make(chan struct{}),
		idle: map[string][]*pooled{}, warming: map[string]int{}, all: map[*pooled]struct{}{},
		failures: map[string]int{}, notUntil: map[string]time.Time{}, taken: map[string]struct{}{},
	}
	p.bg, p.cancel = context.WithCancel(context.Background())
	port := uint16(DefaultFunctionPort)
	for _, img := range cfg.Images {
		img = strings.TrimPrefix(img, "container:")
		key := r.poolKey(img, r.cfg.Defaults, port)
		if !slices.ContainsFunc(p.operator, func(s *poolSpec) bool { return s.key == key }) {
			p.operator = append(p.operator, &poolSpec{key: key, image: img, limits: r.cfg.Defaults, port: port})
		}
	}
	go p.run()
	p.kick()
	return p
}

func (p *pool) kick() {
	select {
	case p.kickCh <- struct{}{}:
	default:
	}
}

// run starts fills, one at a time, whenever kicked or a backoff ends.
func (p *pool) run() {
	defer close(p.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-p.bg.Done():
			return
		case <-p.kickCh:
		case <-t.C:
		}
		s, wait := p.next()
		if s != nil {
			p.fill(s) // in this goroutine: fills never compete with each other
			p.kick()
			continue
		}
		if wait > 0 {
			t.Reset(wait)
		}
	}
}

// targets returns the keys to keep warm, highest rank first (under mu).
func (p *pool) targets() []*poolSpec {
	out := slices.Clone(p.operator)
	for _, s := range p.history {
		if !slices.ContainsFunc(out, func(o *poolSpec) bool { return o.key == s.key }) {
			out = append(out, s)
		}
	}
	return out
}

// next picks the key to fill next and reserves its room, evicting idle
// containers of lower rank when the bounds are reached; it returns nil and
// how long to wait when nothing is to be filled now (0: until kicked).
func (p *pool) next() (*poolSpec, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.starting.Load() > 0 {
		return nil, 0 // kicked when the last Start ends
	}
	targets := p.targets()
	var wait time.Duration
	var victims []*pooled
	defer func() {
		for _, pd := range victims {
			p.work.Go(func() { p.discard(pd) })
		}
	}()
	now := time.Now()
	for rank, s := range targets {
		if len(p.idle[s.key])+p.warming[s.key] >= p.cfg.Size {
			continue
		}
		if until := p.notUntil[s.key]; now.Before(until) {
			if d := until.Sub(now); wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		if s.limits.MemoryBytes > p.cfg.MaxMemoryBytes {
			continue
		}
		for p.count+1 > p.cfg.MaxContainers || p.memory+s.limits.MemoryBytes > p.cfg.MaxMemoryBytes {
			v := p.victim(targets, rank)
			if v == nil {
				return nil, wait // no room for this key, nor for any below it
			}
			p.evictLocked(v)
			victims = append(victims, v)
		}
		p.warming[s.key]++
		p.count++
		p.memory += s.limits.MemoryBytes
		return s, 0
	}
	return nil, wait
}

// victim returns an idle container of the lowest rank below rank (a key
// no longer a target first), or nil (under mu).
func (p *pool) victim(targets []*poolSpec, rank int) *pooled {
	for key, l := range p.idle {
		if len(l) > 0 && !slices.ContainsFunc(targets, func(s *poolSpec) bool { return s.key == key }) {
			return l[0]
		}
	}
	for r := len(targets) - 1; r > rank; r-- {
		if l := p.idle[targets[r].key]; len(l) > 0 {
			return l[0]
		}
	}
	return nil
}

// evictLocked takes pd out of the pool's books as evicted (under mu).
func (p *pool) evictLocked(pd *pooled) {
	if p.forgetLocked(pd) {
		p.evicted.Add(1)
	}
}

// forgetLocked takes an idle pd out of the books; it reports whether pd
// was there (under mu).
func (p *pool) forgetLocked(pd *pooled) bool {
	if _, ok := p.all[pd]; !ok {
		return false
	}
	delete(p.all, pd)
	p.count--
	p.memory -= pd.spec.limits.MemoryBytes
	l := p.idle[pd.spec.key]
	if i := slices.Index(l, pd); i >= 0 {
		p.idle[pd.spec.key] = slices.Delete(l, i, i+1)
		if len(p.idle[pd.spec.key]) == 0 {
			delete(p.idle, pd.spec.key)
		}
	}
	return true
}

// discard removes a container that left the pool unused.
func (p *pool) discard(pd *pooled) {
	if err := pd.h.remove(false, 0, false); err != nil {
		p.log.Warn("remove pooled container", slog.String("container", pd.h.name), slog.Any("error", err))
	}
}

// fill creates, starts and waits for the port of one container of s; on
// success it becomes idle.
func (p *pool) fill(s *poolSpec) {
	r := p.rt
	name := PoolNamePrefix + strings.ToLower(rand.Text()[:16])
	logs := newOutputRing(r.cfg.LogLines)
	pd := &pooled{spec: s, logs: logs}
	pd.h = newContainerHandle(r.docker, name, s.image, logs, s.limits.MemoryBytes > 0,
		p.log.With(slog.String("container", name)))
	p.mu.Lock()
	p.filling = pd
	p.mu.Unlock()
	err := p.create(pd)
	p.mu.Lock()
	p.filling = nil
	p.warming[s.key]--
	if p.warming[s.key] == 0 {
		delete(p.warming, s.key)
	}
	closed := p.closed
	if err == nil && !closed && !isClosed(pd.h.ended()) {
		p.all[pd] = struct{}{}
		p.idle[s.key] = append(p.idle[s.key], pd)
		delete(p.failures, s.key)
		p.mu.Unlock()
		p.log.Debug("pooled container ready", slog.String("image", s.image), slog.String("container", name))
		return
	}
	p.count--
	p.memory -= s.limits.MemoryBytes
	if err != nil && !closed {
		p.failedLocked(s.key)
	}
	n := p.failures[s.key]
	p.mu.Unlock()
	if err != nil && !closed {
		p.fillFailures.Add(1)
		lvl := slog.LevelDebug
		if n == 1 {
			lvl = slog.LevelWarn // once per series of failures
		}
		p.log.Log(context.Background(), lvl, "prewarm failed; retrying later", slog.String("image", s.image),
			slog.Int("failures_in_a_row", n), slog.Any("error", err))
	}
	p.discard(pd)
}

// failedLocked backs the key off after a failure (under mu).
func (p *pool) failedLocked(key string) {
	p.failures[key]++
	d := 250 * time.Millisecond << min(p.failures[key]-1, 8)
	p.notUntil[key] = time.Now().Add(min(d, maxFillBackoff))
}

// create makes pd's container run and accept connections on its port.
func (p *pool) create(pd *pooled) error {
	r, s := p.rt, pd.spec
	ctx, cancel := context.WithTimeout(p.bg, r.cfg.BootTimeout)
	defer cancel()
	ictx, icancel := context.WithTimeout(ctx, dockerTimeout)
	img, err := r.docker.ImageInspect(ictx, s.image)
	icancel()
	if err != nil {
		return fmt.Errorf("inspect image %s: %w", s.image, err)
	}
	pd.imageID = img.ID
	guestDir, err := r.attachGuestSockets(pd.h, p.log)
	if err != nil {
		return err
	}
	err = pd.h.create(ctx, createParams{
		name:  pd.h.name,
		image: img.ID, // exactly the image inspected, whatever the tag names later
		labels: map[string]string{
			LabelNodeID:  r.cfg.NodeID,
			LabelPool:    s.key,
			LabelImage:   s.image,
			LabelStarted: strconv.FormatInt(time.Now().Unix(), 10),
		},
		port:     s.port,
		publish:  r.cfg.PublishPort,
		limits:   s.limits,
		network:  r.network.ID,
		guestDir: guestDir,
		hardening: hardening{
			capAdd:      r.cfg.CapAdd,
			tmpfsBytes:  r.cfg.TmpfsBytes,
			logMaxBytes: r.cfg.LogMaxBytes,
			logMaxFiles: r.cfg.LogMaxFiles,
		},
	})
	if err != nil {
		return err
	}
	pd.ip, pd.ap, err = pd.h.start(ctx, r.network.Name, s.port, r.cfg.PublishPort, pd.onExit(p))
	if err != nil {
		return err
	}
	return waitPort(ctx, pd.ap, pd.h.ended())
}

// waitPort dials ap until it accepts a TCP connection, with backoff from
// 2 ms to 20 ms; it gives up when ctx is done or ended closes. It starts
// no goroutine.
func waitPort(ctx context.Context, ap netip.AddrPort, ended <-chan struct{}) error {
	var d net.Dialer
	backoff := 2 * time.Millisecond
	t := time.NewTimer(0)
	<-t.C
	defer t.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := d.DialContext(actx, "tcp", ap.String())
		cancel()
		if err == nil {
			_ = c.Close()
			return nil
		}
		t.Reset(backoff)
		select {
		case <-t.C:
		case <-ended:
			return fmt.Errorf("container ended before its port %s accepted connections", ap)
		case <-ctx.Done():
			return fmt.Errorf("port %s: %w (last: %v)", ap, ctx.Err(), err)
		}
		backoff = min(backoff*2, 20*time.Millisecond)
	}
}

// died drops an idle (or warming) container that ended on its own, and
// lets the pool replace it after a backoff.
func (p *pool) died(pd *pooled, ex contract.ExitInfo) {
	p.mu.Lock()
	was := p.forgetLocked(pd)
	if was {
		p.failedLocked(pd.spec.key)
		p.work.Add(1) // (close, which waits for work, has not cleared the books yet)
	}
	p.mu.Unlock()
	if !was {
		return // warming (fill sees the end) or being removed by close
	}
	defer p.work.Done()
	p.diedN.Add(1)
	p.log.Info("pooled container ended while idle; replacing it", slog.String("image", pd.spec.image),
		slog.String("container", pd.h.name), slog.String("reason", ex.Reason), slog.Int("exit_code", ex.ExitCode))
	if err := pd.h.remove(false, 0, true); err != nil {
		p.log.Warn("remove pooled container", slog.String("container", pd.h.name), slog.Any("error", err))
	}
	p.kick()
}

// take returns an idle container of key made from imageID, marked taken,
// or nil. Idle containers of the key made from another image (the tag
// moved) are evicted.
func (p *pool) take(key, imageID string) *pooled {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	var stale []*pooled
	defer func() {
		for _, pd := range stale {
			p.work.Go(func() { p.discard(pd) })
		}
	}()
	for _, pd := range slices.Clone(p.idle[key]) {
		if pd.imageID != imageID {
			p.evictLocked(pd)
			stale = append(stale, pd)
			continue
		}
		pd.mu.Lock()
		ok := !isClosed(pd.h.ended())
		pd.taken = ok
		pd.mu.Unlock()
		if !ok {
			continue // its waiter is dropping it
		}
		p.forgetLocked(pd)
		p.taken[pd.h.containerID()] = struct{}{} // until afterTake
		delete(p.failures, key)
		return pd
	}
	return nil
}

// hasIdle reports whether key has an idle container.
func (p *pool) hasIdle(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle[key]) > 0
}

// note records a container Start of s (hit or miss) in the history and
// wakes the filler.
func (p *pool) note(s *poolSpec) {
	if p.cfg.History > 0 {
		p.mu.Lock()
		p.history = slices.DeleteFunc(p.history, func(o *poolSpec) bool { return o.key == s.key })
		p.history = slices.Insert(p.history, 0, s)
		if len(p.history) > p.cfg.History {
			p.history = p.history[:p.cfg.History]
		}
		p.mu.Unlock()
	}
	p.kick()
}

// tracks reports whether the pool holds the container cid, is creating
// one whose id it does not know yet, or a Start has taken cid and not yet
// registered its instance.
func (p *pool) tracks(cid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.taken[cid]; ok || len(p.warming) > 0 {
		return true
	}
	for pd := range p.all {
		if pd.h.containerID() == cid {
			return true
		}
	}
	return false
}

// containers returns the ids of the containers the pool holds: idle, or
// being filled (once created).
func (p *pool) containers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for pd := range p.all {
		ids = append(ids, pd.h.containerID())
	}
	if p.filling != nil {
		if id := p.filling.h.containerID(); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// stats returns the pool's counters.
func (p *pool) stats() PoolStats {
	p.mu.Lock()
	idle, warming := 0, 0
	for _, l := range p.idle {
		idle += len(l)
	}
	for _, n := range p.warming {
		warming += n
	}
	p.mu.Unlock()
	return PoolStats{Hits: p.hits.Load(), Misses: p.misses.Load(), Idle: idle, Warming: warming,
		Evicted: p.evicted.Load(), Died: p.diedN.Load(), FillFailures: p.fillFailures.Load(),
		Discarded: p.discarded.Load()}
}

// close stops the filler (a fill in progress removes its container) and
// removes every idle container. It returns once they are gone.
func (p *pool) close() error {
	p.mu.Lock()
	p.closed = true
	var idle []*pooled
	for pd := range p.all {
		idle = append(idle, pd)
		delete(p.all, pd)
	}
	p.idle = map[string][]*pooled{}
	p.count, p.memory = 0, 0
	p.mu.Unlock()
	p.cancel()
	<-p.done // a fill in progress has removed its container
	p.work.Wait()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, pd := range idle {
		wg.Go(func() {
			if err := pd.h.remove(false, 0, false); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// PoolStats returns the prewarm pool's counters (zero when it is off).
func (r *Runtime) PoolStats() PoolStats {
	if r.pool == nil {
		return PoolStats{}
	}
	return r.pool.stats()
}

// PoolContainers returns the ids of the containers the prewarm pool holds
// now (idle, or being created and started), not those taken by Starts.
// A container leaves this set only when a Start takes it (or it is
// removed), so the node's containers listed first, less the ids returned
// next, are exactly its instances' and the leftovers
// (containertest.InstanceContainersOf); names cannot tell, since a taken
// container is renamed in the background.
func (r *Runtime) PoolContainers() []string {
	if r.pool == nil {
		return nil
	}
	return r.pool.containers()
}

// takePooled gives a container Start a pooled container if one matches
// (before the instance is registered); on a hit the instance adopts the
// container's handle and output. A Start that register will refuse (the
// runtime is closed, or the id is live) takes none: it would only use up
// and destroy an idle container.
func (r *Runtime) takePooled(ctx context.Context, i *Instance) {
	p := r.pool
	if p == nil || i.ctr == nil {
		return
	}
	p.starting.Add(1) // until startDone
	r.life.RLock()
	closed := r.closed
	r.life.RUnlock()
	if _, dup := r.instances.Load(i.id); closed || dup {
		return // register fails
	}
	s := &poolSpec{key: r.poolKey(i.code.image, i.limits, i.port), image: i.code.image, limits: i.limits, port: i.port}
	i.poolSpec = s
	if !p.hasIdle(s.key) {
		p.misses.Add(1)
		return
	}
	t0 := time.Now()
	dctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	img, err := r.docker.ImageInspect(dctx, i.code.image)
	cancel()
	if err != nil {
		p.misses.Add(1)
		return // startContainer reports it
	}
	pd := p.take(s.key, img.ID)
	if pd == nil {
		p.misses.Add(1)
		return
	}
	i.ctr.bgCancel() // the unused fresh handle (the hit counts in pooledStarted)
	i.ctr, i.logs, i.pooled = pd.h, pd.logs, pd
	i.imageDur, i.ctrName = time.Since(t0), pd.h.name
}

// startDone ends a container Start for the pool: the filler may run once
// none is in progress.
func (r *Runtime) startDone(i *Instance) {
	if r.pool != nil && i.ctr != nil && r.pool.starting.Add(-1) == 0 {
		r.pool.kick()
	}
}

// afterTake ends what takePooled began, once the instance is registered
// (or will not be): from now on Reconcile finds a taken container through
// the registry.
func (r *Runtime) afterTake(i *Instance) {
	if r.pool != nil && i.pooled != nil {
		r.pool.mu.Lock()
		delete(r.pool.taken, i.pooled.h.containerID())
		r.pool.mu.Unlock()
	}
}

// tracksPooled reports whether a container labelled LabelPool is the
// pool's, taken by a Start, or a live instance's. The pool is asked first:
// a taken container leaves its set only after its instance registered.
func (r *Runtime) tracksPooled(cid string) bool {
	if r.pool == nil {
		return false
	}
	if r.pool.tracks(cid) {
		return true
	}
	found := false
	r.instances.Range(func(_, v any) bool {
		if i := v.(*Instance); i.ctr != nil && i.ctr.containerID() == cid {
			found = true
		}
		return !found
	})
	return found
}

// startPooled makes the instance's pooled container its own: its end is
// the instance's from now on, its address is registered, and it gets the
// instance's container name in the background. Start does not wait for
// the rename: the engine takes 5 to 300 ms for one (it updates the
// network's records), more than the rest of a hit's start; until it is
// done, Info names the container by its pool name.
//
// It fails if the instance is already ending: the address must not be
// registered after teardown deregistered it, nor a goroutine be added
// to owned while teardown waits for it.
func (i *Instance) startPooled() error {
	pd := i.pooled
	pd.claim(i.containerEndedOnItsOwn)
	i.mu.Lock()
	if i.ending {
		i.mu.Unlock()
		cause := context.Cause(i.alive)
		if cause == nil {
			cause = contract.ErrInstanceStopped
		}
		return fmt.Errorf("start instance %s: %w", i.id.FunctionID, cause)
	}
	// Under mu: a teardown beginning now deregisters this address and
	// waits for the rename.
	if s := pd.h.sockets(); s != nil {
		s.bind(i)
	}
	if err := i.setConn("http://"+pd.ap.String(), pd.ip); err != nil {
		i.mu.Unlock()
		return err
	}
	i.owned.Add(1)
	i.mu.Unlock()
	go func() {
		defer i.owned.Done()
		ctx, cancel := context.WithTimeout(i.alive, dockerTimeout)
		defer cancel()
		_, err := i.rt.docker.ContainerRename(ctx, pd.h.containerID(), client.ContainerRenameOptions{NewName: i.containerName()})
		if err != nil {
			if context.Cause(i.alive) == nil {
				i.log.Warn("rename pooled container", slog.String("container", pd.h.name), slog.Any("error", err))
			}
			return
		}
		i.mu.Lock()
		i.ctrName = ""
		i.mu.Unlock()
	}()
	return nil
}

// pooledStarted ends the start of an instance in a pooled container (err:
// how it ended) and reports whether the Start should start again in a
// container of its own: the container failed before or at Boot (someone
// booted it first with another secret, it hung, broke or ended while
// idle), where a cold start may well work. Not when the Start was
// cancelled or its instance stopped or closed, nor when Init failed (the
// function's answer to this instance): those count as a hit. A retry
// counts as a miss and a discarded container, and is logged
// (rate-limited). The hit is counted only now so that the counters never
// go down.
func (r *Runtime) pooledStarted(ctx context.Context, i *Instance, err error) bool {
	p := r.pool
	if p == nil || i.pooled == nil {
		return false
	}
	retry := err != nil && ctx.Err() == nil
	if cause := context.Cause(i.alive); errors.Is(cause, contract.ErrInstanceStopped) || errors.Is(cause, contract.ErrRuntimeClosed) {
		retry = false
	}
	i.mu.Lock()
	if i.bootDur > 0 {
		retry = false
	}
	i.mu.Unlock()
	if !retry {
		p.hits.Add(1)
		return false
	}
	p.misses.Add(1)
	n := p.discarded.Add(1)
	lvl := slog.LevelDebug
	if due, _ := p.discardLog.Note(time.Now()); due {
		lvl = slog.LevelWarn
	}
	i.log.Log(context.Background(), lvl, "prewarmed container failed at Boot; removing it and starting in a new container",
		slog.String("container", i.pooled.h.name), slog.String("image", i.code.image),
		slog.Uint64("discarded_total", n), slog.Any("error", err))
	return true
}

// afterStart records a container start in the pool's history.
func (i *Instance) afterStart() {
	if i.poolSpec != nil && i.rt.pool != nil {
		i.rt.pool.note(i.poolSpec)
	}
}
