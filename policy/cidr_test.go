package policy

import (
	"net/netip"
	"testing"
)

func TestCIDRTable(t *testing.T) {
	var tb CIDRTable[string]
	for _, p := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "192.0.2.0/25", "2001:db8::/32", "2001:db8:1::/48"} {
		tb.Insert(netip.MustParsePrefix(p), p)
	}
	tests := []struct {
		addr  string
		want  string // "" for no match
		bits  int
		scope int
	}{
		{"10.1.2.3", "10.1.2.0/24", 24, 24},
		{"10.1.3.3", "10.1.0.0/16", 16, 24}, // 10.1.2.0/24 sits next to it: 10.1.3.0/24 holds
		{"10.2.0.1", "10.0.0.0/8", 8, 15},   // 10.1.0.0/16 branches off at bit 14
		{"10.128.0.1", "10.0.0.0/8", 8, 9},  // the other half of 10/8
		{"192.0.2.200", "", 0, 25},          // next to 192.0.2.0/25
		{"203.0.113.1", "", 0, 5},           // 200.0.0.0/5 holds no rule
		{"2001:db8:1::1", "2001:db8:1::/48", 48, 48},
		{"2001:db8:2::1", "2001:db8::/32", 32, 47},
		{"2001:dead::1", "", 0, 17},
		{"::ffff:10.1.2.3", "10.1.2.0/24", 24, 24}, // mapped addresses count as IPv4
	}
	for _, tc := range tests {
		v, bits, ok, scope := tb.Lookup(netip.MustParseAddr(tc.addr))
		if ok != (tc.want != "") || v != tc.want || bits != tc.bits || scope != tc.scope {
			t.Errorf("%s: got %q/%d ok=%v scope %d, want %q/%d scope %d", tc.addr, v, bits, ok, scope, tc.want, tc.bits, tc.scope)
		}
	}
	var empty CIDRTable[int]
	if _, _, ok, scope := empty.Lookup(netip.MustParseAddr("10.0.0.1")); ok || scope != 0 {
		t.Errorf("empty table: ok=%v scope %d", ok, scope)
	}
}

func TestCIDRScopeIsTrue(t *testing.T) {
	// Every address inside the reported scope gets the same answer.
	var tb CIDRTable[int]
	for i, p := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.128/26", "11.0.0.0/8"} {
		tb.Insert(netip.MustParsePrefix(p), i)
	}
	for _, s := range []string{"10.1.2.1", "10.1.2.130", "10.1.2.200", "10.1.9.9", "10.200.0.0", "12.0.0.1", "9.9.9.9"} {
		a := netip.MustParseAddr(s)
		v, _, ok, scope := tb.Lookup(a)
		p := netip.PrefixFrom(a, scope).Masked()
		// Walk a sample of addresses across the scope prefix.
		base := p.Addr().As4()
		size := uint32(1) << (32 - scope)
		for k := uint32(0); k < 256; k++ {
			off := k * (size / 256)
			if size < 256 {
				off = k % size
			}
			x := base
			n := uint32(x[0])<<24 | uint32(x[1])<<16 | uint32(x[2])<<8 | uint32(x[3]) + off
			b := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
			v2, _, ok2, _ := tb.Lookup(b)
			if v2 != v || ok2 != ok {
				t.Fatalf("%s: scope %s claims one answer, but %s gets %d/%v instead of %d/%v", s, p, b, v2, ok2, v, ok)
			}
		}
	}
}

func BenchmarkCIDRLookup(b *testing.B) {
	var tb CIDRTable[int]
	for i := range 500 {
		tb.Insert(netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i % 223), byte(i * 7), 0, 0}), 16+i%9), i)
	}
	a := netip.MustParseAddr("100.77.3.4")
	b.ReportAllocs()
	for b.Loop() {
		tb.Lookup(a)
	}
}
