package test

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// exchange sends m as it is (any opcode, any question count) and returns the
// reply, or nil when none came within a second.
func exchange(t *testing.T, proto, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	conn, err := net.DialTimeout(proto, addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &dns.Conn{Conn: conn, UDPSize: 65535}
	conn.SetDeadline(time.Now().Add(time.Second))
	if err := c.WriteMsg(m); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadMsg()
	if err != nil {
		return nil
	}
	return r
}

func (s *server) addr(proto string) string {
	if proto == "tcp" {
		return s.tcp
	}
	return s.udp
}

func soaOf(t *testing.T, m *dns.Msg) *dns.SOA {
	t.Helper()
	for _, rr := range append(slices.Clone(m.Answer), m.Ns...) {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	t.Fatalf("no SOA in %v", m)
	return nil
}

// Item 1: a root-zone server block. Default SOA names must be valid there
// (not "hostmaster.."), or every reply that carries the SOA fails to pack and
// UDP clients get nothing; relative instance names join "." correctly.
func TestRootZone(t *testing.T) {
	s := start(t, `.:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.gtm.example.net 192.0.2.53
		pool a {
			address 192.0.2.1
		}
		instance www.example.net {
			primary a
		}
	}
}`)
	for _, proto := range []string{"udp", "tcp"} {
		// positive: data, and every reply that carries the SOA
		if got := testkit.Values(s.ask(t, proto, "www.example.net.", dns.TypeA)); !slices.Equal(got, []string{"192.0.2.1"}) {
			t.Errorf("%s: www.example.net A = %v", proto, got)
		}
		for _, q := range []struct {
			name  string
			qtype uint16
			rcode int
		}{
			{"nope.example.net.", dns.TypeA, dns.RcodeNameError},
			{"www.example.net.", dns.TypeMX, dns.RcodeSuccess},
			{"example.net.", dns.TypeA, dns.RcodeSuccess}, // empty non-terminal
			{".", dns.TypeSOA, dns.RcodeSuccess},
		} {
			r := s.ask(t, proto, q.name, q.qtype)
			if r.Rcode != q.rcode {
				t.Errorf("%s %s %s: rcode %s, want %s", proto, q.name, dns.TypeToString[q.qtype], dns.RcodeToString[r.Rcode], dns.RcodeToString[q.rcode])
				continue
			}
			if soa := soaOf(t, r); soa.Ns != "ns1.gtm.example.net." || soa.Mbox != "hostmaster." {
				t.Errorf("%s %s: SOA names %s %s, want ns1.gtm.example.net. hostmaster.", proto, q.name, soa.Ns, soa.Mbox)
			}
		}
	}
}

// Item 3: the delegation is not lame. In-zone name servers resolve, and NS
// answers carry their addresses as glue.
func TestNameServersAndGlue(t *testing.T) {
	s := start(t, `gtm.example.net:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.gtm.example.net 192.0.2.53 2001:db8::53
		ns ns2.gtm.example.net 198.51.100.53
		ns ns3.example.com
		pool a {
			address 192.0.2.1
		}
		instance www {
			primary a
		}
	}
}`)
	r := s.ask(t, "udp", "gtm.example.net.", dns.TypeNS, withEDNS(1232))
	var ns, glue []string
	for _, rr := range r.Answer {
		ns = append(ns, rr.(*dns.NS).Ns)
	}
	for _, rr := range r.Extra {
		switch x := rr.(type) {
		case *dns.A:
			glue = append(glue, x.Hdr.Name+" "+x.A.String())
		case *dns.AAAA:
			glue = append(glue, x.Hdr.Name+" "+x.AAAA.String())
		}
	}
	slices.Sort(ns)
	slices.Sort(glue)
	if want := []string{"ns1.gtm.example.net.", "ns2.gtm.example.net.", "ns3.example.com."}; !slices.Equal(ns, want) {
		t.Errorf("NS = %v, want %v", ns, want)
	}
	if want := []string{"ns1.gtm.example.net. 192.0.2.53", "ns1.gtm.example.net. 2001:db8::53", "ns2.gtm.example.net. 198.51.100.53"}; !slices.Equal(glue, want) {
		t.Errorf("glue = %v, want %v", glue, want)
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  []string
		rcode int
	}{
		// positive
		{"ns1.gtm.example.net.", dns.TypeA, []string{"192.0.2.53"}, dns.RcodeSuccess},
		{"ns1.gtm.example.net.", dns.TypeAAAA, []string{"2001:db8::53"}, dns.RcodeSuccess},
		{"ns2.gtm.example.net.", dns.TypeA, []string{"198.51.100.53"}, dns.RcodeSuccess},
		// negative
		{"ns2.gtm.example.net.", dns.TypeAAAA, nil, dns.RcodeSuccess},
		{"ns1.gtm.example.net.", dns.TypeMX, nil, dns.RcodeSuccess},
		{"ns9.gtm.example.net.", dns.TypeA, nil, dns.RcodeNameError},
	} {
		r := s.ask(t, "udp", tc.name, tc.qtype)
		if got := testkit.Values(r); !slices.Equal(got, tc.want) || r.Rcode != tc.rcode || !r.Authoritative {
			t.Errorf("%s %s: %v rcode %s aa %v, want %v %s", tc.name, dns.TypeToString[tc.qtype], got, dns.RcodeToString[r.Rcode], r.Authoritative, tc.want, dns.RcodeToString[tc.rcode])
		}
	}
}

// Items 5 and 8: what gtm refuses or does not implement.
func TestRefusedAndNotImplemented(t *testing.T) {
	s := start(t, `.:0 {
	bind 127.0.0.1
	gtm example.org {
		ns ns1.example.org 192.0.2.53
		pool a {
			address 192.0.2.1
		}
		instance www {
			primary a
		}
	}
}`)
	q := func(name string, qtype, class uint16, opcode int) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Question[0].Qclass = class
		m.Opcode = opcode
		return m
	}
	for _, tc := range []struct {
		name  string
		m     *dns.Msg
		rcode int
	}{
		// positive: the server still answers its own names
		{"managed name", q("www.example.org.", dns.TypeA, dns.ClassINET, dns.OpcodeQuery), dns.RcodeSuccess},
		// negative
		{"AXFR", q("example.org.", dns.TypeAXFR, dns.ClassINET, dns.OpcodeQuery), dns.RcodeRefused},
		{"IXFR", q("example.org.", dns.TypeIXFR, dns.ClassINET, dns.OpcodeQuery), dns.RcodeRefused},
		{"NOTIFY", q("example.org.", dns.TypeSOA, dns.ClassINET, dns.OpcodeNotify), dns.RcodeNotImplemented},
		{"outside the zones, no next plugin", q("www.example.com.", dns.TypeA, dns.ClassINET, dns.OpcodeQuery), dns.RcodeRefused},
		{"class CHAOS", q("www.example.org.", dns.TypeTXT, dns.ClassCHAOS, dns.OpcodeQuery), dns.RcodeRefused},
	} {
		r := exchange(t, "tcp", s.tcp, tc.m)
		if r == nil || r.Rcode != tc.rcode {
			t.Errorf("%s: got %v, want rcode %s", tc.name, r, dns.RcodeToString[tc.rcode])
			continue
		}
		if tc.rcode != dns.RcodeSuccess && len(r.Answer) != 0 {
			t.Errorf("%s: %s with answers %v", tc.name, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}

// Item 21: explain answers over TCP only (over UDP it would amplify), and
// other types at its name get NODATA, not NXDOMAIN (RFC 8020).
func TestExplainTransport(t *testing.T) {
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		explain 127.0.0.0/8
		pool a {
			address 192.0.2.1
		}
		instance www {
			primary a
		}
	}
}`)
	const name = "_explain.www.example.org."
	// positive: over TCP, the explanation
	if r := s.ask(t, "tcp", name, dns.TypeTXT); r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 || r.Truncated {
		t.Errorf("TCP: rcode %s, %d answers, tc %v; want the explanation", dns.RcodeToString[r.Rcode], len(r.Answer), r.Truncated)
	}
	// negative: over UDP, empty and truncated, however big the buffer
	if r := s.ask(t, "udp", name, dns.TypeTXT, withEDNS(4096)); !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("UDP: tc %v with %d answers; want TC and nothing", r.Truncated, len(r.Answer))
	}
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
		if r := s.ask(t, "tcp", name, qt); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Errorf("%s at the explain name: rcode %s, answer %v; want NODATA with the SOA", dns.TypeToString[qt], dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}
