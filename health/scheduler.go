package health

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// DefaultMaxConcurrent bounds how many probes run at once, so that 10,000
// targets never open 10,000 sockets in the same instant.
const DefaultMaxConcurrent = 256

// FirstRunSpread is the longest random delay before a target's first probe:
// enough to stagger thousands of targets, short enough that a node is ready
// soon after start.
const FirstRunSpread = time.Second

// Scheduler runs each target's probe on its monitor's interval: a jittered
// first run, then every interval after the previous probe started, never two
// probes of one target at once, at most MaxConcurrent probes in all.
type Scheduler struct {
	MaxConcurrent int
	// OnResult receives every result, from probe goroutines. It must be
	// safe for concurrent use.
	OnResult func(*Target, Result)
	// OnPanic is told of a prober that panicked (the probe counts as failed).
	OnPanic func(*Target, any)

	workers int
	mu      sync.Mutex
	queue   due
	wake    chan struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped bool

	firstMu   sync.Mutex
	pending   int
	firstDone chan struct{}
}

type entry struct {
	t     *Target
	next  time.Time
	first bool
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
		s.MaxConcurrent = DefaultMaxConcurrent
	}
	// No more workers than targets: three addresses need no 256 goroutines.
	s.workers = max(1, min(s.MaxConcurrent, len(targets)))
	s.wake = make(chan struct{}, 1)
	s.firstDone = make(chan struct{})
	s.pending = len(targets)
	if s.pending == 0 {
		close(s.firstDone)
	}
	now := time.Now()
	for _, t := range targets {
		spread := min(FirstRunSpread, t.Monitor.Interval)
		s.queue = append(s.queue, &entry{t: t, next: now.Add(rand.N(spread)), first: true})
	}
	heap.Init(&s.queue)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.loop(ctx)
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
	// A fixed set of workers, each probing one target at a time: bounded
	// concurrency, and no new goroutine (whose stack a dial would grow) for
	// every probe.
	work := make(chan *entry)
	defer close(work)
	for range s.workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for e := range work {
				s.probe(ctx, e)
			}
		}()
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var wait time.Duration = time.Hour
		var e *entry
		if len(s.queue) > 0 {
			if d := time.Until(s.queue[0].next); d <= 0 {
				e = heap.Pop(&s.queue).(*entry)
			} else {
				wait = d
			}
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
			continue
		}
		select {
		case work <- e:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Scheduler) probe(ctx context.Context, e *entry) {
	started := time.Now()
	r := s.run(ctx, e.t)
	if ctx.Err() != nil {
		return // stopping: a cancelled probe says nothing of the target
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
	heap.Push(&s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
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
