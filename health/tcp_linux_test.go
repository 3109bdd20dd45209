//go:build linux

package health

import (
	"context"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
)

// A port whose accept queue is full drops new handshakes: a probe of it
// waits out its timeout, and says so.
func TestTCPTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the accept queue (never accepted).
	var fill []net.Conn
	defer func() {
		for _, c := range fill {
			c.Close()
		}
	}()
	for range 4 {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 100*time.Millisecond)
		if err != nil {
			break
		}
		fill = append(fill, c)
	}
	tg := target(monitor(config.ProtoTCP, port, 200*time.Millisecond), "127.0.0.1")
	start := time.Now()
	r := tg.Run(context.Background())
	if r.OK || r.Err == nil || r.Err.Error() != "timeout after 200ms" {
		t.Fatalf("full accept queue: OK=%v err=%v, want 'timeout after 200ms'", r.OK, r.Err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > time.Second {
		t.Fatalf("probe took %s with a 200ms timeout", d)
	}
}

// Many probes at once, of a port that accepts and of one that refuses, each
// get their own answer (socket numbers are reused as fast as probes end).
func TestTCPConcurrent(t *testing.T) {
	ln, _ := acceptor(t, "127.0.0.1:0")
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	_, refused := splitPort(t, closed.Addr().String())
	closed.Close()
	_, open := splitPort(t, ln.Addr().String())
	up := target(monitor(config.ProtoTCP, open, 2*time.Second), "127.0.0.1")
	down := target(monitor(config.ProtoTCP, refused, 2*time.Second), "127.0.0.1")
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				if i%2 == 0 {
					if r := up.Run(context.Background()); !r.OK {
						errs <- "open port failed: " + r.Err.Error()
						return
					}
				} else if r := down.Run(context.Background()); r.OK || r.Err.Error() != "tcp: connection refused" {
					errs <- "closed port passed or failed wrongly"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A probe whose context is cancelled while it waits returns at once.
func TestTCPCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tg := target(monitor(config.ProtoTCP, 9, time.Second), "127.0.0.1")
	if r := tg.Run(ctx); r.OK || r.Err == nil {
		t.Fatalf("cancelled probe: %+v", r)
	}
}
