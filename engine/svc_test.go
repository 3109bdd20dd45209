package engine

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

const svcBody = dualPools + `pool w4 {
 address 192.0.2.1 weight 1
 address 192.0.2.2 weight 2
 address 192.0.2.3 weight 3
 method weight
}
pool cdn {
 address edge.cdn.example.net
}
instance www {
 primary a4 a6
 secondary b4 b6
 https {
  alpn h2 h3
  port 8443
  ech AAT+DQAA
 }
}
instance lack {
 primary a4
 secondary b4 b6
 https
 svcb {
  alpn h2
 }
}
instance weighted {
 primary w4
 https
}
instance cname {
 primary cdn
 https
}
instance plain {
 primary a4 a6
}
instance plaincname {
 primary cdn
}
instance none {
 primary b4
 all-down nodata
}
instance fail {
 primary b4
 all-down servfail
}
`

// svcOf is the one HTTPS or SVCB record of an answer.
func svcOf(t *testing.T, m *dns.Msg) *dns.SVCB {
	t.Helper()
	if m.Rcode != dns.RcodeSuccess || !m.Authoritative || len(m.Answer) != 1 {
		t.Fatalf("answer %v (rcode %s)", m.Answer, dns.RcodeToString[m.Rcode])
	}
	switch rr := m.Answer[0].(type) {
	case *dns.HTTPS:
		return &rr.SVCB
	case *dns.SVCB:
		return rr
	}
	t.Fatalf("answer %v is no HTTPS or SVCB record", m.Answer[0])
	return nil
}

// hintsOf are a record's IPv4 and IPv6 hints, as text, sorted, and its
// keys in order.
func hintsOf(s *dns.SVCB) (v4, v6 []string, keys []dns.SVCBKey) {
	for _, kv := range s.Value {
		keys = append(keys, kv.Key())
		switch kv := kv.(type) {
		case *dns.SVCBIPv4Hint:
			for _, ip := range kv.Hint {
				v4 = append(v4, ip.String())
			}
		case *dns.SVCBIPv6Hint:
			for _, ip := range kv.Hint {
				v6 = append(v6, ip.String())
			}
		}
	}
	slices.Sort(v4)
	slices.Sort(v6)
	return v4, v6, keys
}

// extra are the additional section's A and AAAA records as text, sorted.
func extra(m *dns.Msg) (v4, v6 []string) {
	for _, rr := range m.Extra {
		switch rr := rr.(type) {
		case *dns.A:
			v4 = append(v4, rr.A.String())
		case *dns.AAAA:
			v6 = append(v6, rr.AAAA.String())
		}
	}
	slices.Sort(v4)
	slices.Sort(v6)
	return v4, v6
}

func TestHTTPSAnswers(t *testing.T) {
	e := newEngine(t, svcBody)

	// Not opted in: what other types get (NODATA; a CNAME instance's CNAME).
	expect(t, e, "no https", "plain.example.org.", dns.TypeHTTPS)
	expect(t, e, "no svcb", "www.example.org.", dns.TypeSVCB)
	if m := query(t, e, "plaincname.example.org.", dns.TypeHTTPS); len(m.Answer) != 1 || m.Answer[0].Header().Rrtype != dns.TypeCNAME {
		t.Errorf("HTTPS of a CNAME instance without https: %v", m.Answer)
	}

	// ServiceMode with the hints of the A and AAAA answers, the
	// parameters, keys in increasing order, and the same addresses in
	// the additional section.
	m := query(t, e, "www.example.org.", dns.TypeHTTPS)
	s := svcOf(t, m)
	if s.Hdr.Rrtype != dns.TypeHTTPS || s.Priority != 1 || s.Target != "." || s.Hdr.Ttl != 30 {
		t.Errorf("record %v", s)
	}
	v4, v6, keys := hintsOf(s)
	if !slices.Equal(keys, []dns.SVCBKey{dns.SVCB_ALPN, dns.SVCB_PORT, dns.SVCB_IPV4HINT, dns.SVCB_ECHCONFIG, dns.SVCB_IPV6HINT}) {
		t.Errorf("keys %v", keys)
	}
	a, _ := values(query(t, e, "www.example.org.", dns.TypeA))
	aaaa, _ := values(query(t, e, "www.example.org.", dns.TypeAAAA))
	if !slices.Equal(v4, a) || !slices.Equal(v6, aaaa) {
		t.Errorf("hints %v %v, A %v, AAAA %v", v4, v6, a, aaaa)
	}
	if x4, x6 := extra(m); !slices.Equal(x4, v4) || !slices.Equal(x6, v6) {
		t.Errorf("additional %v %v, hints %v %v", x4, x6, v4, v6)
	}
	for _, kv := range s.Value {
		switch kv := kv.(type) {
		case *dns.SVCBAlpn:
			if !slices.Equal(kv.Alpn, []string{"h2", "h3"}) {
				t.Errorf("alpn %v", kv.Alpn)
			}
		case *dns.SVCBPort:
			if kv.Port != 8443 {
				t.Errorf("port %d", kv.Port)
			}
		case *dns.SVCBECHConfig:
			if !bytes.Equal(kv.ECH, []byte{0, 4, 0xfe, 0x0d, 0, 0}) {
				t.Errorf("ech %x", kv.ECH)
			}
		}
	}

	if st, _ := e.InstanceStatus("www.example.org."); !slices.Equal(st.Records, []string{"A", "AAAA", "HTTPS"}) {
		t.Errorf("status records %v", st.Records)
	}
	if x, _ := e.Explain("lack.example.org.", netip.MustParsePrefix("192.0.2.7/32")); !slices.Contains(x.Lines, "answers A AAAA HTTPS SVCB (HTTPS and SVCB hint at the addresses of the same draw)") {
		t.Errorf("explanation %q", x.Lines)
	}

	// A family the active collection lacks has no hint; SVCB has its own
	// parameters.
	s = svcOf(t, query(t, e, "lack.example.org.", dns.TypeHTTPS))
	if v4, v6, keys := hintsOf(s); !slices.Equal(v4, []string{"192.0.2.1", "192.0.2.2"}) || v6 != nil || !slices.Equal(keys, []dns.SVCBKey{dns.SVCB_IPV4HINT}) {
		t.Errorf("lack: hints %v %v keys %v", v4, v6, keys)
	}
	s = svcOf(t, query(t, e, "lack.example.org.", dns.TypeSVCB))
	if _, _, keys := hintsOf(s); s.Hdr.Rrtype != dns.TypeSVCB || !slices.Equal(keys, []dns.SVCBKey{dns.SVCB_ALPN, dns.SVCB_IPV4HINT}) {
		t.Errorf("lack SVCB: %v", s)
	}

	// A weighted draw: the hint is the draw the reply's A record carries.
	seen := map[string]bool{}
	for range 200 {
		m := query(t, e, "weighted.example.org.", dns.TypeHTTPS)
		v4, _, _ := hintsOf(svcOf(t, m))
		x4, _ := extra(m)
		if len(v4) != 1 || !slices.Equal(v4, x4) {
			t.Fatalf("weighted: hints %v, additional %v", v4, x4)
		}
		seen[v4[0]] = true
	}
	if len(seen) != 3 {
		t.Errorf("weighted: 200 draws hinted %v", seen)
	}

	// AliasMode for a domain-name pool: the CNAME's target.
	s = svcOf(t, query(t, e, "cname.example.org.", dns.TypeHTTPS))
	if s.Priority != 0 || s.Target != "edge.cdn.example.net." || len(s.Value) != 0 {
		t.Errorf("alias %v", s)
	}

	// Failover: the hints follow the decision.
	e.UseHealth(down("a6/2001:db8::a"))
	v4, v6, _ = hintsOf(svcOf(t, query(t, e, "www.example.org.", dns.TypeHTTPS)))
	if !slices.Equal(v4, []string{"198.51.100.1"}) || !slices.Equal(v6, []string{"2001:db8::b"}) {
		t.Errorf("after failover: hints %v %v", v4, v6)
	}
	if ttl := query(t, e, "www.example.org.", dns.TypeHTTPS).Answer[0].Header().Ttl; ttl != 5 {
		t.Errorf("degraded HTTPS TTL %d, want 5", ttl)
	}
	// All down: what an address query gets.
	e.UseHealth(down("b4/198.51.100.1"))
	allDownHTTPS(t, e, "none", "fail")
}

// allDownHTTPS checks that instances all down with nodata and servfail
// answer HTTPS as they answer A.
func allDownHTTPS(t *testing.T, e *Engine, nodata, servfail string) {
	t.Helper()
	// Opt the two instances in by a copy of the configuration.
	cfg := *e.snap.Load().cfg
	ins := slices.Clone(cfg.Instances)
	for i, in := range ins {
		if in.Name == nodata+".example.org." || in.Name == servfail+".example.org." {
			c := *in
			c.HTTPS = e.snap.Load().cfg.Instance("lack.example.org.").HTTPS
			ins[i] = &c
		}
	}
	cfg.Instances = ins
	e.snap.Store(compile(&cfg, down("b4/198.51.100.1"), e.snap.Load(), false))
	expect(t, e, "all down, nodata", nodata+".example.org.", dns.TypeHTTPS)
	if m := query(t, e, servfail+".example.org.", dns.TypeHTTPS); m.Rcode != dns.RcodeServerFailure {
		t.Errorf("all down, servfail: rcode %s", dns.RcodeToString[m.Rcode])
	}
}

// An HTTPS answer's selection (rule, collection, a draw per family)
// allocates nothing.
func TestHTTPSSelectionAllocs(t *testing.T) {
	e := newEngine(t, svcBody)
	in := e.snap.Load().instance("www.example.org.")
	var b4, b6 [16]*policy.Addr
	if n := testing.AllocsPerRun(200, func() {
		r, _, _ := e.decide(in, clientAddr{})
		v4, v6 := in.families(r)
		in.draw(b4[:0], v4, policy.Point{}, netip.Addr{}, e.Rand)
		in.draw(b6[:0], v6, policy.Point{}, netip.Addr{}, e.Rand)
	}); n != 0 {
		t.Errorf("%v allocations per HTTPS selection, want 0", n)
	}
}

// BenchmarkHTTPSSelection is an HTTPS answer's selection alone: the rule,
// then one draw per family. It must not allocate.
func BenchmarkHTTPSSelection(b *testing.B) {
	e := newEngine(b, svcBody)
	e.Rand = policy.DefaultRand
	in := e.snap.Load().instance("www.example.org.")
	var b4, b6 [16]*policy.Addr
	b.ReportAllocs()
	for b.Loop() {
		r, _, _ := e.decide(in, clientAddr{})
		v4, v6 := in.families(r)
		in.draw(b4[:0], v4, policy.Point{}, netip.Addr{}, e.Rand)
		in.draw(b6[:0], v6, policy.Point{}, netip.Addr{}, e.Rand)
	}
}

// BenchmarkAnswerHTTPS is a whole HTTPS answer of a dual-stack instance,
// beside its A answer.
func BenchmarkAnswerHTTPS(b *testing.B) {
	e := newEngine(b, svcBody)
	e.Rand = policy.DefaultRand
	for _, qtype := range []uint16{dns.TypeHTTPS, dns.TypeA} {
		r := new(dns.Msg)
		r.SetQuestion("www.example.org.", qtype)
		q := Query{Req: r, Name: "www.example.org.", Type: qtype, Zone: "example.org.",
			Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
		b.Run(dns.TypeToString[qtype], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Answer(q)
			}
		})
	}
}

// With a hash pool, a client's HTTPS hints are its A answer, query after
// query, and the reply's scope is the hash's prefix.
func TestHTTPSHashHints(t *testing.T) {
	e := newEngine(t, `pool h {
 address 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5
 method hash 24 56
}
instance www {
 primary h
 https
}
`)
	for _, client := range []string{"198.51.100.7", "203.0.113.9", "192.0.2.200"} {
		ask := func(qtype uint16) *dns.Msg {
			r := new(dns.Msg)
			r.SetQuestion("www.example.org.", qtype)
			r.SetEdns0(1232, false)
			r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 32, Address: net.ParseIP(client).To4()})
			m, _ := e.Answer(Query{Req: r, Name: "www.example.org.", Type: qtype, Zone: "example.org.",
				Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
			return m
		}
		a, _ := values(ask(dns.TypeA))
		if len(a) == 0 {
			t.Fatalf("client %s: no A answer to compare the hints with", client)
		}
		for range 5 {
			m := ask(dns.TypeHTTPS)
			if v4, _, _ := hintsOf(svcOf(t, m)); !slices.Equal(v4, a) {
				t.Fatalf("client %s: hints %v, A %v", client, v4, a)
			}
			if opt := m.IsEdns0(); opt == nil || opt.Option[0].(*dns.EDNS0_SUBNET).SourceScope != 24 {
				t.Fatalf("client %s: reply's ECS %v, want scope 24", client, opt)
			}
		}
	}
}
