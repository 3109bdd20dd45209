package gtm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/biter777/countries"
	"github.com/gtm-project/gtm/internal/geotest"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/file"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/plugin/whoami"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

// packWriter packs every reply into a reused buffer, as a server must, so
// that the comparison includes the cost of the message each plugin builds.
type packWriter struct {
	test.ResponseWriter
	buf []byte
}

func (w *packWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	w.buf = b[:cap(b)]
	return err
}

func (w *packWriter) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40212}
}

const benchZone = `$ORIGIN example.org.
@	300 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 1800 1209600 60
	300 IN NS ns1.example.org.
www	30 IN A 192.0.2.1
www	30 IN A 192.0.2.2
www	30 IN A 192.0.2.3
`

func benchHandler(b *testing.B, h plugin.Handler, qname string, qtype uint16) {
	b.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.SetEdns0(1232, false)
	w := &packWriter{buf: make([]byte, 0, 1232)}
	ctx := context.Background()
	if _, err := h.ServeDNS(ctx, w, m); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(ctx, w, m)
	}
}

// BenchmarkServeDNS compares gtm with CoreDNS's whoami (the cheapest answer
// CoreDNS gives) and file (a static zone with the same three addresses).
func BenchmarkServeDNS(b *testing.B) {
	zone, err := file.Parse(strings.NewReader(benchZone), "example.org.", "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	f := file.File{Next: test.ErrorHandler(), Zones: file.Zones{Z: map[string]*file.Zone{"example.org.": zone}, Names: []string{"example.org."}}}
	g := newGTM(b, `
pool three {
	address 192.0.2.1 192.0.2.2 192.0.2.3
}
pool w {
	address 192.0.2.1 weight 1
	address 192.0.2.2 weight 2
	address 192.0.2.3 weight 3
	method weight
	max-answers 2
}
pool backup {
	address 198.51.100.1
}
instance www {
	primary three
	secondary backup
}
instance weighted {
	primary w
	secondary backup
}`)
	g.rand = policy.DefaultRand // what a server uses, not the seeded test source

	b.Run("whoami", func(b *testing.B) { benchHandler(b, whoami.Whoami{}, "www.example.org.", dns.TypeA) })
	b.Run("file", func(b *testing.B) { benchHandler(b, f, "www.example.org.", dns.TypeA) })
	b.Run("gtm-all", func(b *testing.B) { benchHandler(b, g, "www.example.org.", dns.TypeA) })
	b.Run("gtm-weight", func(b *testing.B) { benchHandler(b, g, "weighted.example.org.", dns.TypeA) })
	b.Run("file-nxdomain", func(b *testing.B) { benchHandler(b, f, "nope.example.org.", dns.TypeA) })
	b.Run("gtm-nxdomain", func(b *testing.B) { benchHandler(b, g, "nope.example.org.", dns.TypeA) })
}

// geoBenchConfig is a geo instance of realistic size: 300 CIDR rules, a rule
// for every country, and continent rules, over a City database.
func geoBenchGTM(b *testing.B) *GTM {
	b.Helper()
	path := filepath.Join(b.TempDir(), "city.mmdb")
	var places []geotest.Place
	places = append(places, geotest.Fixture...)
	for i := range 200 { // more GeoIP networks across 100.64.0.0/10
		places = append(places, geotest.Place{Network: fmt.Sprintf("100.%d.%d.0/24", 64+i/50, i%50*4), Continent: "EU", Country: "DE", Subdivision: "BY"})
	}
	geotest.Write(b, path, "GeoIP2-City", places)
	var sb strings.Builder
	sb.WriteString("geoip " + path + "\n")
	for i := range 8 {
		fmt.Fprintf(&sb, "pool p%d {\n address 192.0.2.%d 192.0.2.%d\n method weight\n}\n", i, 10+i, 100+i)
	}
	sb.WriteString("instance www {\n")
	for i := range 300 {
		fmt.Fprintf(&sb, " rule cidr 10.%d.%d.0/24 {\n  primary p%d\n  secondary p%d\n }\n", i/200, i%200, i%8, (i+1)%8)
	}
	for i, c := range countries.All() {
		if a := c.Alpha2(); len(a) == 2 && countries.ByName(a).Alpha2() == a {
			fmt.Fprintf(&sb, " rule country %s {\n  primary p%d\n }\n", a, i%8)
		}
	}
	sb.WriteString(" rule subdivision DE-BY {\n  primary p1\n }\n rule continent EU AS {\n  primary p2\n }\n rule default {\n  primary p0\n }\n}\n")
	g := newGTM(b, sb.String())
	if err := g.loadGeo(); err != nil {
		b.Fatal(err)
	}
	g.rand = policy.DefaultRand
	return g
}

// BenchmarkSelection is the selection path alone: client → rule (CIDR trie,
// GeoIP, maps) → active collection → method. It must not allocate.
func BenchmarkSelection(b *testing.B) {
	g := geoBenchGTM(b)
	in := g.snap.Load().instance("www.example.org.")
	for _, tc := range []struct{ name, addr string }{
		{"cidr", "10.1.77.9"},
		{"subdivision", "100.65.4.1"},
		{"country", "2.126.3.4"},
		{"default", "203.0.113.9"},
	} {
		c := clientAddr{addr: netip.MustParseAddr(tc.addr), fromECS: true}
		b.Run(tc.name, func(b *testing.B) {
			var buf [16]*policy.Addr
			g.decide(in, c) // warm the GeoIP record cache
			b.ReportAllocs()
			for b.Loop() {
				r, _ := g.decide(in, c)
				r.active.Pick(buf[:0], g.rand)
			}
		})
	}
}

// BenchmarkServeDNSGeo is a whole query with ECS against the large geo
// instance, beside the same query for a default-only name.
func BenchmarkServeDNSGeo(b *testing.B) {
	g := geoBenchGTM(b)
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("2.126.3.0").To4()})
	w := &packWriter{buf: make([]byte, 0, 1232)}
	ctx := context.Background()
	g.ServeDNS(ctx, w, m)
	b.ReportAllocs()
	for b.Loop() {
		g.ServeDNS(ctx, w, m)
	}
}
