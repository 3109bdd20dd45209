package test

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// counter is a TCP service that counts the connections it accepts.
type counter struct {
	ln       net.Listener
	accepted atomic.Int64
}

func countAccepts(t *testing.T, addr string) *counter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.accepted.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

// freePort is a port that was free a moment ago, for a second block on the
// same zone (CoreDNS refuses two blocks for one zone on port 0).
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func (c *counter) port() int { return c.ln.Addr().(*net.TCPAddr).Port }

// Item 13: server blocks that use the same target with the same probe
// (plain DNS and a second port for the same zone, and another zone whose
// pool has the same address) probe it once between them.
func TestOneProbePerTargetAcrossBlocks(t *testing.T) {
	c := countAccepts(t, "127.0.0.51:0")
	block := func(zone, pool string) string {
		return fmt.Sprintf(`%s {
	bind 127.0.0.1
	gtm {
		ns ns1.example.com
		monitor check {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
		}
		pool %s {
			monitor check
			address 127.0.0.51
		}
		instance www {
			primary %s
		}
	}
}
`, zone, c.port(), pool, pool)
	}
	s := start(t, block("example.org:0", "a")+block(fmt.Sprintf("example.org:%d", freePort(t)), "a")+block("example.net:0", "other"))
	s.waitFor(t, "www.example.org.", []string{"127.0.0.51"}, 3*time.Second)
	time.Sleep(200 * time.Millisecond) // past the staggered first probes
	from := c.accepted.Load()
	time.Sleep(time.Second)
	n := c.accepted.Load() - from
	// One check at 100ms makes about 10 connections a second; three
	// blocks probing on their own would make about 30.
	if n < 5 || n > 15 {
		t.Fatalf("%d probes of one target in 1s by three blocks at interval 100ms: want about 10", n)
	}
}

// Item 12: a reload that changes only interval, rise and fall keeps the
// verdict of the dead primary: not one answer gives it out again.
func TestReloadIntervalKeepsVerdict(t *testing.T) {
	backup := listen(t, "127.0.0.53:0")
	dead, err := net.Listen("tcp", "127.0.0.52:0")
	if err != nil {
		t.Fatal(err)
	}
	port := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	cf := func(interval string, rise int) string {
		return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.com
		monitor primary-check {
			protocol tcp
			port %d
			interval %s
			timeout 80ms
			rise %d
			fall 1
		}
		monitor backup-check {
			protocol tcp
			port %d
			interval %s
			timeout 80ms
		}
		pool site-a {
			monitor primary-check
			address 127.0.0.52
		}
		pool site-b {
			monitor backup-check
			address 127.0.0.53
		}
		instance www {
			ttl 30
			primary site-a
			secondary site-b
		}
	}
}`, port, interval, rise, backup.port(), interval)
	}
	s := start(t, cf("100ms", 2))
	s.waitFor(t, "www.example.org.", []string{"127.0.0.53"}, 3*time.Second)
	s.reload(t, cf("5s", 3))
	for i := range 30 {
		m := s.ask(t, "udp", "www.example.org.", dns.TypeA)
		if got := testkit.Values(m); !slices.Equal(got, []string{"127.0.0.53"}) {
			t.Fatalf("query %d after the reload answers %v: the dead primary came back", i, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Item 9: a reload that fails after gtm started (a new server block whose
// port is taken) leaves nothing of the new configuration running.
func TestFailedReloadLeavesNothing(t *testing.T) {
	e := listen(t, "127.0.0.31:0")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := start(t, monitored("100ms", e.port()))
	waitProbes(t, "check", "a", 2)
	time.Sleep(200 * time.Millisecond)
	ignore := goleak.IgnoreCurrent()
	running := len(gtmLoops())

	// The new configuration changes the monitors (so gtm starts new probes)
	// and adds a block on the taken port.
	next := monitored("150ms", e.port()) + fmt.Sprintf(`
example.net:%d {
	bind 127.0.0.1
	gtm {
		ns ns1.example.com
		monitor other {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
		}
		pool b {
			monitor other
			address 127.0.0.55
		}
		instance www {
			primary b
		}
	}
}`, taken.Addr().(*net.TCPAddr).Port, e.port())
	mu.Lock()
	inst, err := s.inst.Restart(input(next))
	mu.Unlock()
	if err == nil {
		s.inst = inst
		t.Fatal("the reload onto a taken port succeeded")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Logf("reload failed with: %v", err)
	}
	failedProbes := probes(t, "other", "b") + failures(t, "other", "b")
	time.Sleep(300 * time.Millisecond) // several probe rounds of a leaked prober
	if n := probes(t, "other", "b") + failures(t, "other", "b"); n != failedProbes {
		t.Errorf("the failed configuration's monitor went on probing: %v probes, then %v", failedProbes, n)
	}
	if ok, now := settlesAt(running); !ok {
		t.Fatalf("after the failed reload %d gtm goroutines run, before it %d:\n%s", len(now), running, strings.Join(now, "\n\n"))
	}
	// Probe workers and the TCP probes' poller come and go with the probes
	// in flight; everything else must be what ran before the reload.
	if err := goleak.Find(ignore,
		goleak.IgnoreAnyFunction("github.com/gtm-project/gtm/health.(*Scheduler).worker"),
		goleak.IgnoreAnyFunction("github.com/gtm-project/gtm/health.(*poller).run"),
		// The answer workers live as long as the process (worker.go).
		goleak.IgnoreAnyFunction("github.com/gtm-project/gtm.answerWorker")); err != nil {
		t.Fatalf("goroutines left by the failed reload: %v", err)
	}
	// The old configuration still answers, and still probes.
	s.waitFor(t, "www.example.org.", []string{"127.0.0.31"}, 3*time.Second)
	waitProbes(t, "check", "a", probes(t, "check", "a")+2)
}
