package test

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// ipv6Loopback skips the test when this machine has no IPv6 loopback to
// listen on (a container without IPv6), naming why.
func ipv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("this machine has no IPv6 loopback (listen on [::1]: %v): dual-stack probes need one", err)
	}
	ln.Close()
}

// waitType polls until name's answer of qtype equals want (nil: NODATA
// with the SOA).
func (s *server) waitType(t *testing.T, name string, qtype uint16, want []string, within time.Duration) {
	t.Helper()
	s.waitTTL(t, name, qtype, want, 0, within)
}

// waitTTL is waitType that also wants the answer's TTL (0: any).
func (s *server) waitTTL(t *testing.T, name string, qtype uint16, want []string, ttl uint32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got []string
	for {
		m := s.ask(t, "udp", name, qtype)
		got = testkit.Values(m)
		ok := slices.Equal(got, want) && m.Rcode == dns.RcodeSuccess && m.Authoritative
		if ttl != 0 {
			ok = ok && len(m.Answer) > 0 && m.Answer[0].Header().Ttl == ttl
		}
		if len(want) == 0 {
			ok = ok && len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s %s %s answers %v (rcode %s), want %v (ttl %d, 0: any): %v", within, name, dns.TypeToString[qtype], got, dns.RcodeToString[m.Rcode], want, ttl, m.Answer)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dualCorefile(a4, a6, b4, b6 int) string {
	monitor := func(name string, port int) string {
		// Two failures in a row: one slow connect on a loaded machine
		// (the race detector, parallel builds) is no outage.
		return fmt.Sprintf("\t\tmonitor %s {\n\t\t\tprotocol tcp\n\t\t\tport %d\n\t\t\tinterval 150ms\n\t\t\ttimeout 120ms\n\t\t\trise 1\n\t\t\tfall 2\n\t\t}\n", name, port)
	}
	return `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
` + monitor("a4", a4) + monitor("a6", a6) + monitor("b4", b4) + monitor("b6", b6) + `
		pool a4 {
			monitor a4
			address 127.0.0.131
		}
		pool a6 {
			monitor a6
			address ::1
		}
		pool b4 {
			monitor b4
			address 127.0.0.132
		}
		# The only IPv6 loopback address is ::1: site b's IPv6 address is
		# answered as written and probed at ::1 on its own port.
		pool b6 {
			monitor b6
			address 2001:db8::b probe ::1
		}
		instance www {
			primary a4 a6
			secondary b4 b6
		}
		instance sep {
			primary a4 a6
			secondary b4 b6
			failover separate
		}
		instance lack {
			primary a4
			secondary b4 b6
		}
	}
}`
}

// Dual-stack instances through a real CoreDNS, with each family's
// addresses probed on its own (IPv4 on 127.0.0.x, IPv6 on ::1): with
// failover together both families leave a site whose IPv6 fails; with
// failover separate only IPv6 does; a family the active collection lacks
// gets NODATA with the SOA, and no failover.
func TestDualStack(t *testing.T) {
	ipv6Loopback(t)
	a4 := listen(t, "127.0.0.131:0")
	a6 := listen(t, "[::1]:0")
	b4 := listen(t, "127.0.0.132:0")
	b6 := listen(t, "[::1]:0")
	s := start(t, dualCorefile(a4.port(), a6.port(), b4.port(), b6.port()))
	www, sep, lack := "www.example.org.", "sep.example.org.", "lack.example.org."
	const within = 3 * time.Second

	for _, name := range []string{www, sep} {
		s.waitType(t, name, dns.TypeA, []string{"127.0.0.131"}, within)
		s.waitType(t, name, dns.TypeAAAA, []string{"::1"}, within)
	}
	s.waitType(t, lack, dns.TypeAAAA, nil, within)
	s.waitType(t, lack, dns.TypeA, []string{"127.0.0.131"}, within)
	// ANY has both families; another type has neither.
	if got := testkit.Values(s.ask(t, "tcp", www, dns.TypeANY)); !slices.Equal(got, []string{"127.0.0.131", "::1"}) {
		t.Errorf("ANY answered %v", got)
	}
	s.waitType(t, www, dns.TypeTXT, nil, within)

	// Site a's IPv6 endpoint stops.
	a6.down()
	s.waitType(t, www, dns.TypeAAAA, []string{"2001:db8::b"}, within)
	s.waitType(t, www, dns.TypeA, []string{"127.0.0.132"}, within) // together
	// Separate: IPv4 stays, with its full TTL; IPv6 on the secondary
	// has the degraded TTL.
	s.waitTTL(t, sep, dns.TypeAAAA, []string{"2001:db8::b"}, 5, within)
	s.waitTTL(t, sep, dns.TypeA, []string{"127.0.0.131"}, 30, within)
	// lack's primary holds no IPv6 and its IPv4 is up: still NODATA,
	// never the secondary's IPv6.
	s.waitType(t, lack, dns.TypeAAAA, nil, within)

	// It comes back: both return.
	a6.up(t)
	s.waitType(t, www, dns.TypeA, []string{"127.0.0.131"}, within)
	s.waitType(t, www, dns.TypeAAAA, []string{"::1"}, within)
	s.waitType(t, sep, dns.TypeAAAA, []string{"::1"}, within)

	// Site a's IPv4 stops: together, both families move again; lack
	// fails over on its IPv4, and answers IPv6 from its secondary.
	a4.down()
	s.waitType(t, www, dns.TypeAAAA, []string{"2001:db8::b"}, within)
	s.waitType(t, www, dns.TypeA, []string{"127.0.0.132"}, within)
	s.waitType(t, sep, dns.TypeAAAA, []string{"::1"}, within)
	s.waitType(t, sep, dns.TypeA, []string{"127.0.0.132"}, within)
	s.waitType(t, lack, dns.TypeAAAA, []string{"2001:db8::b"}, within)
}
