//go:build linux

package health

import (
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
// error).
func connectFast(ctx context.Context, ap netip.AddrPort) error {
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
	if err := connectWaiter.wait(ctx, fd); err != nil {
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
}

// waiter is a probe waiting for its socket. seq tells a late event for a
// socket number since closed and reused from one for the socket now.
type waiter struct {
	seq uint32
	ch  chan struct{}
}

var waiters = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

// pollerIdle is how long the poller's goroutine outlives the last waiting
// probe, in milliseconds.
const pollerIdle = 100

// wait blocks until fd is writable (its connect has ended, well or not) or
// ctx is done.
func (p *poller) wait(ctx context.Context, fd int) error {
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
	w.seq = p.seq
	p.waiting[int32(fd)] = w
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
	for {
		n, err := syscall.EpollWait(p.epfd, events, pollerIdle)
		p.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if w := p.waiting[ev.Fd]; w != nil && w.seq == uint32(ev.Pad) {
				select {
				case w.ch <- struct{}{}:
				default:
				}
			}
		}
		if n <= 0 && len(p.waiting) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if err != nil && err != syscall.EINTR {
			// Cannot happen with a valid epoll descriptor; the probes
			// waiting still end at their deadline.
			time.Sleep(10 * time.Millisecond)
		}
	}
}

const haveFastConnect = true
