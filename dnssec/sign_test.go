package dnssec

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func testZone(t *testing.T, slots int) *Zone {
	t.Helper()
	base, _ := testkit.WriteKey(t, t.TempDir(), "example.org.", dns.ED25519, 257)
	cfg := &config.Config{Zones: []string{"example.org."}, DNSSEC: &config.DNSSEC{Keys: []config.Key{{Path: base}}}}
	s, err := Load(cfg, 60)
	if err != nil {
		t.Fatal(err)
	}
	s.cache = newCache(slots)
	return s.Zone("example.org.")
}

func ns(names ...string) []dns.RR {
	var out []dns.RR
	for _, n := range names {
		out = append(out, &dns.NS{Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 60}, Ns: n})
	}
	return out
}

func a(ttl uint32, ips ...string) []dns.RR {
	var out []dns.RR
	for _, ip := range ips {
		out = append(out, &dns.A{Hdr: dns.RR_Header{Name: "www.example.org.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)})
	}
	return out
}

// One set in any order, and at any TTL it is answered with, is signed
// once; another content is another set.
func TestCacheByContent(t *testing.T) {
	z := testZone(t, DefaultCacheSlots)
	for _, set := range [][]dns.RR{
		ns("ns1.example.org.", "ns2.example.org."), ns("ns2.example.org.", "ns1.example.org."),
		a(60, "192.0.2.1", "192.0.2.2", "192.0.2.3"), a(60, "192.0.2.3", "192.0.2.1", "192.0.2.2"), a(5, "192.0.2.2", "192.0.2.3", "192.0.2.1"),
	} {
		if sigs := z.Sigs(set, 60, false); len(sigs) != 1 {
			t.Fatalf("%d signatures", len(sigs))
		}
	}
	if n := z.s.Signed(); n != 2 {
		t.Errorf("signed %d sets, want 2 (one NS set, one A set)", n)
	}
	z.Sigs(a(60, "192.0.2.1", "192.0.2.2"), 60, false)
	z.Sigs(a(60, "192.0.2.1", "192.0.2.2", "192.0.2.3"), 30, false) // another original TTL
	z.Sigs(ns("ns1.example.org."), 60, true)                        // signed by the KSKs
	if n := z.s.Signed(); n != 5 {
		t.Errorf("signed %d sets, want 5", n)
	}
	// Ed25519 is deterministic: the same set in the same hour, signed on
	// another node (another cache), gives the same signature.
	other := &Zone{Name: z.Name, ksks: z.ksks, zsks: z.zsks, s: &Signer{Now: z.s.Now, cache: newCache(8)}}
	if x, y := z.Sigs(a(60, "192.0.2.1"), 60, false), other.Sigs(a(60, "192.0.2.1"), 60, false); x[0].Signature != y[0].Signature {
		t.Error("two nodes signed one set differently within the hour")
	}
}

// The cache never holds more sets than its slots.
func TestCacheBounded(t *testing.T) {
	z := testZone(t, 8)
	for i := range 100 {
		z.Sigs(a(60, fmt.Sprintf("192.0.2.%d", i)), 60, false)
	}
	if n := z.s.Len(); n > 8 || n < 4 {
		t.Errorf("%d sets cached in 8 slots", n)
	}
	// The newest is there.
	before := z.s.Signed()
	z.Sigs(a(60, "192.0.2.99"), 60, false)
	if z.s.Signed() != before {
		t.Error("the newest set was not cached")
	}
}

func TestWindow(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 59, 0, 0, time.UTC)
	inc, exp := window(now)
	if time.Unix(int64(inc), 0).UTC() != time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) {
		t.Errorf("inception %v", time.Unix(int64(inc), 0).UTC())
	}
	if time.Duration(exp-inc)*time.Second != Validity {
		t.Errorf("validity %v", time.Duration(exp-inc)*time.Second)
	}
}

func TestNSECBitmapSorted(t *testing.T) {
	n := NSEC("x.example.org.", 60, dns.TypeNXNAME, dns.TypeA, dns.TypeCDS)
	want := []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeCDS, dns.TypeNXNAME}
	if fmt.Sprint(n.TypeBitMap) != fmt.Sprint(want) || n.NextDomain != "\\000.x.example.org." {
		t.Errorf("NSEC %v", n)
	}
	if _, err := dns.PackRR(n, make([]byte, 512), 0, nil, false); err != nil {
		t.Errorf("NSEC does not pack: %v", err)
	}
}

// A denial's SOA is found by value: one signature for every answered TTL
// of one SOA, another for another serial.
func TestCacheSOA(t *testing.T) {
	z := testZone(t, DefaultCacheSlots)
	soa := func(serial, ttl uint32) []dns.RR {
		return []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns: "ns1.example.org.", Mbox: "hostmaster.example.org.", Serial: serial, Minttl: 60}}
	}
	z.Sigs(soa(1, 60), 60, false)
	z.Sigs(soa(1, 5), 60, false)
	if n := z.s.Signed(); n != 1 {
		t.Errorf("signed %d SOA sets, want 1", n)
	}
	z.Sigs(soa(2, 60), 60, false)
	if n := z.s.Signed(); n != 2 {
		t.Errorf("signed %d SOA sets after a new serial, want 2", n)
	}
}
