package config

import (
	"net/netip"
	"testing"
	"unsafe"
)

// What an Arena returns is the caller's own: appending to one slice, or
// setting a property, leaves its neighbours as they were.
func TestArenaIsolation(t *testing.T) {
	var a Arena
	one := a.Addresses([]Address{{IP: netip.MustParseAddr("192.0.2.1")}})
	two := a.Addresses([]Address{{IP: netip.MustParseAddr("192.0.2.2")}, {IP: netip.MustParseAddr("192.0.2.3")}})
	grown := append(one, &Address{IP: netip.MustParseAddr("192.0.2.9")})
	if two[0].Value() != "192.0.2.2" || grown[0] != one[0] || len(one) != 1 {
		t.Errorf("append to one address slice wrote over the next: %v", two[0].Value())
	}
	if a.Addresses(nil) != nil || a.Props(Props{}) != nil {
		t.Error("nothing should come back nil")
	}
	p := a.Props(Props{{"ttl", Pos{Line: 1}}})
	q := a.Props(Props{{"tie", Pos{Line: 2}}})
	p.Set("switch", Pos{Line: 3})
	if q.At("tie", Pos{}).Line != 2 || q.Has("switch") || !p.Has("switch") || p.At("ttl", Pos{}).Line != 1 {
		t.Errorf("Set on one Props changed another: %v %v", p, q)
	}
	vals := []Address{{Weight: 7}}
	got := a.Addresses(vals)
	vals[0].Weight = 8
	if got[0].Weight != 7 {
		t.Error("the arena's addresses are not copies")
	}
}

// Strings from the arena are copies, equal to what was given, and do not
// keep the given string's memory: changing the source bytes does not
// change them.
func TestArenaString(t *testing.T) {
	var a Arena
	src := []byte("pool-one")
	s1 := a.String(string(src))
	s2 := a.String("pool-two")
	src[0] = 'X'
	if s1 != "pool-one" || s2 != "pool-two" || a.String("") != "" {
		t.Fatalf("arena strings %q %q", s1, s2)
	}
	if unsafe.StringData(s2) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s1)), len(s1))) {
		t.Error("two short strings do not share a chunk")
	}
}
