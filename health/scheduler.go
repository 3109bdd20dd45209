package health

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// IdleWorker is how long a probe goroutine with nothing to do waits for the
// next due probe before it exits. Goroutines are reused rather than started
// per probe (a dial grows a new goroutine's stack), but none outlive a quiet
// spell.
const IdleWorker = 10 * time.Second

// FirstRunSpread is the longest random delay before a target's first probe:
// enough to stagger thousands of targets, short enough that a node is ready
// soon after start.
const FirstRunSpread = time.Second

// FirstRunRate bounds how fast first probes start: above it the first round
// is spread over more than FirstRunSpread (100,000 targets: 10 s), so that a
// large configuration's first round does not take the CPU that loading it
// and answering need.
const FirstRunRate = 10_000 // per second

// Scheduler runs each target's probe on its monitor's interval: a jittered
// first run, then every interval after the previous probe started, never two
// probes of one target at once.
//
// A probe that hangs (a black-holed address waits out its whole timeout)
// holds one goroutine and nothing else: a due probe never waits for another
// target's probe to end. Goroutines are started as probes fall due and none
// is free, up to MaxConcurrent, and exit after IdleWorker without work. With
// one probe in flight per target, the number of targets already bounds the
// probes in flight; that is the default bound, so thousands of targets timing
// out together delay nobody (the jittered start and the intervals spread
// them over time).
type Scheduler struct {
	// MaxConcurrent bounds the probes in flight; 0 means the number of
	// targets. A lower bound makes probes wait for a free slot, and so makes
	// healthy targets wait behind hanging ones: set it only to cap sockets.
	MaxConcurrent int
	// OnResult receives every result, from probe goroutines. It must be
	// safe for concurrent use.
	OnResult func(*Target, Result)
	// OnPanic is told of a prober that panicked (the probe counts as failed).
	OnPanic func(*Target, any)

	mu      sync.Mutex
	queue   due
	entries map[*Target]*entry // the targets probed now (under mu)
	autoMax bool               // MaxConcurrent follows the number of targets
	spread  time.Duration      // of first probes: FirstRunSpread, or longer for many targets
	workers int                // probe goroutines, busy or idle (under mu)
	work    chan *entry
	freed   chan struct{}
	wake    chan struct{}
	// until is when the loop, asleep, wakes by itself (zero while it
	// works): a probe rescheduled later than that need not wake it.
	until   time.Time
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped bool

	firstMu   sync.Mutex
	pending   int
	firstDone chan struct{}
}

type entry struct {
	t       *Target
	next    time.Time
	first   bool
	removed bool // under mu: dropped when next due, its result unreported
}

type due []*entry

func (d due) Len() int           { return len(d) }
func (d due) Less(i, j int) bool { return d[i].next.Before(d[j].next) }
func (d due) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *due) Push(x any)        { *d = append(*d, x.(*entry)) }
func (d *due) Pop() any {
	old := *d
	e := old[len(old)-1]
	*d = old[:len(old)-1]
	return e
}

// Start begins probing targets. It returns at once.
func (s *Scheduler) Start(targets []*Target) {
	if s.MaxConcurrent <= 0 {
		s.autoMax = true
		s.MaxConcurrent = max(1, len(targets))
	}
	s.entries = make(map[*Target]*entry, len(targets))
	s.work = make(chan *entry)
	s.freed = make(chan struct{}, 1)
	s.wake = make(chan struct{}, 1)
	s.firstDone = make(chan struct{})
	s.pending = len(targets)
	if s.pending == 0 {
		close(s.firstDone)
	}
	now := time.Now()
	s.spread = max(FirstRunSpread, time.Duration(len(targets))*time.Second/FirstRunRate)
	s.queue = make(due, 0, len(targets))
	// The first targets' entries in one allocation, not one object each.
	ents := make([]entry, len(targets))
	for i, t := range targets {
		e := &ents[i]
		s.firstEntry(e, t, now)
		s.entries[t] = e
		s.queue = append(s.queue, e)
	}
	heap.Init(&s.queue)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.loop(ctx)
}

func (s *Scheduler) firstEntry(e *entry, t *Target, now time.Time) {
	spread := min(s.spread, t.Monitor.Interval)
	*e = entry{t: t, next: now.Add(rand.N(spread)), first: true}
}

// Add starts probing more targets (after the same jittered first delay as at
// Start) without touching the schedule of the others. Targets already
// probed are left as they are.
func (s *Scheduler) Add(targets ...*Target) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	for _, t := range targets {
		if s.entries[t] != nil {
			continue
		}
		e := new(entry)
		s.firstEntry(e, t, now)
		e.first = false // FirstRound speaks of the targets Start was given
		s.entries[t] = e
		heap.Push(&s.queue, e)
	}
	if s.autoMax {
		s.MaxConcurrent = max(1, len(s.entries))
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Remove stops probing targets. A probe of one in flight runs out, and its
// result is not reported.
func (s *Scheduler) Remove(targets ...*Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range targets {
		if e := s.entries[t]; e != nil {
			e.removed = true
			delete(s.entries, t)
		}
	}
	if s.autoMax {
		s.MaxConcurrent = max(1, len(s.entries))
	}
}

// Len is how many targets are probed.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// FirstRound is closed once every target has had its first result.
func (s *Scheduler) FirstRound() <-chan struct{} { return s.firstDone }

// Stop ends probing and waits for probes in flight to return (each is bounded
// by its timeout, and cancelled now). It is safe to call more than once.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	if s.stopped || s.cancel == nil {
		s.stopped = true
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func (s *Scheduler) loop(ctx context.Context) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var wait time.Duration = time.Hour
		var e *entry
		if len(s.queue) > 0 {
			if d := time.Until(s.queue[0].next); d <= 0 {
				e = heap.Pop(&s.queue).(*entry)
				if e.removed {
					s.mu.Unlock()
					continue
				}
			} else {
				wait = d
			}
		}
		if e == nil {
			s.until = time.Now().Add(wait)
		}
		s.mu.Unlock()

		if e == nil {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-timer.C:
			}
			s.mu.Lock()
			s.until = time.Time{}
			s.mu.Unlock()
			continue
		}
		if !s.dispatch(ctx, e) {
			return
		}
	}
}

// dispatch hands a due probe to an idle goroutine, or starts one. Only at
// MaxConcurrent does it wait for a goroutine to come free. It reports false
// when the scheduler is stopping.
func (s *Scheduler) dispatch(ctx context.Context, e *entry) bool {
	for {
		select {
		case s.work <- e:
			return true
		default:
		}
		s.mu.Lock()
		if s.workers < s.MaxConcurrent {
			s.workers++
			s.mu.Unlock()
			s.wg.Add(1)
			go s.worker(ctx, e)
			return true
		}
		s.mu.Unlock()
		select {
		case s.work <- e:
			return true
		case <-s.freed: // a goroutine exited: start another
		case <-ctx.Done():
			return false
		}
	}
}

// worker runs e, then whatever probe falls due next, until it has been idle
// for IdleWorker or the scheduler stops.
func (s *Scheduler) worker(ctx context.Context, e *entry) {
	defer s.wg.Done()
	// The idle timer is not reset after every probe (thousands a second
	// would keep the runtime's timer heap busy): when it fires, the
	// goroutine exits only if its last probe ended IdleWorker ago, and
	// otherwise waits out the rest.
	idle := time.NewTimer(IdleWorker)
	defer idle.Stop()
	for e != nil {
		s.probe(ctx, e)
		e = s.await(ctx, idle, time.Now())
	}
	s.mu.Lock()
	s.workers--
	s.mu.Unlock()
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// await returns the next probe for a worker whose last probe ended at done,
// or nil when the scheduler stops or the worker has had nothing to do for
// IdleWorker.
func (s *Scheduler) await(ctx context.Context, idle *time.Timer, done time.Time) *entry {
	for {
		select {
		case e := <-s.work:
			return e
		case <-ctx.Done():
			return nil
		case <-idle.C:
			rest := IdleWorker - time.Since(done)
			if rest <= 0 {
				return nil
			}
			idle.Reset(rest)
		}
	}
}

func (s *Scheduler) probe(ctx context.Context, e *entry) {
	started := time.Now()
	r := s.run(ctx, e.t)
	r.Lag = max(0, started.Sub(e.next))
	if ctx.Err() != nil {
		return // stopping: a cancelled probe says nothing of the target
	}
	s.mu.Lock()
	removed := e.removed
	s.mu.Unlock()
	if removed {
		return
	}
	if s.OnResult != nil {
		s.OnResult(e.t, r)
	}
	if e.first {
		e.first = false
		s.firstMu.Lock()
		if s.pending--; s.pending == 0 {
			close(s.firstDone)
		}
		s.firstMu.Unlock()
	}
	s.mu.Lock()
	e.next = started.Add(e.t.Monitor.Interval)
	if !e.removed {
		heap.Push(&s.queue, e)
	}
	// Thousands of probes a second are rescheduled an interval ahead: the
	// loop is woken only for one due before it would wake anyway.
	wake := !s.until.IsZero() && e.next.Before(s.until)
	s.mu.Unlock()
	if wake {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// run probes once, turning a panic into a failed result.
func (s *Scheduler) run(ctx context.Context, t *Target) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			if s.OnPanic != nil {
				s.OnPanic(t, p)
			}
			r = Result{Err: fmt.Errorf("prober panicked: %v", p), Start: time.Now()}
		}
	}()
	return t.Run(ctx)
}
