package engine

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/corefile"
	"github.com/miekg/dns"
)

// The engine's own tests drive it the way the CoreDNS glue does (Start,
// Answer, Stop), from Corefile text read by package corefile.

// block wraps text in a gtm block for example.org with a name server, last
// so that the body's line numbers stay as written.
func block(body string) string {
	if !strings.Contains(body, "\nns ") {
		body += "\nns ns1.example.org 192.0.2.53"
	}
	return "gtm example.org {\n" + body + "\n}"
}

func parseConfig(t testing.TB, body string) *config.Config {
	t.Helper()
	cfg, _, err := corefile.Parse(caddy.NewTestController("dns", block(body)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newEngine is an engine for body in example.org with a seeded random source.
func newEngine(t testing.TB, body string) *Engine {
	t.Helper()
	e := New(parseConfig(t, body))
	e.Rand = rand.New(rand.NewPCG(7, 7))
	return e
}

// started is newEngine, started, and stopped when the test ends.
func started(t *testing.T, body string) *Engine {
	t.Helper()
	e := Start(newEngine(t, body))
	t.Cleanup(e.Stop)
	return e
}

func query(t testing.TB, e *Engine, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r := new(dns.Msg)
	r.SetQuestion(name, qtype)
	m, out := e.Answer(Query{Req: r, Name: name, Type: qtype, Zone: "example.org.",
		Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
	if out != Reply {
		t.Fatalf("%s %s: the engine passed the query on", name, dns.TypeToString[qtype])
	}
	return m
}

func values(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch x := rr.(type) {
		case *dns.A:
			out = append(out, x.A.String())
		case *dns.AAAA:
			out = append(out, x.AAAA.String())
		case *dns.CNAME:
			out = append(out, x.Target)
		}
	}
	return out
}

func listenTCP(t *testing.T, addr string) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadPort is a loopback port nothing listens on.
func deadPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// failoverBody is a primary whose probes fail (nothing listens on deadPort)
// and a healthy secondary, probed every 100ms.
func failoverBody(deadPort, livePort int, extra string) string {
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
