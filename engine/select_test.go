package engine

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/config"
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
			r, _, _ := e.decide(in, c)
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
				r, _, _ := e.decide(in, c)
				r.active.Pick(buf[:0], e.Rand)
			}
		})
	}
}

// tenSites is a nearest instance over ten sites around the world, with a
// City database of the Cities, for the selection tests and benchmarks.
func tenSites(t testing.TB) *Engine {
	path := filepath.Join(t.TempDir(), "cities.mmdb")
	geotest.Write(t, path, "GeoIP2-City", geotest.Cities)
	var sb strings.Builder
	sb.WriteString("geoip " + path + "\n")
	names := []string{}
	for i, at := range [][2]float64{{50.11, 8.68}, {39.04, -77.49}, {1.35, 103.82}, {-23.55, -46.63}, {35.68, 139.65},
		{-33.87, 151.21}, {51.51, -0.13}, {37.77, -122.42}, {19.08, 72.88}, {-26.20, 28.05}} {
		fmt.Fprintf(&sb, "pool s%d {\n address 192.0.2.%d\n location %v %v\n}\n", i, i+1, at[0], at[1])
		names = append(names, fmt.Sprintf("s%d", i))
	}
	fmt.Fprintf(&sb, "instance www {\n policy nearest\n primary %s\n}\n", strings.Join(names, " "))
	e := New(parseConfig(t, sb.String()))
	if err := e.LoadGeo(); err != nil {
		t.Fatal(err)
	}
	return e
}

// The nearest selection (GeoIP with coordinates, ten distances, the tie
// band, the method) allocates nothing either.
func TestNearestSelectionAllocs(t *testing.T) {
	e := tenSites(t)
	in := e.snap.Load().instance("www.example.org.")
	for _, a := range []string{"5.1.0.1", "5.2.0.1", "5.8.0.1", "2001:db8:2::1", "203.0.113.1"} {
		c := clientAddr{addr: netip.MustParseAddr(a), fromECS: true}
		r, _, at := e.decide(in, c)
		var buf [16]*policy.Addr
		if picks := in.pick(buf[:0], r, at, c.addr, e.Rand); len(picks) == 0 {
			t.Fatalf("%s: no answer", a)
		}
		if n := testing.AllocsPerRun(200, func() {
			r, _, at := e.decide(in, c)
			in.pick(buf[:0], r, at, c.addr, e.Rand)
		}); n != 0 {
			t.Errorf("%s: %v allocations per selection, want 0", a, n)
		}
	}
}

// BenchmarkSelectionNearest is BenchmarkSelection's path for a nearest
// instance of ten sites: a client with coordinates, and one without.
func BenchmarkSelectionNearest(b *testing.B) {
	e := tenSites(b)
	in := e.snap.Load().instance("www.example.org.")
	for _, tc := range []struct{ name, addr string }{{"located", "5.2.0.1"}, {"unlocated", "5.8.0.1"}} {
		c := clientAddr{addr: netip.MustParseAddr(tc.addr), fromECS: true}
		b.Run(tc.name, func(b *testing.B) {
			var buf [16]*policy.Addr
			e.decide(in, c)
			b.ReportAllocs()
			for b.Loop() {
				r, _, at := e.decide(in, c)
				in.pick(buf[:0], r, at, c.addr, e.Rand)
			}
		})
	}
}

// A pool moved through Apply answers from its new place at once; a pool
// of a nearest instance without a location, or out of range, is refused
// and nothing changes.
func TestApplyNearestLocation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cities.mmdb")
	geotest.Write(t, path, "GeoIP2-City", geotest.Cities)
	e := newEngine(t, "geoip "+path+"\n"+geotest.Sites+geotest.Nearest)
	if err := e.LoadGeo(); err != nil {
		t.Fatal(err)
	}
	Start(e)
	t.Cleanup(e.Stop)
	tokyo := clientAddr{addr: netip.MustParseAddr("5.2.0.1"), fromECS: true}
	answer := func() string {
		in := e.snap.Load().instance("www.example.org.")
		r, _, at := e.decide(in, tokyo)
		var buf [16]*policy.Addr
		return in.pick(buf[:0], r, at, tokyo.addr, e.Rand)[0].Pool.Name
	}
	if got := answer(); got != "sin" {
		t.Fatalf("Tokyo answered from %s, want sin", got)
	}
	// São Paulo's pool moves to Osaka: Tokyo's nearest now.
	gru := poolOf("gru", "", "192.0.2.4")
	gru.Location = &config.Location{Lat: 34.69, Lon: 135.50}
	if err := e.Apply(Change{Pools: []*config.Pool{gru}}); err != nil {
		t.Fatal(err)
	}
	if got := answer(); got != "gru" {
		t.Errorf("after the move Tokyo answered from %s, want gru", got)
	}
	// negative
	for _, tc := range []struct {
		loc  *config.Location
		bias int
		err  string
	}{
		{nil, 0, "pool 'gru' has no location, but instance 'www.example.org.' uses the nearest policy"},
		{&config.Location{Lat: -91, Lon: 0}, 0, "latitude -91 of pool 'gru' is out of range"},
		{&config.Location{Lat: 0, Lon: 181}, 0, "longitude 181 of pool 'gru' is out of range"},
		{&config.Location{Lat: 0, Lon: 0}, 100, "bias 100 of pool 'gru' is out of range (-99 to 99)"},
	} {
		bad := poolOf("gru", "", "192.0.2.4")
		bad.Location, bad.Bias = tc.loc, tc.bias
		if err := e.Apply(Change{Pools: []*config.Pool{bad}}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("location %v bias %d: %v, want %q", tc.loc, tc.bias, err, tc.err)
		}
		if got := answer(); got != "gru" {
			t.Errorf("a refused change moved Tokyo to %s", got)
		}
	}
}

// An asn rule's selection (CIDR trie, ASN database, then GeoIP) allocates
// nothing either, and explain says which system the client is in.
func TestASNSelection(t *testing.T) {
	dir := t.TempDir()
	asn, city := filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "city.mmdb")
	geotest.WriteASN(t, asn, "GeoLite2-ASN", geotest.Carriers)
	geotest.Write(t, city, "GeoIP2-City", geotest.Fixture)
	e := newEngine(t, "asn "+asn+"\ngeoip "+city+"\n"+geotest.Pools+`
instance www {
	rule cidr 81.2.69.128/25 {
		primary cidr
	}
	rule asn 4134 4837 {
		primary europe
	}
	rule country DE {
		primary germany
	}
	rule default {
		primary world
	}
}`)
	if err := e.LoadGeo(); err != nil {
		t.Fatal(err)
	}
	in := e.snap.Load().instance("www.example.org.")
	for _, tc := range []struct {
		addr, pool string
		scope      int
	}{
		{"81.2.69.200", "cidr", 25}, {"81.2.69.1", "europe", 25}, {"1.0.0.1", "europe", 24},
		{"2.125.160.1", "germany", 19}, {"198.51.100.1", "world", 24},
	} {
		c := clientAddr{addr: netip.MustParseAddr(tc.addr), fromECS: true}
		r, scope, at := e.decide(in, c)
		var buf [16]*policy.Addr
		if got := in.pick(buf[:0], r, at, c.addr, e.Rand)[0].Pool.Name; got != tc.pool || scope != tc.scope {
			t.Errorf("%s: pool %s scope %d, want %s scope %d", tc.addr, got, scope, tc.pool, tc.scope)
		}
		if n := testing.AllocsPerRun(200, func() {
			r, _, at := e.decide(in, c)
			in.pick(buf[:0], r, at, c.addr, e.Rand)
		}); n != 0 {
			t.Errorf("%s: %v allocations per selection, want 0", tc.addr, n)
		}
	}
	x, err := e.Explain("www.example.org.", netip.MustParsePrefix("1.0.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if x.MatchedBy != "asn" || x.ASN == nil || x.ASN.Number != 4134 || !strings.Contains(strings.Join(x.Lines, "\n"), "asn 1.0.0.0/24: AS4134 (GeoLite2-ASN)") {
		t.Errorf("explain: matched by %s, %+v\n%s", x.MatchedBy, x.ASN, strings.Join(x.Lines, "\n"))
	}
}

// BenchmarkSelectionHash is the selection path of an instance whose pool
// answers by hash: ten addresses, two answers, an IPv4 and an IPv6 client.
func BenchmarkSelectionHash(b *testing.B) {
	e := New(parseConfig(b, `
pool sticky {
	address 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5
	address 192.0.2.6 192.0.2.7 192.0.2.8 192.0.2.9 192.0.2.10 weight 3
	method hash
	max-answers 2
}
instance www {
	primary sticky
}`))
	in := e.snap.Load().instance("www.example.org.")
	for _, addr := range []string{"198.51.100.7", "2001:db8:1:2::7"} {
		c := clientAddr{addr: netip.MustParseAddr(addr), fromECS: true}
		b.Run(addr, func(b *testing.B) {
			var buf [16]*policy.Addr
			b.ReportAllocs()
			for b.Loop() {
				r, _, at := e.decide(in, c)
				in.pick(buf[:0], r, at, c.addr, e.Rand)
			}
		})
	}
}

// An asn file that is missing or not an ASN database stops the start,
// naming the line of 'asn'.
func TestASNDatabaseRefused(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	geotest.Write(t, city, "GeoIP2-City", geotest.Fixture)
	body := geotest.Pools + "\ninstance www {\n primary world\n rule asn 4134 {\n  primary europe\n }\n}\n"
	for _, tc := range []struct{ file, want string }{
		{city, "is a GeoIP2-City database; asn needs a GeoLite2-ASN or GeoIP2-ISP one"},
		{filepath.Join(dir, "missing.mmdb"), "no such file"},
	} {
		e := newEngine(t, "asn "+tc.file+"\n"+body)
		err := e.LoadGeo()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Testfile:2 - ") {
			t.Errorf("%s: %v, want an error at line 2 containing %q", tc.file, err, tc.want)
		}
	}
}
