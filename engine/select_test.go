package engine

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/policy"
)

// The selection path (rule match, collection, method) allocates nothing,
// whatever kind of rule decides.
func TestSelectionAllocs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	geotest.Write(t, path, "GeoIP2-City", geotest.Fixture)
	e := newEngine(t, "geoip "+path+"\n"+geotest.Pools+geotest.Instance)
	if err := e.LoadGeo(); err != nil {
		t.Fatal(err)
	}
	in := e.snap.Load().instance("www.example.org.")
	for _, a := range []string{"81.2.69.200", "2.125.160.1", "2.126.0.1", "81.2.69.1", "1.0.0.1", "2001:db8::1"} {
		c := clientAddr{addr: netip.MustParseAddr(a), fromECS: true}
		e.decide(in, c) // first sight of a GeoIP record decodes it, once
		var buf [16]*policy.Addr
		if n := testing.AllocsPerRun(200, func() {
			r, _ := e.decide(in, c)
			r.active.Pick(buf[:0], e.Rand)
		}); n != 0 {
			t.Errorf("%s: %v allocations per selection, want 0", a, n)
		}
	}
}

// BenchmarkSelection is the selection path alone: client → rule (CIDR trie,
// GeoIP, maps) → active collection → method. It must not allocate.
func BenchmarkSelection(b *testing.B) {
	e := New(parseConfig(b, geotest.LargeGeo(b)))
	if err := e.LoadGeo(); err != nil {
		b.Fatal(err)
	}
	in := e.snap.Load().instance("www.example.org.")
	for _, tc := range []struct{ name, addr string }{
		{"cidr", "10.1.77.9"},
		{"subdivision", "100.65.4.1"},
		{"country", "2.126.3.4"},
		{"default", "203.0.113.9"},
	} {
		c := clientAddr{addr: netip.MustParseAddr(tc.addr), fromECS: true}
		b.Run(tc.name, func(b *testing.B) {
			var buf [16]*policy.Addr
			e.decide(in, c) // warm the GeoIP record cache
			b.ReportAllocs()
			for b.Loop() {
				r, _ := e.decide(in, c)
				r.active.Pick(buf[:0], e.Rand)
			}
		})
	}
}
