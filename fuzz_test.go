package gtm

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// FuzzParse feeds arbitrary Corefile text to the parser: it must return a
// config or an error, never panic, and what it accepts must compile and
// answer.
func FuzzParse(f *testing.F) {
	f.Add(testkit.Block(twoSites))
	f.Add(testkit.Block(poolA + "\ninstance www {\n primary a\n}"))
	f.Add(testkit.Block("pool a {\n address 192.0.2.1 weight 5 mode down\n method weight\n max-answers 2\n min-available 50%\n}\ninstance @ {\n rule default {\n  primary a {\n   pool a weight 3\n  }\n }\n all-down fallback 192.0.2.9\n}"))
	f.Add("gtm example.org {\n pool a {\n address\n}")
	f.Fuzz(func(t *testing.T, input string) {
		cfg, _, err := corefile.Parse(caddy.NewTestController("dns", input))
		if err != nil {
			return
		}
		g := New(cfg)
		for _, in := range cfg.Instances {
			query(t, g, in.Name, dns.TypeA, true)
		}
	})
}

// fuzzGTM is a handler with every kind of rule and every answer path: CIDR
// and GeoIP rules (so ECS decides), a CNAME pool, an apex instance, explain
// open to everyone, an all-down fallback.
func fuzzGTM(f *testing.F) *GTM {
	path := filepath.Join(f.TempDir(), "geo.mmdb")
	geotest.Write(f, path, "GeoIP2-City", geotest.Fixture)
	g := newGTM(f, "geoip "+path+"\nexplain 0.0.0.0/0 ::/0\n"+geotest.Pools+geotest.Instance+`
pool v6 {
	address 2001:db8::1 2001:db8::2
}
pool names {
	address a.example.net. b.example.net.
}
instance v6.deep.sub {
	primary v6
}
instance alias {
	primary names
}
instance @ {
	primary world
	secondary europe
	all-down fallback 192.0.2.99
}`)
	if err := g.Engine().LoadGeo(); err != nil {
		f.Fatal(err)
	}
	return g
}

// fuzzSeeds are real queries: each type at each kind of name, with and
// without EDNS, with ECS of both families and odd shapes.
func fuzzSeeds() [][]byte {
	var out [][]byte
	names := []string{"www.example.org.", "example.org.", "sub.example.org.", "v6.deep.sub.example.org.", "alias.example.org.",
		"_explain.www.example.org.", "nx.example.org.", "other.net.", "WwW.ExAmPlE.OrG."}
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeANY, dns.TypeTXT, dns.TypeSOA, dns.TypeNS, dns.TypeMX, dns.TypeAXFR}
	ecs := []*dns.EDNS0_SUBNET{
		nil,
		{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("81.2.69.0").To4()},
		{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 48, Address: net.ParseIP("2001:db8:1::")},
		{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 0, Address: net.IPv4zero.To4()},
		{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 128, SourceScope: 3, Address: net.ParseIP("::ffff:10.1.2.3")},
	}
	for i, name := range names {
		for j, qt := range types {
			m := new(dns.Msg)
			m.SetQuestion(name, qt)
			if e := ecs[(i+j)%len(ecs)]; e != nil || (i+j)%2 == 0 {
				m.SetEdns0(1232, (i+j)%3 == 0)
				if e != nil {
					opt := m.IsEdns0()
					opt.Option = append(opt.Option, e, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
				}
			}
			if b, err := m.Pack(); err == nil {
				out = append(out, b)
			}
		}
	}
	return out
}

// FuzzServeDNS feeds arbitrary packets, as CoreDNS would hand them over once
// they parse, to the handler over UDP and TCP: it must never panic, and
// every reply it writes must answer the query and pack.
func FuzzServeDNS(f *testing.F) {
	for i, b := range fuzzSeeds() {
		f.Add(b, i%2 == 0)
	}
	g := fuzzGTM(f)
	f.Fuzz(func(t *testing.T, packet []byte, tcp bool) {
		r := new(dns.Msg)
		if err := r.Unpack(packet); err != nil || len(r.Question) == 0 {
			return // CoreDNS's server drops these before any plugin
		}
		rec := dnstest.NewRecorder(&test.ResponseWriter{TCP: tcp})
		rc, _ := g.ServeDNS(context.Background(), rec, r)
		m := rec.Msg
		if m == nil {
			if rc == dns.RcodeSuccess {
				t.Fatalf("rcode %d returned without a reply written", rc)
			}
			return
		}
		if m.Id != r.Id || !m.Response {
			t.Fatalf("reply id %d response %v to query id %d", m.Id, m.Response, r.Id)
		}
		if len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, r.Question[0].Name) {
			t.Fatalf("reply question %v to query question %v", m.Question, r.Question)
		}
		if _, err := m.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v\n%v", err, m)
		}
	})
}
