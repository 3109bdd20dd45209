package policy

import (
	"net/netip"
	"testing"

	"github.com/gtm-project/gtm/config"
)

func v6pool(name string, addrs ...string) *config.Pool {
	p := &config.Pool{Name: name, Type: config.TypeAAAA, MinAvailable: config.DefaultThreshold}
	for _, a := range addrs {
		p.Addresses = append(p.Addresses, &config.Address{IP: netip.MustParseAddr(a), Weight: 1})
	}
	return p
}

// A dual-stack collection is available only when each family it holds has
// an available pool; its family views hold that family's pools alone.
func TestCollectionFamilies(t *testing.T) {
	v4 := pool("a", config.MethodAll, 0, 1, 1)
	v4.Type = config.TypeA
	v6 := v6pool("a6", "2001:db8::1")
	up := func(*config.Address) bool { return true }
	down := func(*config.Address) bool { return false }
	col := &config.Collection{Members: []config.Member{{Pool: "a", Weight: 1}, {Pool: "a6", Weight: 1}}, MinAvailable: config.DefaultThreshold}
	for _, tc := range []struct {
		name       string
		v4, v6     func(*config.Address) bool
		available  bool
		fam4, fam6 int // available pools of each family's view
	}{
		{"both up", up, up, true, 1, 1},
		{"IPv6 down", up, down, false, 1, 0},
		{"IPv4 down", down, up, false, 0, 1},
	} {
		pools := map[string]*Pool{"a": NewPool(v4, tc.v4), "a6": NewPool(v6, tc.v6)}
		c := NewCollection(col, func(n string) *Pool { return pools[n] }, false)
		if c.Available != tc.available {
			t.Errorf("%s: available %v", tc.name, c.Available)
		}
		var f4, f6 Collection
		c.FamilyInto(config.TypeA, &f4, nil)
		c.FamilyInto(config.TypeAAAA, &f6, make([]Member, 4))
		if len(f4.Avail) != tc.fam4 || len(f6.Avail) != tc.fam6 || len(f4.Members) != 1 || len(f6.Members) != 1 {
			t.Errorf("%s: family views %+v %+v", tc.name, f4, f6)
		}
		var buf [16]*Addr
		for _, a := range f6.Pick(buf[:0], seeded()) {
			if !a.IP.Is6() {
				t.Errorf("%s: the IPv6 view answered %s", tc.name, a.IP)
			}
		}
	}
}

// Fixed addresses of both families make one pool per family.
func TestFixedFamilies(t *testing.T) {
	c := Fixed([]*config.Address{{IP: netip.MustParseAddr("192.0.2.9"), Weight: 1}, {IP: netip.MustParseAddr("2001:db8::9"), Weight: 1}})
	var f6 Collection
	c.FamilyInto(config.TypeAAAA, &f6, nil)
	var buf [16]*Addr
	if got := f6.Pick(buf[:0], seeded()); len(got) != 1 || got[0].IP.String() != "2001:db8::9" {
		t.Errorf("fallback IPv6 view answered %v", got)
	}
	if len(c.Members) != 2 || !c.Available {
		t.Errorf("fixed %+v", c)
	}
}
