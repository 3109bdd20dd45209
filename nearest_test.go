package gtm

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// newNearestGTM is gtm over the Cities database and the four Sites, with
// extra (pools, instances) after them; the sites' text is edited by edit
// first (say, to take a site down or bias it).
func newNearestGTM(t *testing.T, dbType string, edit func(string) string, extra string) (*GTM, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cities.mmdb")
	geotest.Write(t, path, dbType, geotest.Cities)
	sites := geotest.Sites
	if edit != nil {
		sites = edit(sites)
	}
	g := newGTM(t, "geoip "+path+"\nexplain 127.0.0.0/8\n"+sites+geotest.Nearest+extra)
	return g, g.Engine().LoadGeo()
}

// Each client gets the nearest site, a CIDR rule still decides for its
// networks, and the ECS scope is the GeoIP network's (or the rule's).
func TestNearest(t *testing.T) {
	g, err := newNearestGTM(t, "GeoIP2-City", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"}
	for _, tc := range []struct {
		name, subnet string
		want         []string
		scope        int
	}{
		{"Frankfurt", "5.1.7.0/24", []string{"192.0.2.1"}, 16},
		{"Tokyo", "5.2.7.0/24", []string{"192.0.2.3"}, 16},
		{"São Paulo", "5.3.7.0/24", []string{"192.0.2.4"}, 16},
		{"Sydney", "5.4.7.0/24", []string{"192.0.2.3"}, 16},
		{"Warsaw", "5.5.7.0/24", []string{"192.0.2.1"}, 16},
		{"New York", "5.6.7.0/24", []string{"192.0.2.2"}, 16},
		{"Lisbon", "5.7.7.0/24", []string{"192.0.2.1"}, 16},
		{"Tokyo over IPv6", "2001:db8:2::/56", []string{"192.0.2.3"}, 48},
		// A CIDR rule overrides distance for the networks it names.
		{"cidr rule", "10.1.2.0/24", []string{"192.0.2.4"}, 8},
		// No coordinates, or not in the database: the collection as its
		// method (all) says.
		{"no coordinates", "5.8.7.0/24", all, 16},
		{"not in the database", "203.0.113.0/24", all, 0},
	} {
		m := ask(t, g, "127.0.0.1", tc.subnet)
		got := testkit.Values(m)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s (%s): %v, want %v", tc.name, tc.subnet, got, tc.want)
		}
		if s := scopeOf(t, m); s != tc.scope && !(tc.scope == 0 && s > 0) {
			t.Errorf("%s (%s): scope %d, want %d", tc.name, tc.subnet, s, tc.scope)
		}
	}
}

// With the nearest site down, the next nearest answers; a bias moves the
// border the way the README says; a tie band answers two sites together.
func TestNearestFailoverBiasTie(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(string) string
		extra  string
		subnet string
		want   []string
	}{
		{"Frankfurt, its site down", down("192.0.2.1"), "", "5.1.0.0/24", []string{"192.0.2.2"}},
		{"Tokyo, Singapore down", down("192.0.2.3"), "", "5.2.0.0/24", []string{"192.0.2.1"}},
		{"Sydney, Singapore down", down("192.0.2.3"), "", "5.4.0.0/24", []string{"192.0.2.4"}},
		// Lisbon: Frankfurt 1,890 km, Virginia 5,700 km. Virginia at bias
		// 70 counts 30 %, 1,710 km, which ties with Frankfurt (the default
		// band, 10 %); at 80, 1,140 km: Lisbon moves there; Warsaw (7,200
		// km, 1,440 as biased, Frankfurt 900) stays.
		{"Lisbon, no bias", nil, "", "5.7.0.0/24", []string{"192.0.2.1"}},
		{"Lisbon, Virginia at 70", bias("iad", 70), "", "5.7.0.0/24", []string{"192.0.2.1", "192.0.2.2"}},
		{"Lisbon, Virginia at 80", bias("iad", 80), "", "5.7.0.0/24", []string{"192.0.2.2"}},
		{"Warsaw, Virginia at 80", bias("iad", 80), "", "5.5.0.0/24", []string{"192.0.2.1"}},
		{"Lisbon, Frankfurt at -99", bias("fra", -99), "", "5.7.0.0/24", []string{"192.0.2.1"}},
		// Tokyo: Singapore 5,300 km, Frankfurt 9,350: a tie of 80 % takes both.
		{"Tokyo, tie 80%", nil, "instance tie {\n policy nearest\n tie 80%\n primary fra iad sin gru\n}\n", "5.2.0.0/24", []string{"192.0.2.1", "192.0.2.3"}},
		{"Tokyo, tie 4000km", nil, "instance tie {\n policy nearest\n tie 0% 4000km\n primary fra iad sin gru\n}\n", "5.2.0.0/24", []string{"192.0.2.3"}},
		{"Tokyo, tie 4100km", nil, "instance tie {\n policy nearest\n tie 0% 4100km\n primary fra iad sin gru\n}\n", "5.2.0.0/24", []string{"192.0.2.1", "192.0.2.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := newNearestGTM(t, "GeoIP2-City", tc.edit, tc.extra)
			if err != nil {
				t.Fatal(err)
			}
			name := "www.example.org."
			if tc.extra != "" {
				name = "tie.example.org."
			}
			got := testkit.Values(askFor(t, g, name, "127.0.0.1", tc.subnet))
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%v, want %v", got, tc.want)
			}
		})
	}
}

// down forces the address addr of the sites out.
func down(addr string) func(string) string {
	return func(s string) string { return strings.Replace(s, "address "+addr, "address "+addr+" mode down", 1) }
}

// bias gives site pool a bias.
func bias(pool string, b int) func(string) string {
	return func(s string) string {
		return strings.Replace(s, "pool "+pool+" {", "pool "+pool+" {\n\tbias "+strconv.Itoa(b), 1)
	}
}

// A Country database has no coordinates: a nearest instance over it is a
// load error naming the line of a location.
func TestNearestCountryDatabase(t *testing.T) {
	_, err := newNearestGTM(t, "GeoIP2-Country", nil, "")
	// Testfile: 1 gtm, 2 geoip, 3 explain, 4 empty, 5 pool fra, 6 address, 7 location.
	if err == nil || !strings.Contains(err.Error(), "Testfile:7 - ") || !strings.Contains(err.Error(), "location of pool 'fra': the nearest policy needs the clients' coordinates from a City database") {
		t.Fatalf("a nearest instance over a Country database: %v", err)
	}
}

// The explain query shows the client's coordinates and accuracy radius,
// each pool's distance and bias, and which answer.
func TestNearestExplain(t *testing.T) {
	g, err := newNearestGTM(t, "GeoIP2-City", bias("gru", -20), "")
	if err != nil {
		t.Fatal(err)
	}
	text := func(subnet string) string {
		var lines []string
		for _, rr := range explainQuery(t, g, "127.0.0.1", subnet).Answer {
			lines = append(lines, strings.Join(rr.(*dns.TXT).Txt, ""))
		}
		return strings.Join(lines, "\n")
	}
	tokyo := text("5.2.0.0/24")
	for _, want := range []string{
		"instance www.example.org. policy nearest, 2 rules",
		"geoip 5.2.0.0/16: continent AS country JP subdivision JP-13 (GeoIP2-City), at 35.6762 139.6503 within 50 km",
		"  distance sin (1.3521 103.8198): 5311 km, bias 0, counts 5311 km",
		"  distance fra (50.1109 8.6821): 9331 km, bias 0, counts 9331 km",
		"  distance gru (-23.5505 -46.6333): 18537 km, bias -20, counts 22245 km",
		"nearest: answering from sin (within 10% or 0 km of the nearest, 5311 km as biased; method all)",
		"ttl 30, ecs scope 16",
	} {
		if !strings.Contains(tokyo, want) {
			t.Errorf("explanation lacks %q:\n%s", want, tokyo)
		}
	}
	// Sorted nearest first.
	if i, j := strings.Index(tokyo, "distance sin"), strings.Index(tokyo, "distance iad"); i < 0 || j < i {
		t.Errorf("pools not nearest first:\n%s", tokyo)
	}
	if s := text("10.0.0.0/24"); !strings.Contains(s, "nearest: not by distance: a cidr rule decided") {
		t.Errorf("a CIDR client:\n%s", s)
	}
	if s := text("5.8.0.0/24"); !strings.Contains(s, "nearest: not by distance: the GeoIP database has no coordinates for the client") {
		t.Errorf("a client without coordinates:\n%s", s)
	}
	x, err := g.Engine().Explain("www.example.org.", netip.MustParsePrefix("5.1.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if n := x.Nearest; n == nil || !n.Used || len(n.Pools) != 4 || n.Pools[0].Pool != "fra" || n.Pools[0].Km > 1 || !slices.Equal(n.Answering, []string{"fra"}) ||
		x.GeoIP.Coordinates == nil || x.GeoIP.Coordinates.AccuracyRadiusKm != 20 || !slices.Equal(x.Answer, []string{"192.0.2.1"}) {
		t.Errorf("Explain for Frankfurt: %+v %+v", x.Nearest, x.GeoIP)
	}
}

// A replaced database file moves the clients' coordinates without a
// restart; a Country file in its place is refused (it has no
// coordinates) and the City one stays in use.
func TestNearestHotReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cities.mmdb")
	geotest.Write(t, path, "GeoIP2-City", geotest.Cities)
	g := newGTM(t, "geoip "+path+"\n"+geotest.Sites+geotest.Nearest)
	if err := g.Engine().LoadGeo(); err != nil {
		t.Fatal(err)
	}
	g.Engine().GeoCheck = 20 * time.Millisecond
	if err := g.OnStartup(); err != nil {
		t.Fatal(err)
	}
	defer g.OnShutdown()
	if got := testkit.Values(ask(t, g, "127.0.0.1", "5.2.0.0/24")); !slices.Equal(got, []string{"192.0.2.3"}) {
		t.Fatalf("Tokyo before the update: %v", got)
	}
	// The update moves 5.2.0.0/16 to São Paulo.
	moved := slices.Clone(geotest.Cities)
	moved[1].Lat, moved[1].Lon = -23.5505, -46.6333
	time.Sleep(10 * time.Millisecond) // a modification time the check can tell apart
	geotest.Write(t, path, "GeoIP2-City", moved)
	testkit.Eventually(t, "reload", 3*time.Second, func() bool {
		return slices.Equal(testkit.Values(ask(t, g, "127.0.0.1", "5.2.0.0/24")), []string{"192.0.2.4"})
	})
	failures := metric(t, "geoip_reloads_total", "failure")
	time.Sleep(10 * time.Millisecond)
	geotest.Write(t, path, "GeoIP2-Country", geotest.Cities)
	testkit.Eventually(t, "the Country file refused", 3*time.Second, func() bool {
		return metric(t, "geoip_reloads_total", "failure") > failures
	})
	if got := testkit.Values(ask(t, g, "127.0.0.1", "5.2.0.0/24")); !slices.Equal(got, []string{"192.0.2.4"}) {
		t.Fatalf("after a Country file the City one must stay: %v", got)
	}
}
