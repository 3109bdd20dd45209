package policy

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"

	"github.com/gtm-project/gtm/config"
)

// Places, in decimal degrees.
var (
	frankfurt = [2]float64{50.1109, 8.6821}
	ashburn   = [2]float64{39.0438, -77.4874}
	singapore = [2]float64{1.3521, 103.8198}
	saoPaulo  = [2]float64{-23.5505, -46.6333}
	tokyo     = [2]float64{35.6762, 139.6503}
	sydney    = [2]float64{-33.8688, 151.2093}
	london    = [2]float64{51.5074, -0.1278}
	paris     = [2]float64{48.8566, 2.3522}
	warsaw    = [2]float64{52.2297, 21.0122}
	rio       = [2]float64{-22.9068, -43.1729}
)

func at(p [2]float64) Point { return PointAt(p[0], p[1]) }

// The distances of known pairs, against the WGS84 ellipsoid's geodesic
// (Vincenty's inverse formula; LHR–JFK and SYD–LAX are the figures Great
// Circle Mapper publishes), within 0.5 %: the sphere's error, never more.
func TestDistanceKnownPairs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, b   [2]float64
		wantKm float64
	}{
		{"LHR-JFK", [2]float64{51.4706, -0.461941}, [2]float64{40.6398, -73.7789}, 5554.5},
		{"SYD-LAX", [2]float64{-33.9461, 151.177}, [2]float64{33.9425, -118.408}, 12050.7},
		{"FRA-SIN", [2]float64{50.0333, 8.5706}, [2]float64{1.3502, 103.994}, 10282.6},
		{"London-Paris", london, paris, 343.9},
		{"Frankfurt-Tokyo", frankfurt, tokyo, 9354.3},
		{"São Paulo-Sydney", saoPaulo, sydney, 13376.6},
		{"Ashburn-Frankfurt", ashburn, frankfurt, 6566.1},
		{"Singapore-Sydney", singapore, sydney, 6300.9},
		{"Quito-Singapore (near antipodes)", [2]float64{-0.1807, -78.4678}, singapore, 19743.4},
		{"Anchorage-Oslo (over the pole)", [2]float64{61.2181, -149.9003}, [2]float64{59.9139, 10.7522}, 6467.3},
	} {
		got := at(tc.a).Km(at(tc.b))
		if back := at(tc.b).Km(at(tc.a)); back != got {
			t.Errorf("%s: %.1f km one way, %.1f km back", tc.name, got, back)
		}
		if e := math.Abs(got-tc.wantKm) / tc.wantKm; e > 0.005 {
			t.Errorf("%s: %.1f km, want %.1f km within 0.5%% (off by %.2f%%)", tc.name, got, tc.wantKm, 100*e)
		}
	}
	if d := at(frankfurt).Km(at(frankfurt)); d != 0 {
		t.Errorf("a place is %g km from itself", d)
	}
	// A short distance stays exact: 0.001° of latitude is 111 m.
	if d := PointAt(50, 8).Km(PointAt(50.001, 8)); math.Abs(d-0.1112) > 0.0005 {
		t.Errorf("0.001° of latitude is %.4f km, want 0.1112", d)
	}
}

func TestAsin(t *testing.T) {
	worst := 0.0
	for i := range 100001 {
		x := float64(i) / 100000
		worst = max(worst, math.Abs(asin(x)-math.Asin(x)))
	}
	if worst > 2.5e-8 {
		t.Errorf("asin is off by up to %g radians", worst)
	}
}

// Bias counts a distance (100-bias) %: Route 53's scale.
func TestBiasArithmetic(t *testing.T) {
	for _, tc := range []struct {
		km   float64
		bias int
		want float64
	}{
		{1000, 0, 1000}, {1000, 50, 500}, {1000, -50, 1500}, {1000, 99, 10}, {1000, -99, 1990}, {0, 99, 0},
	} {
		if got := Biased(tc.km, tc.bias); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Biased(%g, %d) = %g, want %g", tc.km, tc.bias, got, tc.want)
		}
		p := NewPool(located("p", [2]float64{0, 0}, tc.bias), all)
		km, biased := p.Distance(PointAt(0, tc.km/EarthRadiusKm*180/math.Pi))
		if math.Abs(km-tc.km) > 1e-6*tc.km+1e-9 || math.Abs(biased-tc.want) > 1e-6*tc.want+1e-9 {
			t.Errorf("bias %d at %g km: pool says %g km, biased %g; want %g", tc.bias, tc.km, km, biased, tc.want)
		}
	}
	// The border between two sites moves the way the README says: with
	// Frankfurt at bias 50, Warsaw (about 900 km from Frankfurt, 1,450 km
	// from London) stays with Frankfurt; Paris (about 480 km from
	// Frankfurt, 344 km from London) moves to Frankfurt too, which without
	// bias is London's.
	fra, lon := at(frankfurt), at(london)
	for _, tc := range []struct {
		name   string
		client [2]float64
		bias   int
		want   string
	}{
		{"Paris, no bias", paris, 0, "lon"},
		{"Paris, Frankfurt at 50", paris, 50, "fra"},
		{"Warsaw, Frankfurt at -50", warsaw, -50, "fra"},
		{"Warsaw, Frankfurt at -70", warsaw, -70, "lon"},
	} {
		c := at(tc.client)
		f, l := Biased(fra.Km(c), tc.bias), lon.Km(c)
		got := "lon"
		if f < l {
			got = "fra"
		}
		if got != tc.want {
			t.Errorf("%s: Frankfurt counts %.0f km, London %.0f km: %s, want %s", tc.name, f, l, got, tc.want)
		}
	}
}

// located is a one-address pool at place p, with bias.
func located(name string, p [2]float64, bias int) *config.Pool {
	cp := pool(name, config.MethodAll, 0, 1)
	cp.Addresses[0].IP = netip.AddrFrom4([4]byte{10, 0, byte(len(name)), name[0]})
	cp.Location, cp.Bias = &config.Location{Lat: p[0], Lon: p[1]}, bias
	return cp
}

// sites is a collection over pools at the given places, named as given.
func sites(method config.Method, down map[string]bool, places map[string][2]float64, bias map[string]int) *Collection {
	names := make([]string, 0, len(places))
	for n := range places {
		names = append(names, n)
	}
	slices.Sort(names)
	pools := map[string]*Pool{}
	col := &config.Collection{Method: method, MinAvailable: config.DefaultThreshold}
	for _, n := range names {
		usable := all
		if down[n] {
			usable = func(*config.Address) bool { return false }
		}
		pools[n] = NewPool(located(n, places[n], bias[n]), usable)
		col.Members = append(col.Members, config.NewMember(config.Pos{}, n))
	}
	return NewCollection(col, lookup(pools), false)
}

// answered is the pools an answer came from, sorted.
func answered(picks []*Addr) []string {
	var out []string
	for _, a := range picks {
		if !slices.Contains(out, a.Pool.Name) {
			out = append(out, a.Pool.Name)
		}
	}
	slices.Sort(out)
	return out
}

func TestPickNearest(t *testing.T) {
	four := map[string][2]float64{"fra": frankfurt, "iad": ashburn, "sin": singapore, "gru": saoPaulo}
	for _, tc := range []struct {
		name    string
		client  [2]float64
		method  config.Method
		down    map[string]bool
		bias    map[string]int
		pct, km int
		want    []string
	}{
		// positive
		{name: "Frankfurt", client: frankfurt, want: []string{"fra"}},
		{name: "Tokyo", client: tokyo, want: []string{"sin"}},
		{name: "São Paulo", client: saoPaulo, want: []string{"gru"}},
		{name: "Sydney", client: sydney, want: []string{"sin"}},
		{name: "Frankfurt, its site down", client: frankfurt, down: map[string]bool{"fra": true}, want: []string{"iad"}},
		{name: "Tokyo, Singapore down", client: tokyo, down: map[string]bool{"sin": true}, want: []string{"fra"}},
		// Tokyo: Singapore 5,300 km, Frankfurt 9,330 km. A tie of 80 %
		// takes in Frankfurt; 4,100 km does too; 3,000 km does not.
		{name: "Tokyo, tie 80%", client: tokyo, pct: 80, want: []string{"fra", "sin"}},
		{name: "Tokyo, tie 4100km", client: tokyo, km: 4100, want: []string{"fra", "sin"}},
		{name: "Tokyo, tie 3000km", client: tokyo, km: 3000, want: []string{"sin"}},
		{name: "Tokyo, tie 80%, sequence", client: tokyo, pct: 80, method: config.MethodSequence, want: []string{"fra"}},
		// Bias: Singapore at -80 counts 9,540 km from Tokyo: Frankfurt wins.
		{name: "Tokyo, Singapore biased away", client: tokyo, bias: map[string]int{"sin": -80}, want: []string{"fra"}},
		{name: "Tokyo, Singapore biased -70", client: tokyo, bias: map[string]int{"sin": -70}, want: []string{"sin"}},
		// Frankfurt at 99 counts 1 %: Rio (9,500 km from Frankfurt, 360
		// from São Paulo) goes there.
		{name: "Rio", client: rio, want: []string{"gru"}},
		{name: "Rio, Frankfurt at 99", client: rio, bias: map[string]int{"fra": 99}, want: []string{"fra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := sites(tc.method, tc.down, four, tc.bias)
			var buf [16]*Addr
			got := answered(c.PickNearest(buf[:0], seeded(), at(tc.client), tc.pct, float64(tc.km)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("answered from %v, want %v", got, tc.want)
			}
		})
	}
	// Tied pools answer as the method says: weight draws one of them,
	// each about half the time, and never a pool outside the band.
	c := sites(config.MethodWeight, nil, four, nil)
	r := seeded()
	got := share(10000, func(dst []*Addr) []*Addr { return c.PickNearest(dst, r, at(tokyo), 80, 0) })
	fra, sin := got["10.0.3.102"], got["10.0.3.115"]
	if len(got) != 2 || math.Abs(fra-0.5) > 0.03 || math.Abs(sin-0.5) > 0.03 {
		t.Errorf("weighted over a tie of Frankfurt and Singapore: %v", got)
	}
}

// More pools than fit on the stack still pick the nearest.
func TestPickNearestMany(t *testing.T) {
	places := map[string][2]float64{}
	for i := range 40 {
		places[fmt.Sprintf("p%02d", i)] = [2]float64{float64(i*4 - 80), float64(i*9 - 180)}
	}
	c := sites(config.MethodAll, nil, places, nil)
	var buf [16]*Addr
	if got := answered(c.PickNearest(buf[:0], seeded(), PointAt(41, 90), 0, 0)); !slices.Equal(got, []string{"p30"}) {
		t.Errorf("answered from %v, want p30", got)
	}
}

func TestPickNearestAllocs(t *testing.T) {
	places := map[string][2]float64{}
	for i := range 10 {
		places[fmt.Sprintf("p%d", i)] = [2]float64{float64(i*15 - 70), float64(i*35 - 170)}
	}
	for _, m := range []config.Method{config.MethodAll, config.MethodWeight, config.MethodSequence} {
		c := sites(m, nil, places, nil)
		var buf [16]*Addr
		client := PointAt(48.1, 11.6)
		if n := testing.AllocsPerRun(1000, func() { c.PickNearest(buf[:0], DefaultRand, client, 50, 500) }); n != 0 {
			t.Errorf("%s: %v allocations per pick", m, n)
		}
	}
}

func BenchmarkPickNearest10(b *testing.B) {
	places := map[string][2]float64{}
	for i := range 10 {
		places[fmt.Sprintf("p%d", i)] = [2]float64{float64(i*15 - 70), float64(i*35 - 170)}
	}
	c := sites(config.MethodAll, nil, places, nil)
	var buf [16]*Addr
	client := PointAt(48.1, 11.6)
	b.ReportAllocs()
	for b.Loop() {
		c.PickNearest(buf[:0], DefaultRand, client, 10, 0)
	}
}
