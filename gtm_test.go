package gtm

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

const poolA = `
pool a {
	address 192.0.2.1
}`

// newGTM parses a gtm block for example.org and returns its handler with a
// seeded random source; next answers REFUSED-free with rcode 42 so tests can
// see that a query went on.
func newGTM(t testing.TB, body string) *GTM {
	t.Helper()
	cfg, fl, err := corefile.Parse(caddy.NewTestController("dns", testkit.Block(body)))
	if err != nil {
		t.Fatal(err)
	}
	g := New(cfg)
	g.Fall = fl
	g.Engine().Rand = rand.New(rand.NewPCG(7, 7))
	g.Next = test.NextHandler(dns.RcodeNotZone, nil)
	return g
}

// withHealth recompiles g's snapshot with the given probe results.
func withHealth(g *GTM, st health.Static) { g.Engine().UseHealth(st) }

func query(t testing.TB, g *GTM, name string, qtype uint16, edns bool) (*dns.Msg, int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, true)
	}
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	rc, err := g.ServeDNS(context.Background(), rec, m)
	if err != nil {
		t.Fatalf("ServeDNS: %v", err)
	}
	return rec.Msg, rc
}

const twoSites = `
soa ns1.example.org. hostmaster.example.org.
pool site-a {
	address 192.0.2.10 192.0.2.11
}
pool site-b {
	address 198.51.100.10
}
pool v6 {
	address 2001:db8::10
}
pool names {
	address app.example.com
}
instance www {
	ttl 45
	primary site-a
	secondary site-b
}
instance a.b.deep {
	primary site-a
}
instance v6 {
	primary v6
}
instance alias {
	primary names
}`

func TestServeDNS(t *testing.T) {
	g := newGTM(t, twoSites)
	soa := test.SOA("example.org. 60 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 1800 1209600 60")
	cases := []test.Case{
		{Qname: "www.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("www.example.org. 45 IN A 192.0.2.10"), test.A("www.example.org. 45 IN A 192.0.2.11")}},
		{Qname: "WwW.Example.ORG.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("www.example.org. 45 IN A 192.0.2.10"), test.A("www.example.org. 45 IN A 192.0.2.11")}},
		// no data of the wrong family, nor of other types
		{Qname: "www.example.org.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
		{Qname: "www.example.org.", Qtype: dns.TypeMX, Ns: []dns.RR{soa}},
		{Qname: "v6.example.org.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("v6.example.org. 30 IN AAAA 2001:db8::10")}},
		{Qname: "v6.example.org.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		// a CNAME answers every type
		{Qname: "alias.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.CNAME("alias.example.org. 30 IN CNAME app.example.com.")}},
		{Qname: "alias.example.org.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.CNAME("alias.example.org. 30 IN CNAME app.example.com.")}},
		// apex
		{Qname: "example.org.", Qtype: dns.TypeSOA, Answer: []dns.RR{soa}},
		{Qname: "example.org.", Qtype: dns.TypeNS, Answer: []dns.RR{test.NS("example.org. 60 IN NS ns1.example.org.")},
			Extra: []dns.RR{test.A("ns1.example.org. 60 IN A 192.0.2.53")}},
		{Qname: "example.org.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		// RFC 8482: ANY at the apex gets a small answer, the SOA
		{Qname: "example.org.", Qtype: dns.TypeANY, Answer: []dns.RR{soa}},
		// the in-zone name server resolves (a delegation to it is not lame)
		{Qname: "ns1.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("ns1.example.org. 60 IN A 192.0.2.53")}},
		{Qname: "ns1.example.org.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
		// empty non-terminal above a.b.deep: NODATA, not NXDOMAIN
		{Qname: "b.deep.example.org.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		{Qname: "deep.example.org.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		// unknown names
		{Qname: "nope.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "x.www.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	}
	for _, tc := range cases {
		t.Run(tc.Qname+"/"+dns.TypeToString[tc.Qtype], func(t *testing.T) {
			resp, rc := query(t, g, tc.Qname, tc.Qtype, false)
			if rc != dns.RcodeSuccess {
				t.Fatalf("returned rcode %d, want 0 after writing", rc)
			}
			if !resp.Authoritative {
				t.Error("answer is not authoritative")
			}
			if err := test.SortAndCheck(resp, tc); err != nil {
				t.Error(err)
			}
			if resp.IsEdns0() != nil {
				t.Error("reply has an OPT record but the query had none")
			}
		})
	}
}

func TestNextPlugin(t *testing.T) {
	g := newGTM(t, twoSites+"\nfallthrough sub.example.org")
	// outside the zone
	if _, rc := query(t, g, "example.com.", dns.TypeA, false); rc != dns.RcodeNotZone {
		t.Errorf("out-of-zone query: rcode %d, want it passed to the next plugin", rc)
	}
	// other classes belong to other plugins (chaos, for one)
	ch := new(dns.Msg)
	ch.SetQuestion("www.example.org.", dns.TypeTXT)
	ch.Question[0].Qclass = dns.ClassCHAOS
	if rc, _ := g.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), ch); rc != dns.RcodeNotZone {
		t.Errorf("CHAOS query: rcode %d, want it passed to the next plugin", rc)
	}
	// unknown name covered by fallthrough
	if _, rc := query(t, g, "host.sub.example.org.", dns.TypeA, false); rc != dns.RcodeNotZone {
		t.Errorf("fallthrough name: rcode %d, want it passed to the next plugin", rc)
	}
	// unknown name not covered: NXDOMAIN
	if m, _ := query(t, g, "host.other.example.org.", dns.TypeA, false); m == nil || m.Rcode != dns.RcodeNameError {
		t.Errorf("name outside fallthrough zones should be NXDOMAIN, got %v", m)
	}
	// managed names are answered even under a fallthrough zone
	g = newGTM(t, twoSites+"\nfallthrough")
	if m, _ := query(t, g, "www.example.org.", dns.TypeA, false); m == nil || len(m.Answer) != 2 {
		t.Errorf("managed name must be answered despite fallthrough, got %v", m)
	}
}

func TestEDNS(t *testing.T) {
	g := newGTM(t, twoSites)
	for _, name := range []string{"www.example.org.", "nope.example.org."} {
		m, _ := query(t, g, name, dns.TypeA, true)
		o := m.IsEdns0()
		if o == nil {
			t.Fatalf("%s: reply lacks its own OPT record", name)
		}
		if !o.Do() {
			t.Errorf("%s: DO bit not kept", name)
		}
		if o.UDPSize() != 1232 {
			t.Errorf("%s: buffer size %d, want 1232", name, o.UDPSize())
		}
	}
}

func TestForcedDownNeverAnswered(t *testing.T) {
	g := newGTM(t, `
pool a {
	address 192.0.2.1 192.0.2.2
	address 192.0.2.3 mode down
}
instance www {
	primary a
}`)
	for range 200 {
		m, _ := query(t, g, "www.example.org.", dns.TypeA, false)
		if got := strings.Join(testkit.Values(m), " "); got != "192.0.2.1 192.0.2.2" {
			t.Fatalf("answer %q, want the two usable addresses only", got)
		}
	}
}

// failover covers the primary/backup scenario driven by address state.
func TestFailover(t *testing.T) {
	const pools = `
pool a {
	address 192.0.2.1 192.0.2.2
	min-available 2
}
pool b {
	address 198.51.100.1
}
`
	down := health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Unhealthy}
	allDown := health.Static{
		{Pool: "a", Address: "192.0.2.1"}:    health.Unhealthy,
		{Pool: "a", Address: "192.0.2.2"}:    health.Unhealthy,
		{Pool: "b", Address: "198.51.100.1"}: health.Unhealthy,
	}
	tests := []struct {
		name   string
		inst   string
		health health.Static
		want   string // answer values, or an rcode name
	}{
		{"primary while available", "primary a\nsecondary b", nil, "192.0.2.1 192.0.2.2"},
		{"secondary below min-available", "primary a\nsecondary b", down, "198.51.100.1"},
		{"back to primary on recovery", "primary a\nsecondary b", health.Static{}, "192.0.2.1 192.0.2.2"},
		{"pinned primary below rule", "switch primary\nprimary a\nsecondary b", down, "192.0.2.2"},
		{"pinned secondary", "switch secondary\nprimary a\nsecondary b", nil, "198.51.100.1"},
		{"fail-open by default", "primary a\nsecondary b", allDown, "192.0.2.1 192.0.2.2"},
		{"nodata", "primary a\nsecondary b\nall-down nodata", allDown, "NOERROR-empty"},
		{"servfail", "primary a\nsecondary b\nall-down servfail", allDown, "SERVFAIL"},
		{"fallback", "primary a\nsecondary b\nall-down fallback 203.0.113.9", allDown, "203.0.113.9"},
		{"no secondary: all-down applies", "primary a\nall-down nodata", down, "NOERROR-empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGTM(t, pools+"instance www {\n"+tc.inst+"\n}")
			withHealth(g, tc.health)
			m, _ := query(t, g, "www.example.org.", dns.TypeA, false)
			got := strings.Join(testkit.Values(m), " ")
			switch {
			case m.Rcode != dns.RcodeSuccess:
				got = dns.RcodeToString[m.Rcode]
			case got == "":
				got = "NOERROR-empty"
				if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA {
					t.Errorf("NODATA without SOA: %v", m.Ns)
				}
			}
			if got != tc.want {
				t.Errorf("answer %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFailOpenKeepsForcedDownOut(t *testing.T) {
	g := newGTM(t, `
pool a {
	address 192.0.2.1
	address 192.0.2.2 mode down
}
instance www {
	primary a
}`)
	withHealth(g, health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Unhealthy})
	m, _ := query(t, g, "www.example.org.", dns.TypeA, false)
	if got := strings.Join(testkit.Values(m), " "); got != "192.0.2.1" {
		t.Fatalf("fail-open answered %q, want 192.0.2.1 only (192.0.2.2 is forced down)", got)
	}
}

func TestMethodsThroughHandler(t *testing.T) {
	g := newGTM(t, `
pool a {
	address 192.0.2.1 192.0.2.2 192.0.2.3
	method sequence
	max-answers 2
}
pool w {
	address 192.0.2.1 weight 1
	address 192.0.2.2 weight 3
	method weight
}
instance seq {
	primary a
}
instance wt {
	primary w
}`)
	m, _ := query(t, g, "seq.example.org.", dns.TypeA, false)
	if got := strings.Join(testkit.Values(m), " "); got != "192.0.2.1 192.0.2.2" {
		t.Errorf("sequence with max-answers 2 answered %q", got)
	}
	counts := map[string]int{}
	for range 4000 {
		m, _ := query(t, g, "wt.example.org.", dns.TypeA, false)
		if len(m.Answer) != 1 {
			t.Fatalf("weight answered %d records, want 1", len(m.Answer))
		}
		counts[testkit.Values(m)[0]]++
	}
	if share := float64(counts["192.0.2.2"]) / 4000; share < 0.72 || share > 0.78 {
		t.Errorf("weight 3 of 4 answered %.3f of the time, want 0.75 ± 0.03", share)
	}
}

func TestSnapshotIsolation(t *testing.T) {
	// A reply must not share RRs with the snapshot: plugins that wrap the
	// writer (rewrite's ttl rule, for one) edit replies in place.
	g := newGTM(t, twoSites)
	m1, _ := query(t, g, "www.example.org.", dns.TypeA, false)
	for _, rr := range m1.Answer {
		rr.Header().Ttl = 1
	}
	m2, _ := query(t, g, "nope.example.org.", dns.TypeA, false)
	m2.Ns[0].Header().Ttl = 1
	m3, _ := query(t, g, "www.example.org.", dns.TypeA, false)
	m4, _ := query(t, g, "nope.example.org.", dns.TypeA, false)
	if m3.Answer[0].Header().Ttl != 45 || m4.Ns[0].Header().Ttl != 60 {
		t.Fatalf("changing a reply changed the snapshot: ttl %d / %d", m3.Answer[0].Header().Ttl, m4.Ns[0].Header().Ttl)
	}
}

func TestConfigModelDefaults(t *testing.T) {
	g := newGTM(t, twoSites)
	if in := g.Engine().Config().Instances[0]; in.Switch != config.SwitchAuto || in.AllDown != config.FailOpen {
		t.Errorf("defaults: switch %s, all-down %s; want auto, fail-open", in.Switch, in.AllDown)
	}
}

// A gtm block for the root zone (gtm in front of forward) must compile and
// answer: walking up from a name to the root zone must end.
func TestRootZone(t *testing.T) {
	cfg, fl, err := corefile.Parse(caddy.NewTestController("dns", "gtm . {\n pool a {\n  address 192.0.2.1\n }\n instance www.example.net. {\n  primary a\n }\n fallthrough\n}"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *GTM)
	go func() { done <- New(cfg) }()
	var g *GTM
	select {
	case g = <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("compiling a root-zone configuration did not finish")
	}
	g.Next, g.Fall = test.NextHandler(dns.RcodeNotZone, nil), fl
	if m, _ := query(t, g, "www.example.net.", dns.TypeA, false); m == nil || len(m.Answer) != 1 {
		t.Fatalf("root zone: answer %v", m)
	}
	if _, rc := query(t, g, "other.example.com.", dns.TypeA, false); rc != dns.RcodeNotZone {
		t.Fatalf("root zone with fallthrough: rcode %d, want the next plugin", rc)
	}
}

func TestDegradedTTL(t *testing.T) {
	const pools = "pool a {\n address 192.0.2.1\n}\npool b {\n address 198.51.100.1\n}\n"
	down := health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Unhealthy}
	allDown := health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Unhealthy, {Pool: "b", Address: "198.51.100.1"}: health.Unhealthy}
	tests := []struct {
		name   string
		inst   string
		health health.Static
		ttl    uint32 // of the answer, or of the SOA for NODATA
	}{
		{"healthy", "primary a\nsecondary b", nil, 60},
		{"failed over", "primary a\nsecondary b", down, 4},
		{"pinned to the secondary on purpose", "switch secondary\nprimary a\nsecondary b", nil, 60},
		{"all down, nodata", "primary a\nsecondary b\nall-down nodata", allDown, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGTM(t, pools+"instance www {\n ttl 60\n degraded-ttl 4\n"+tc.inst+"\n}")
			withHealth(g, tc.health)
			m, _ := query(t, g, "www.example.org.", dns.TypeA, false)
			var got uint32
			switch {
			case len(m.Answer) > 0:
				got = m.Answer[0].Header().Ttl
			case len(m.Ns) > 0:
				soa := m.Ns[0].(*dns.SOA)
				got = soa.Hdr.Ttl
				if soa.Minttl != tc.ttl {
					t.Errorf("SOA minimum %d, want %d", soa.Minttl, tc.ttl)
				}
			}
			if got != tc.ttl {
				t.Errorf("TTL %d, want %d", got, tc.ttl)
			}
		})
	}
}
