package test

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func monitored(interval string, port int) string {
	return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		monitor check {
			protocol tcp
			port %d
			interval %s
			timeout 50ms
		}
		monitor web {
			protocol http
			port %d
			interval %s
			timeout 50ms
		}
		pool a {
			monitor check
			address 127.0.0.31 127.0.0.32
			address 127.0.0.33 monitor web
		}
		instance www {
			primary a
		}
	}
}`, port, interval, port, interval)
}

// gtmFrame matches a stack frame in gtm's own code (the plugin or its health
// package), not in this test package.
var gtmFrame = regexp.MustCompile(`(?m)^github\.com/gtm-project/gtm(/health)?\.`)

// gtmLoops returns the stacks of gtm's long-lived goroutines: compile loops,
// schedulers, watchers. Probe workers come and go with the probes in flight
// (and idle out), so they are left out of counts.
func gtmLoops() []string {
	var out []string
	for _, g := range gtmGoroutines() {
		// Probe workers and the TCP probes' poller come and go with the
		// probes in flight.
		if !strings.Contains(g, "health.(*Scheduler).worker") && !strings.Contains(g, "health.(*poller).run") {
			out = append(out, g)
		}
	}
	return out
}

// settlesAt waits until gtm's long-lived goroutines number want again (a
// replaced scheduler takes a moment to wind down), and reports the last
// stacks seen if they do not within two seconds.
func settlesAt(want int) (bool, []string) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		now := gtmLoops()
		if len(now) == want {
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, now
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gtmGoroutines returns the stacks of goroutines running gtm's code.
func gtmGoroutines() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if gtmFrame.MatchString(g) {
			out = append(out, g)
		}
	}
	return out
}

// A reload with changed monitors leaves no prober, compile loop or GeoIP
// watcher of the old configuration running, and stopping the server leaves
// none at all. (CoreDNS's own server goroutines wind down on their own
// schedule and are not gtm's to check.)
func TestReloadLeavesNoProber(t *testing.T) {
	e := listen(t, "127.0.0.31:0")
	s := start(t, monitored("100ms", e.port()))
	waitProbes(t, "check", "a", 2)
	running := len(gtmLoops())
	if running == 0 {
		t.Fatal("no gtm goroutine found while probing: the check below would prove nothing")
	}
	for _, iv := range []string{"150ms", "200ms", "100ms"} {
		s.reload(t, monitored(iv, e.port()))
	}
	waitProbes(t, "check", "a", 2)
	time.Sleep(300 * time.Millisecond) // several probe rounds, so old probers would show
	if ok, now := settlesAt(running); !ok {
		t.Fatalf("after 3 reloads %d gtm goroutines run, before them %d: the old configurations left some behind:\n%s", len(now), running, strings.Join(now, "\n\n"))
	}
	s.inst.Stop()
	s.inst.ShutdownCallbacks()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := gtmGoroutines()
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d gtm goroutines still run after shutdown:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
