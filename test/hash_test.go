package test

import (
	"fmt"
	"testing"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

const hashCorefile = `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool sticky {
			address 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5
			address 192.0.2.6 192.0.2.7 192.0.2.8 192.0.2.9
			address 192.0.2.10 %s
			method hash 24 56
		}
		instance www {
			primary sticky
		}
	}
}`

// The hash method through real servers: a client subnet (ECS) keeps its
// address across queries and across two servers with the same
// configuration, the reply's ECS scope is the hash prefix, and when an
// address goes down (a reload puts it in mode down) only its clients move.
func TestHashSticky(t *testing.T) {
	a := start(t, fmt.Sprintf(hashCorefile, "mode auto"))
	b := start(t, fmt.Sprintf(hashCorefile, "mode auto"))
	const subnets = 300
	first := make([]string, subnets)
	for i := range subnets {
		subnet := fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
		r := a.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(subnet))
		got := testkit.Values(r)
		if len(got) != 1 {
			t.Fatalf("%s: answer %v, want one address", subnet, got)
		}
		if s := ecsScope(r); s != 24 {
			t.Fatalf("%s: ECS scope %d, want 24 (the hash prefix)", subnet, s)
		}
		first[i] = got[0]
		for _, s := range []*server{a, b} {
			if again := testkit.Values(s.ask(t, "tcp", "www.example.org.", dns.TypeA, withECS(fmt.Sprintf("10.%d.%d.128/25", i/256, i%256)))); again[0] != got[0] {
				t.Fatalf("%s: %s, then %s from the same /24", subnet, got[0], again[0])
			}
		}
	}
	spread := map[string]int{}
	for _, v := range first {
		spread[v]++
	}
	if len(spread) != 10 {
		t.Errorf("%d subnets landed on %d of 10 addresses: %v", subnets, len(spread), spread)
	}
	// IPv6 clients: the scope is the IPv6 prefix.
	if r := a.ask(t, "udp", "www.example.org.", dns.TypeA, withECS("2001:db8:1:100::/56")); ecsScope(r) != 56 {
		t.Errorf("IPv6 client: ECS scope %d, want 56", ecsScope(r))
	}

	a.reload(t, fmt.Sprintf(hashCorefile, "mode down"))
	moved := 0
	for i := range subnets {
		subnet := fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
		got := testkit.Values(a.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(subnet)))[0]
		if got == "192.0.2.10" {
			t.Fatalf("%s: answered 192.0.2.10, which is down", subnet)
		}
		if got != first[i] {
			moved++
			if first[i] != "192.0.2.10" {
				t.Errorf("%s moved from %s to %s, but only 192.0.2.10 went down", subnet, first[i], got)
			}
		}
	}
	if moved != spread["192.0.2.10"] {
		t.Errorf("%d subnets moved, want the %d of 192.0.2.10", moved, spread["192.0.2.10"])
	}
}
