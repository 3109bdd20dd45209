package engine

import (
	"net"
	"testing"

	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

// BenchmarkAnswerPlain is Answer alone for the plain case: an instance of
// one pool of three addresses, method all, an A query without EDNS. It is
// the path every other feature must leave as fast as it was.
func BenchmarkAnswerPlain(b *testing.B) {
	e := newEngine(b, "pool three {\n address 192.0.2.1 192.0.2.2 192.0.2.3\n}\ninstance www {\n primary three\n}\n")
	e.Rand = policy.DefaultRand
	r := new(dns.Msg)
	r.SetQuestion("www.example.org.", dns.TypeA)
	q := Query{Req: r, Name: "www.example.org.", Type: dns.TypeA, Zone: "example.org.",
		Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	b.ReportAllocs()
	for b.Loop() {
		e.Answer(q)
	}
}
