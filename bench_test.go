package gtm

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

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
	g.Engine().Rand = policy.DefaultRand // what a server uses, not the seeded test source

	b.Run("whoami", func(b *testing.B) { benchHandler(b, whoami.Whoami{}, "www.example.org.", dns.TypeA) })
	b.Run("file", func(b *testing.B) { benchHandler(b, f, "www.example.org.", dns.TypeA) })
	b.Run("gtm-all", func(b *testing.B) { benchHandler(b, g, "www.example.org.", dns.TypeA) })
	b.Run("gtm-weight", func(b *testing.B) { benchHandler(b, g, "weighted.example.org.", dns.TypeA) })
	b.Run("file-nxdomain", func(b *testing.B) { benchHandler(b, f, "nope.example.org.", dns.TypeA) })
	b.Run("gtm-nxdomain", func(b *testing.B) { benchHandler(b, g, "nope.example.org.", dns.TypeA) })
}

// geoBenchGTM is a handler for geotest.LargeGeo's instance.
func geoBenchGTM(b *testing.B) *GTM {
	b.Helper()
	g := newGTM(b, geotest.LargeGeo(b))
	if err := g.Engine().LoadGeo(); err != nil {
		b.Fatal(err)
	}
	g.Engine().Rand = policy.DefaultRand
	return g
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

// BenchmarkServeDNSNearest is BenchmarkServeDNSGeo's whole query for a
// nearest instance of ten sites (pools of 3 addresses, method weight,
// max-answers 2, as the perf harness's case h), ECS from Tokyo.
func BenchmarkServeDNSNearest(b *testing.B) {
	path := filepath.Join(b.TempDir(), "cities.mmdb")
	geotest.Write(b, path, "GeoIP2-City", geotest.Cities)
	var sb strings.Builder
	sb.WriteString("geoip " + path + "\n")
	var names []string
	for i, at := range [][2]float64{{50.11, 8.68}, {39.04, -77.49}, {1.35, 103.82}, {-23.55, -46.63}, {35.68, 139.65},
		{-33.87, 151.21}, {51.51, -0.13}, {37.77, -122.42}, {19.08, 72.88}, {-26.20, 28.05}} {
		fmt.Fprintf(&sb, "pool s%d {\n method weight\n max-answers 2\n location %v %v\n address 192.0.2.%d weight 1\n address 192.0.2.%d weight 2\n address 192.0.2.%d weight 3\n}\n",
			i, at[0], at[1], 10*(i+1), 10*(i+1)+1, 10*(i+1)+2)
		names = append(names, fmt.Sprintf("s%d", i))
	}
	fmt.Fprintf(&sb, "instance www {\n policy nearest\n primary %s\n}\n", strings.Join(names, " "))
	g := newGTM(b, sb.String())
	if err := g.Engine().LoadGeo(); err != nil {
		b.Fatal(err)
	}
	g.Engine().Rand = policy.DefaultRand
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("5.2.3.0").To4()})
	w := &packWriter{buf: make([]byte, 0, 1232)}
	ctx := context.Background()
	g.ServeDNS(ctx, w, m)
	b.ReportAllocs()
	for b.Loop() {
		g.ServeDNS(ctx, w, m)
	}
}
