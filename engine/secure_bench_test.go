package engine

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// doQuery asks name A with DO, as a validating resolver does.
func doQuery(e *Engine, name string) *dns.Msg {
	r := new(dns.Msg)
	r.SetQuestion(name, dns.TypeA)
	r.SetEdns0(1232, true)
	m, _ := e.Answer(Query{Req: r, Name: name, Type: dns.TypeA, Zone: "example.org.",
		Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
	return m
}

// BenchmarkScaleDNSSEC signs 100,000 instances (one CSK, ECDSA P-256):
// every instance answered once with DO fills the signature cache, whose
// live heap it reports; then one address's verdict flips per iteration
// (the pool and its instance compiled again, as BenchmarkScaleHealthChange
// does, and the new set signed ahead, as the compile loop does) and the
// instance is asked again: the percentiles are of the compile with its
// signing, sets-signed the signatures made per change (the changed
// instance's new set, nothing else), signed-on-query those its first
// query made (none: the compile signed it).
func BenchmarkScaleDNSSEC(b *testing.B) {
	const n = 100_000
	dir := b.TempDir()
	key, _ := testkit.WriteKey(b, dir, "example.org.", dns.ECDSAP256SHA256, 257)
	cfg := parseConfig(b, testkit.ScaleBody(n)+"dnssec {\n key file "+key+"\n}\n")
	g := New(cfg)
	if err := g.LoadKeys(); err != nil {
		b.Fatal(err)
	}
	view := health.Static{}
	g.snap.Store(compile(cfg, view, nil, true))
	before, objs := testkit.Heap()
	start := time.Now()
	for i := range n {
		doQuery(g, fmt.Sprintf("i%d.example.org.", i))
	}
	fill := time.Since(start)
	after, objs2 := testkit.Heap()
	s := g.Signer()
	cached := s.Len()
	signed := s.Signed()
	var lat []time.Duration
	var onQuery uint64
	i := 0
	for b.Loop() {
		j := (i * 7919) % n
		p := fmt.Sprintf("p%d", j)
		k := health.Key{Pool: p, Address: testkit.ScaleAddr(2 * j)}
		if view[k] == health.Unhealthy {
			view[k] = health.Healthy
		} else {
			view[k] = health.Unhealthy
		}
		t0 := time.Now()
		next, changed := g.snap.Load().update(view, map[string]bool{p: true}, true)
		g.snap.Store(next)
		g.presign(changed) // as the compile loop does
		lat = append(lat, time.Since(t0))
		before := s.Signed()
		doQuery(g, fmt.Sprintf("i%d.example.org.", j))
		onQuery += s.Signed() - before
		i++
	}
	// Reported after the loop: b.Loop's first call resets the metrics.
	b.ReportMetric(after-before, "cache-heap-MB")
	b.ReportMetric(objs2-objs, "cache-objects")
	b.ReportMetric(float64(cached), "sets-cached")
	b.ReportMetric(fill.Seconds(), "fill-s")
	b.ReportMetric(float64(s.Signed()-signed)/float64(i), "sets-signed/change")
	b.ReportMetric(float64(onQuery)/float64(i), "signed-on-query/change")
	reportPercentiles(b, lat)
}

// BenchmarkDNSSECAnswer is the query path for one instance of three
// addresses: without DO, with DO (the set's signature from the cache),
// and a name that does not exist with DO (its NSEC signed per query).
func BenchmarkDNSSECAnswer(b *testing.B) {
	e, _ := signedEngine(b, "")
	for _, tc := range []struct {
		name, qname string
		do          bool
	}{
		{"plain", "www.example.org.", false},
		{"do", "www.example.org.", true},
		{"nxdomain-do", "nope.example.org.", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := new(dns.Msg)
			r.SetQuestion(tc.qname, dns.TypeA)
			r.SetEdns0(1232, tc.do)
			q := Query{Req: r, Name: tc.qname, Type: dns.TypeA, Zone: "example.org.",
				Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
			e.Answer(q)
			b.ReportAllocs()
			for b.Loop() {
				e.Answer(q)
			}
		})
	}
}
