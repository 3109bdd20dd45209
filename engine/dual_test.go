package engine

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

const dualPools = `pool a4 {
 address 192.0.2.1
 address 192.0.2.2
}
pool a6 {
 address 2001:db8::a
}
pool b4 {
 address 198.51.100.1
}
pool b6 {
 address 2001:db8::b
}
`

// values are the addresses of an answer's records, sorted, and whether it
// had the SOA in its authority section.
func values(m *dns.Msg) (out []string, soa bool) {
	for _, rr := range m.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			out = append(out, rr.A.String())
		case *dns.AAAA:
			out = append(out, rr.AAAA.String())
		}
	}
	slices.Sort(out)
	return out, len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA
}

func down(keys ...string) health.Static {
	v := health.Static{}
	for _, k := range keys {
		pool, addr, _ := strings.Cut(k, "/")
		v[health.Key{Pool: pool, Address: addr}] = health.Unhealthy
	}
	return v
}

func expect(t *testing.T, e *Engine, what, name string, qtype uint16, want ...string) {
	t.Helper()
	m := query(t, e, name, qtype)
	got, soa := values(m)
	if m.Rcode != dns.RcodeSuccess || !m.Authoritative {
		t.Fatalf("%s: %s %s: rcode %s, aa %v", what, name, dns.TypeToString[qtype], dns.RcodeToString[m.Rcode], m.Authoritative)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: %s %s answered %v, want %v", what, name, dns.TypeToString[qtype], got, want)
	}
	if len(want) == 0 && !soa {
		t.Errorf("%s: %s %s: NODATA without the SOA", what, name, dns.TypeToString[qtype])
	}
}

// A dual-stack instance answers A from its IPv4 pools and AAAA from its
// IPv6 pools; with failover together (the default) a family that fails
// takes both families to the secondary, and a family the active collection
// lacks gets NODATA, never the other family's data, and no failover.
func TestDualStackTogether(t *testing.T) {
	e := newEngine(t, dualPools+`instance www {
 primary a4 a6
 secondary b4 b6
}
instance lack {
 primary a4
 secondary b4 b6
}
instance @ {
 primary a4 a6
}
`)
	www, lack := "www.example.org.", "lack.example.org."
	expect(t, e, "healthy", www, dns.TypeA, "192.0.2.1", "192.0.2.2")
	expect(t, e, "healthy", www, dns.TypeAAAA, "2001:db8::a")
	expect(t, e, "healthy", www, dns.TypeANY, "192.0.2.1", "192.0.2.2", "2001:db8::a")
	expect(t, e, "healthy", www, dns.TypeMX)
	expect(t, e, "healthy", "example.org.", dns.TypeAAAA, "2001:db8::a")
	// The primary lacks IPv6: NODATA, although the secondary has some.
	expect(t, e, "no IPv6 in the primary", lack, dns.TypeAAAA)
	expect(t, e, "no IPv6 in the primary", lack, dns.TypeA, "192.0.2.1", "192.0.2.2")

	// One IPv4 address down: the family still answers, both stay.
	e.UseHealth(down("a4/192.0.2.1"))
	expect(t, e, "one IPv4 down", www, dns.TypeA, "192.0.2.2")
	expect(t, e, "one IPv4 down", www, dns.TypeAAAA, "2001:db8::a")

	// The primary's IPv6 fails: both families fail over together.
	e.UseHealth(down("a6/2001:db8::a"))
	expect(t, e, "IPv6 down", www, dns.TypeA, "198.51.100.1")
	expect(t, e, "IPv6 down", www, dns.TypeAAAA, "2001:db8::b")
	if st := e.State(www, "default"); st != StateSecondary {
		t.Errorf("state %s, want secondary", st)
	}
	in, _ := e.InstanceStatus(www)
	if in.Type != "A+AAAA" || in.Failover != "together" || len(in.Rules[0].Families) != 2 ||
		in.Rules[0].Families[1].State != StateSecondary || !slices.Equal(in.Rules[0].Families[1].Pools, []string{"b6"}) {
		t.Errorf("status %+v", in)
	}
	// The instance whose primary has no IPv6 stays where it is.
	expect(t, e, "IPv6 down", lack, dns.TypeA, "192.0.2.1", "192.0.2.2")
	expect(t, e, "IPv6 down", lack, dns.TypeAAAA)

	// The primary's IPv4 fails: both fail over too.
	e.UseHealth(down("a4/192.0.2.1", "a4/192.0.2.2"))
	expect(t, e, "IPv4 down", www, dns.TypeA, "198.51.100.1")
	expect(t, e, "IPv4 down", www, dns.TypeAAAA, "2001:db8::b")
	// lack fails over on IPv4, and its secondary has IPv6.
	expect(t, e, "IPv4 down", lack, dns.TypeAAAA, "2001:db8::b")

	// The apex has no secondary: fail-open keeps the usable family, and
	// the other gets NODATA with the degraded negative TTL.
	m := query(t, e, "example.org.", dns.TypeA)
	if got, soa := values(m); len(got) != 0 || !soa || m.Ns[0].(*dns.SOA).Minttl != 5 {
		t.Errorf("apex A with its IPv4 down: %v %v", m.Answer, m.Ns)
	}
	expect(t, e, "IPv4 down", "example.org.", dns.TypeAAAA, "2001:db8::a")
}

// With failover separate, each family fails over on its own.
func TestDualStackSeparate(t *testing.T) {
	e := newEngine(t, dualPools+`instance www {
 primary a4 a6
 secondary b4 b6
 failover separate
 all-down fallback 203.0.113.1 2001:db8::f
}
`)
	www := "www.example.org."
	expect(t, e, "healthy", www, dns.TypeA, "192.0.2.1", "192.0.2.2")
	expect(t, e, "healthy", www, dns.TypeAAAA, "2001:db8::a")

	e.UseHealth(down("a6/2001:db8::a"))
	expect(t, e, "IPv6 down", www, dns.TypeA, "192.0.2.1", "192.0.2.2")
	expect(t, e, "IPv6 down", www, dns.TypeAAAA, "2001:db8::b")
	in, _ := e.InstanceStatus(www)
	r := in.Rules[0]
	if r.State != StateSecondary || r.Families[0].State != StatePrimary || r.Families[1].State != StateSecondary ||
		!strings.Contains(r.Why, "AAAA secondary") || r.Families[0].Degraded || !r.Families[1].Degraded {
		t.Errorf("rule %+v", r)
	}
	// Each family's answer carries its own TTL.
	if m := query(t, e, www, dns.TypeA); m.Answer[0].Header().Ttl != 30 {
		t.Errorf("A TTL %d while only IPv6 failed over, want 30", m.Answer[0].Header().Ttl)
	}

	// Every IPv6 address down: the IPv6 fallback; IPv4 unmoved.
	e.UseHealth(down("a6/2001:db8::a", "b6/2001:db8::b"))
	expect(t, e, "all IPv6 down", www, dns.TypeAAAA, "2001:db8::f")
	expect(t, e, "all IPv6 down", www, dns.TypeA, "192.0.2.1", "192.0.2.2")

	x, err := e.Explain(www, netip.MustParsePrefix("192.0.2.99/32"))
	if err != nil {
		t.Fatal(err)
	}
	if x.Type != "A+AAAA" || len(x.Families) != 2 || !slices.Equal(x.Families[1].Answer, []string{"2001:db8::f"}) ||
		len(x.Collections) != 4 || x.Collections[2].Name != "primary AAAA" {
		t.Errorf("explanation %+v", x)
	}
	text := strings.Join(x.Lines, "\n")
	for _, want := range []string{"failover separate", "family A: state primary", "family AAAA: state fallback"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
}

// A dual-stack query allocates nothing in selection either.
func TestDualSelectionAllocs(t *testing.T) {
	e := newEngine(t, dualPools+"instance www {\n primary a4 a6\n secondary b4 b6\n}\n")
	in := e.snap.Load().instance("www.example.org.")
	var buf [16]*policy.Addr
	if n := testing.AllocsPerRun(200, func() {
		r, _, _ := e.decide(in, clientAddr{})
		in.pick(buf[:0], r.family(dns.TypeAAAA), policy.Point{}, netip.Addr{}, e.Rand)
	}); n != 0 {
		t.Errorf("%v allocations per dual-stack selection, want 0", n)
	}
}

// A family's switch is a switch of its rule, even when the rule's own
// state (its farther family's) stays.
func TestSameStates(t *testing.T) {
	dual := func(s, a, aaaa State) *rule {
		return &rule{state: s, fam: &[2]rule{{state: a}, {state: aaaa}}}
	}
	for _, tc := range []struct {
		old, now *rule
		same     bool
	}{
		{&rule{state: StatePrimary}, &rule{state: StatePrimary}, true},
		{&rule{state: StatePrimary}, &rule{state: StateSecondary}, false},
		{dual(StateSecondary, StatePrimary, StateSecondary), dual(StateSecondary, StatePrimary, StateSecondary), true},
		{dual(StateSecondary, StatePrimary, StateSecondary), dual(StateSecondary, StateSecondary, StateSecondary), false},
		{&rule{state: StatePrimary}, dual(StatePrimary, StatePrimary, StatePrimary), false},
	} {
		if got := sameStates(tc.old, tc.now); got != tc.same {
			t.Errorf("sameStates(%v, %v) = %v", tc.old.state, tc.now.state, got)
		}
	}
}

// latencies is a health view in which every address is healthy and
// measured at the given round trip, by pool.
type latencies map[string]time.Duration

func (l latencies) Status(health.Key) health.Status { return health.Healthy }
func (l latencies) Latency(k health.Key) (time.Duration, bool) {
	d, ok := l[k.Pool]
	return d, ok
}

// A dual-stack latency instance ranks each family's pools on their own:
// the fastest IPv4 pool must not leave IPv6 without an answer.
func TestDualStackLatency(t *testing.T) {
	e := newEngine(t, `pool a4 {
 address 192.0.2.1
}
pool c4 {
 address 192.0.2.3
}
pool a6 {
 address 2001:db8::a
}
pool c6 {
 address 2001:db8::c
}
instance www {
 policy latency
 primary a4 c4 a6 c6
}
`)
	e.UseHealth(latencies{"a4": 10 * time.Millisecond, "c4": 50 * time.Millisecond, "a6": 20 * time.Millisecond, "c6": 60 * time.Millisecond})
	expect(t, e, "latency", "www.example.org.", dns.TypeA, "192.0.2.1")
	expect(t, e, "latency", "www.example.org.", dns.TypeAAAA, "2001:db8::a")
	x, err := e.Explain("www.example.org.", netip.MustParsePrefix("192.0.2.99/32"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.LatencyPools, []string{"a4", "a6"}) {
		t.Errorf("latency pools %v, want a4 and a6", x.LatencyPools)
	}
}

// With failover separate and manual failback, a family that failed over
// stays on the secondary after its primary recovers; the other family is
// not held.
func TestDualStackSeparateManualFailback(t *testing.T) {
	e := newEngine(t, dualPools+`instance www {
 primary a4 a6
 secondary b4 b6
 failover separate
 failback manual
}
`)
	www := "www.example.org."
	e.UseHealth(down("a6/2001:db8::a"))
	expect(t, e, "IPv6 down", www, dns.TypeAAAA, "2001:db8::b")
	e.UseHealth(health.Static{})
	expect(t, e, "IPv6 back, held", www, dns.TypeAAAA, "2001:db8::b")
	expect(t, e, "IPv6 back, held", www, dns.TypeA, "192.0.2.1", "192.0.2.2")
	in, _ := e.InstanceStatus(www)
	if r := in.Rules[0]; !r.FailbackHold || r.State != StateSecondary || r.Families[0].State != StatePrimary {
		t.Errorf("rule %+v", r)
	}
}

// A dual-stack nearest instance answers each family from its pools
// nearest to the client, and explains each family's distances.
func TestDualStackNearest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cities.mmdb")
	geotest.Write(t, path, "GeoIP2-City", geotest.Cities)
	e := newEngine(t, "geoip "+path+`
pool fra4 {
 address 192.0.2.1
 location 50.11 8.68
}
pool fra6 {
 address 2001:db8::1
 location 50.11 8.68
}
pool tyo4 {
 address 192.0.2.2
 location 35.68 139.65
}
pool tyo6 {
 address 2001:db8::2
 location 35.68 139.65
}
instance www {
 policy nearest
 primary fra4 fra6 tyo4 tyo6
}
`)
	if err := e.LoadGeo(); err != nil {
		t.Fatal(err)
	}
	in := e.snap.Load().instance("www.example.org.")
	tokyo := clientAddr{addr: netip.MustParseAddr("5.2.0.1"), fromECS: true}
	r, _, at := e.decide(in, tokyo)
	var buf [16]*policy.Addr
	for qtype, want := range map[uint16]string{dns.TypeA: "192.0.2.2", dns.TypeAAAA: "2001:db8::2"} {
		if got := in.pick(buf[:0], r.family(qtype), at, tokyo.addr, e.Rand); len(got) != 1 || got[0].IP.String() != want {
			t.Errorf("%s from Tokyo: %v, want %s", dns.TypeToString[qtype], got, want)
		}
	}
	x, err := e.Explain("www.example.org.", netip.MustParsePrefix("5.2.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Families) != 2 || x.Families[1].Nearest == nil || !slices.Equal(x.Families[1].Nearest.Answering, []string{"tyo6"}) {
		t.Errorf("explanation families %+v", x.Families)
	}
}
