//go:build linux

package health

import (
	"container/heap"
	"context"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// connectFast connects to ap with a non-blocking socket of its own and
// closes it with a reset, waiting for the handshake through one epoll
// instance shared by every probe. A probe costs a socket, a connect, an
// epoll registration and a close: none of net.Dialer's poller descriptor,
// deadline timers, resolver or address-family racing, which at 10,000 probes
// a second cost as much CPU as the kernel's own work. It returns the cause
// of a failure (a syscall.Errno such as ECONNREFUSED, or the context's
// error). deadline, when not zero, bounds the wait as a context deadline
// would (context.DeadlineExceeded), without a timer of its own: the poller
// keeps the deadlines.
func connectFast(ctx context.Context, ap netip.AddrPort, deadline time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if a := ap.Addr(); a.Is4() || a.Is4In6() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.Unmap().As4()}
	} else {
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	// Closed with a reset: no TIME_WAIT left behind by thousands of probes.
	defer syscall.Close(fd)
	syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	switch err := syscall.Connect(fd, sa); err {
	case nil:
		return nil
	case syscall.EINPROGRESS, syscall.EINTR: // the handshake goes on
	default:
		return err
	}
	if err := connectWaiter.wait(ctx, fd, deadline); err != nil {
		return err
	}
	if e, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR); err != nil {
		return os.NewSyscallError("getsockopt", err)
	} else if e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// connectWaiter tells probes when their connect has ended.
var connectWaiter poller

// poller is one epoll instance for connecting sockets and a goroutine that
// waits on it while any probe waits (it exits after pollerIdle with none,
// so an idle process, or a test, keeps no goroutine for it).
type poller struct {
	mu      sync.Mutex
	epfd    int
	err     error
	running bool
	seq     uint32
	waiting map[int32]*waiter // by socket
	due     deadlines         // of the waiters with one, soonest first
}

// deadline is a waiter's, by socket and sequence (a waiter that has gone
// leaves its deadline behind, dropped when it falls due).
type deadline struct {
	at  time.Time
	fd  int32
	seq uint32
}

type deadlines []deadline

func (d deadlines) Len() int           { return len(d) }
func (d deadlines) Less(i, j int) bool { return d[i].at.Before(d[j].at) }
func (d deadlines) Swap(i, j int)      { d[i], d[j] = d[j], d[i] }
func (d *deadlines) Push(x any)        { *d = append(*d, x.(deadline)) }
func (d *deadlines) Pop() any {
	old := *d
	x := old[len(old)-1]
	*d = old[:len(old)-1]
	return x
}

// waiter is a probe waiting for its socket. seq tells a late event for a
// socket number since closed and reused from one for the socket now.
type waiter struct {
	seq     uint32
	expired bool // its deadline passed (under the poller's lock)
	ch      chan struct{}
}

var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// pollerIdle is how long the poller's goroutine outlives the last waiting
// probe.
const pollerIdle = 100 * time.Millisecond

// wait blocks until fd is writable (its connect has ended, well or not) or
// ctx is done or the deadline (if not zero) passes.
func (p *poller) wait(ctx context.Context, fd int, at time.Time) error {
	p.mu.Lock()
	if p.waiting == nil {
		p.waiting = map[int32]*waiter{}
		p.epfd, p.err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if p.err != nil {
			p.err = os.NewSyscallError("epoll_create1", p.err)
		}
	}
	if p.err != nil {
		p.mu.Unlock()
		return p.err
	}
	w := waiters.Get().(*waiter)
	p.seq++
	w.seq, w.expired = p.seq, false
	p.waiting[int32(fd)] = w
	if !at.IsZero() {
		heap.Push(&p.due, deadline{at: at, fd: int32(fd), seq: w.seq})
	}
	if !p.running {
		p.running = true
		go p.run()
	}
	epfd := p.epfd
	p.mu.Unlock()

	ev := syscall.EpollEvent{Events: syscall.EPOLLOUT | syscall.EPOLLONESHOT, Fd: int32(fd), Pad: int32(w.seq)}
	err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	if err != nil {
		err = os.NewSyscallError("epoll_ctl", err)
	} else {
		select {
		case <-w.ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	p.mu.Lock()
	if p.waiting[int32(fd)] == w {
		delete(p.waiting, int32(fd))
	}
	if w.expired && err == nil {
		err = context.DeadlineExceeded
	}
	p.mu.Unlock()
	// The poller signals under p.mu only: once w is out of the map, nothing
	// more arrives, and a signal that raced with ctx is drained here.
	select {
	case <-w.ch:
	default:
	}
	waiters.Put(w)
	// The caller closes fd, which takes it out of the epoll set.
	return err
}

func (p *poller) run() {
	events := make([]syscall.EpollEvent, 128)
	var idle time.Time // since when nothing waits
	for {
		// It sleeps no more than deadlineSlack, so that a deadline, even
		// one that arrived while it slept, is noticed no later than that.
		sleep := deadlineSlack
		p.mu.Lock()
		if len(p.due) > 0 {
			sleep = min(sleep, time.Until(p.due[0].at))
		}
		p.mu.Unlock()
		// Never block in epoll_wait: a goroutine blocked in a system call
		// keeps its P until sysmon takes it back (up to 10 ms), and with
		// GOMAXPROCS=1 that stalls every query the server is answering.
		// Poll without waiting, and sleep in the Go scheduler instead.
		n, err := syscall.EpollWait(p.epfd, events, 0)
		if n == 0 && err == nil {
			time.Sleep(min(max(sleep, 0), pollEvery))
			n, err = syscall.EpollWait(p.epfd, events, 0)
		}
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if w := p.waiting[ev.Fd]; w != nil && w.seq == uint32(ev.Pad) {
				signal(w)
			}
		}
		now := time.Now()
		for len(p.due) > 0 && !p.due[0].at.After(now) {
			d := heap.Pop(&p.due).(deadline)
			if w := p.waiting[d.fd]; w != nil && w.seq == d.seq {
				w.expired = true
				signal(w)
			}
		}
		switch {
		case len(p.waiting) > 0:
			idle = time.Time{}
		case idle.IsZero():
			idle = now
		case now.Sub(idle) >= pollerIdle:
			p.due = p.due[:0] // deadlines of waiters gone
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if err != nil && err != syscall.EINTR {
			// Cannot happen with a valid epoll descriptor; the probes
			// waiting still end at their deadline.
			time.Sleep(deadlineSlack)
		}
	}
}

// deadlineSlack bounds how late the poller notices a deadline.
const deadlineSlack = 10 * time.Millisecond

// pollEvery is how often the poller looks for finished connects while any
// wait: the resolution of a TCP probe's round trip, and about 1,000 wake-ups
// a second while probes are in flight.
const pollEvery = time.Millisecond

func signal(w *waiter) {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

const haveFastConnect = true
