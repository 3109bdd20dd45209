package engine

import (
	"math/rand/v2"
	"net"
	"testing"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// The engine's own tests drive it the way the CoreDNS glue does (Start,
// Answer, Stop), from Corefile text read by package corefile.

func parseConfig(t testing.TB, body string) *config.Config {
	t.Helper()
	cfg, _, err := corefile.Parse(caddy.NewTestController("dns", testkit.Block(body)))
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
