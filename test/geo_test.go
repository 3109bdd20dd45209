package test

import (
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func withECS(subnet string) opt {
	return func(m *dns.Msg) {
		_, n, _ := net.ParseCIDR(subnet)
		bits, _ := n.Mask.Size()
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(bits), Address: n.IP.To4()}
		if n.IP.To4() == nil {
			e.Family, e.Address = 2, n.IP
		}
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, e)
	}
}

func geoCorefile(db string) string {
	return `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		geoip ` + db + `
		pool de {
			address 192.0.2.49
		}
		pool world {
			address 192.0.2.1
		}
		instance www {
			rule country DE {
				primary de
			}
			rule default {
				primary world
			}
		}
	}
	cache 60
}`
}

// Regional answers through a real CoreDNS with cache in the chain: each
// subnet gets its own answer, never one cached for another subnet, and the
// reply carries the scope.
func TestGeoThroughCoreDNS(t *testing.T) {
	db := filepath.Join(t.TempDir(), "city.mmdb")
	geotest.Write(t, db, "GeoIP2-City", geotest.Fixture)
	s := start(t, geoCorefile(db))
	for i, tc := range []struct {
		subnet, want string
		scope        uint8
	}{
		{"2.125.160.0/24", "192.0.2.49", 19},
		{"1.0.0.0/24", "192.0.2.1", 24},
		{"2.126.1.0/24", "192.0.2.49", 16},
		{"1.0.0.0/24", "192.0.2.1", 24},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			r := s.ask(t, proto, "www.example.org.", dns.TypeA, withECS(tc.subnet))
			if got := testkit.Values(r); !slices.Equal(got, []string{tc.want}) {
				t.Fatalf("query %d %s ECS %s: %v, want %s", i, proto, tc.subnet, got, tc.want)
			}
			var scope uint8 = 255
			if o := r.IsEdns0(); o != nil {
				for _, op := range o.Option {
					if e, ok := op.(*dns.EDNS0_SUBNET); ok {
						scope = e.SourceScope
					}
				}
			}
			if scope != tc.scope {
				t.Fatalf("query %d %s ECS %s: scope %d, want %d", i, proto, tc.subnet, scope, tc.scope)
			}
		}
	}
}

// The same with Debian's dig, as an operator would check it.
func TestGeoWithDig(t *testing.T) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Skip("dig is not installed (Debian package bind9-dnsutils; .ci/run installs it)")
	}
	db := filepath.Join(t.TempDir(), "city.mmdb")
	geotest.Write(t, db, "GeoIP2-City", geotest.Fixture)
	s := start(t, geoCorefile(db))
	host, port, _ := net.SplitHostPort(s.udp)
	for _, tc := range []struct{ subnet, want string }{
		{"2.125.160.0/24", "192.0.2.49"},
		{"1.0.0.0/24", "192.0.2.1"},
		{"2.125.161.0/24", "192.0.2.49"},
	} {
		out, err := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=2", "+subnet="+tc.subnet,
			"www.example.org", "A").CombinedOutput()
		if err != nil {
			t.Fatalf("dig: %v\n%s", err, out)
		}
		text := string(out)
		if !strings.Contains(text, "IN\tA\t"+tc.want) {
			t.Fatalf("dig +subnet=%s: want %s in\n%s", tc.subnet, tc.want, text)
		}
		if !strings.Contains(text, "CLIENT-SUBNET: "+tc.subnet+"/") {
			t.Fatalf("dig +subnet=%s: reply lacks the client-subnet option with a scope:\n%s", tc.subnet, text)
		}
	}
}
