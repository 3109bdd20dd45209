// Package testkit holds what the tests of several packages (the root
// plugin, engine, corefile, config and the integration tests) need alike:
// gtm blocks, loopback listeners and ports, waiting for a condition, the
// values of an answer, and the 100,000-instance shape of the scale
// benchmarks.
package testkit

import (
	"fmt"
	"net"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Block wraps pool and instance text in a gtm block for the zone
// example.org, with a name server (last, so that the body's line numbers
// stay as written) unless the body has its own.
func Block(body string) string {
	if !strings.Contains(body, "\nns ") {
		body += "\nns ns1.example.org 192.0.2.53"
	}
	return "gtm example.org {\n" + body + "\n}"
}

// FailoverBody is a primary whose probes fail (nothing listens on
// deadPort) and a healthy secondary, probed every 100ms, with manual
// failback.
func FailoverBody(deadPort, livePort int, extra string) string {
	return fmt.Sprintf(`
monitor dead {
	protocol tcp
	port %d
	interval 100ms
	timeout 80ms
	fall 1
	rise 1
}
monitor live {
	protocol tcp
	port %d
	interval 100ms
	timeout 80ms
}
pool a {
	monitor dead
	address 127.0.0.1
}
pool b {
	monitor live
	address 127.0.0.2
}
instance www {
	ttl 60
	primary a
	secondary b
	failback manual
}
%s`, deadPort, livePort, extra)
}

// ListenTCP listens on addr (a loopback address, port 0 for any) until the
// test ends, and returns the listener and its port.
func ListenTCP(t testing.TB, addr string) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// DeadPort is a loopback port nothing listens on.
func DeadPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// Eventually waits up to within for cond, checking every 10ms, and fails
// the test with what if it does not come.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Values lists the addresses and targets of an answer, sorted (the order
// of an answer is the method's to choose); any other record as its text.
func Values(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch x := rr.(type) {
		case *dns.A:
			out = append(out, x.A.String())
		case *dns.AAAA:
			out = append(out, x.AAAA.String())
		case *dns.CNAME:
			out = append(out, x.Target)
		default:
			out = append(out, rr.String())
		}
	}
	sort.Strings(out)
	return out
}

// ScaleBody is n instances, each with its own pool of two addresses, half
// of the pools probed: the shape issue 9's numbers are measured on.
func ScaleBody(n int) string {
	var b strings.Builder
	b.WriteString("monitor m {\n protocol tcp\n port 9\n interval 1h\n timeout 1s\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "pool p%d {\n", i)
		if i%2 == 0 {
			b.WriteString(" monitor m\n")
		}
		fmt.Fprintf(&b, " address %s %s\n}\ninstance i%d {\n primary p%d\n}\n", ScaleAddr(2*i), ScaleAddr(2*i+1), i, i)
	}
	return b.String()
}

// ScaleAddr is the nth loopback address from 127.1.0.0: probes of them
// are refused at once by this machine, and go nowhere else.
func ScaleAddr(n int) string { return fmt.Sprintf("127.%d.%d.%d", 1+n>>16, n>>8&255, n&255) }

// Heap is the live heap after a collection, in MB and in objects: the
// collector's marking work grows with the objects as much as the bytes.
func Heap() (mb, objects float64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20), float64(m.HeapObjects)
}

// HeapMB is Heap's MB alone.
func HeapMB() float64 {
	mb, _ := Heap()
	return mb
}
