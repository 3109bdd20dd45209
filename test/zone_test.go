package test

import (
	"fmt"
	"testing"

	"github.com/miekg/dns"
)

// The zone's SOA timers, negative-caching TTL and NS TTL are what the
// Corefile says, and today's values when it says nothing.
func TestZoneParameters(t *testing.T) {
	const block = `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		%s
		pool a {
			address 192.0.2.10
		}
		instance www {
			primary a
		}
	}
}`
	for _, tc := range []struct {
		name                            string
		params                          string
		refresh, retry, expire, minimum uint32
		nsTTL                           uint32
	}{
		{"defaults", "", 7200, 1800, 1209600, 60, 60},
		{"configured", "soa {\n refresh 1h\n retry 600\n expire 1209600\n minimum 5m\n }\n ns-ttl 24h", 3600, 600, 1209600, 300, 86400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, fmt.Sprintf(block, tc.params))
			r := s.ask(t, "udp", "example.org.", dns.TypeSOA)
			if len(r.Answer) != 1 {
				t.Fatalf("SOA query: %v", r)
			}
			soa := r.Answer[0].(*dns.SOA)
			if soa.Refresh != tc.refresh || soa.Retry != tc.retry || soa.Expire != tc.expire || soa.Minttl != tc.minimum || soa.Hdr.Ttl != tc.minimum {
				t.Errorf("SOA = %s, want refresh %d retry %d expire %d minimum and TTL %d", soa, tc.refresh, tc.retry, tc.expire, tc.minimum)
			}
			// A denial carries the SOA whose TTL and minimum bound its caching.
			r = s.ask(t, "udp", "nope.example.org.", dns.TypeA)
			if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].(*dns.SOA).Minttl != tc.minimum || r.Ns[0].Header().Ttl != tc.minimum {
				t.Errorf("NXDOMAIN: %v, want the SOA with minimum and TTL %d", r, tc.minimum)
			}
			r = s.ask(t, "udp", "example.org.", dns.TypeNS)
			if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != tc.nsTTL || len(r.Extra) != 1 || r.Extra[0].Header().Ttl != tc.nsTTL {
				t.Errorf("NS: %v, want the NS and its glue with TTL %d", r, tc.nsTTL)
			}
			r = s.ask(t, "udp", "ns1.example.org.", dns.TypeA)
			if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != tc.nsTTL {
				t.Errorf("name server address: %v, want TTL %d", r, tc.nsTTL)
			}
		})
	}
}
