package test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// The nearest policy through a real CoreDNS with cache in the chain: four
// sites on loopback addresses, each TCP-probed on its own listener; each
// city's subnet gets its nearest site, never an answer cached for another
// subnet; with Frankfurt's listener closed, Frankfurt's clients get the
// next nearest (Virginia), and Tokyo's are untouched.
func TestNearestThroughCoreDNS(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cities.mmdb")
	geotest.Write(t, db, "GeoIP2-City", geotest.Cities)
	sites := []struct {
		name, addr string
		lat, lon   float64
	}{
		{"fra", "127.0.0.11", 50.1109, 8.6821},
		{"iad", "127.0.0.12", 39.0438, -77.4874},
		{"sin", "127.0.0.13", 1.3521, 103.8198},
		{"gru", "127.0.0.14", -23.5505, -46.6333},
	}
	body := ""
	var fraListener interface{ Close() error }
	for i, s := range sites {
		ln, port := testkit.ListenTCP(t, s.addr+":0")
		if i == 0 {
			fraListener = ln
		}
		body += fmt.Sprintf("\t\tmonitor %s {\n\t\t\tprotocol tcp\n\t\t\tport %d\n\t\t\tinterval 100ms\n\t\t\ttimeout 80ms\n\t\t\tfall 1\n\t\t\trise 1\n\t\t}\n", s.name, port)
		body += fmt.Sprintf("\t\tpool %s {\n\t\t\tmonitor %s\n\t\t\taddress %s\n\t\t\tlocation %v %v\n\t\t}\n", s.name, s.name, s.addr, s.lat, s.lon)
	}
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		geoip `+db+`
`+body+`		instance www {
			policy nearest
			primary fra iad sin gru
		}
	}
	cache 60
}`)
	check := func(what, subnet, want string, scope uint8) {
		t.Helper()
		for _, proto := range []string{"udp", "tcp"} {
			r := s.ask(t, proto, "www.example.org.", dns.TypeA, withECS(subnet))
			if got := testkit.Values(r); !slices.Equal(got, []string{want}) {
				t.Fatalf("%s %s ECS %s: %v, want %s", what, proto, subnet, got, want)
			}
			if got := ecsScope(r); got != scope {
				t.Fatalf("%s %s ECS %s: scope %d, want %d", what, proto, subnet, got, scope)
			}
		}
	}
	testkit.Eventually(t, "every site healthy", 5*time.Second, func() bool {
		return slices.Equal(testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS("5.1.0.0/24"))), []string{"127.0.0.11"})
	})
	check("Frankfurt", "5.1.0.0/24", "127.0.0.11", 16)
	check("Tokyo", "5.2.0.0/24", "127.0.0.13", 16)
	check("São Paulo", "5.3.0.0/24", "127.0.0.14", 16)
	check("Sydney", "5.4.0.0/24", "127.0.0.13", 16)
	check("New York", "5.6.0.0/24", "127.0.0.12", 16)
	check("Tokyo over IPv6", "2001:db8:2::/56", "127.0.0.13", 48)
	check("Frankfurt again", "5.1.1.0/24", "127.0.0.11", 16)

	fraListener.Close()
	// A new subnet each time, so that cache (which keys on the ECS
	// subnet) cannot answer for it.
	n := 0
	testkit.Eventually(t, "Frankfurt's clients to move to Virginia", 5*time.Second, func() bool {
		n++
		subnet := fmt.Sprintf("5.1.%d.0/24", 10+n%200)
		return slices.Equal(testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(subnet))), []string{"127.0.0.12"})
	})
	check("Frankfurt, its site down", "5.1.250.0/24", "127.0.0.12", 16)
	check("Tokyo, Frankfurt down", "5.2.250.0/24", "127.0.0.13", 16)
}

// ecsScope is the scope of the reply's client-subnet option, 255 when it
// has none.
func ecsScope(m *dns.Msg) uint8 {
	if o := m.IsEdns0(); o != nil {
		for _, op := range o.Option {
			if e, ok := op.(*dns.EDNS0_SUBNET); ok {
				return e.SourceScope
			}
		}
	}
	return 255
}
