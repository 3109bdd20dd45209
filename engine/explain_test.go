package engine

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/metrictest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// geoExplainEngine is a started engine over the geo tests' database and
// instance, and an instance with ecs off, with explain on for everyone.
func geoExplainEngine(t *testing.T) *Engine {
	t.Helper()
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	geotest.Write(t, path, "GeoIP2-City", geotest.Fixture)
	e := newEngine(t, "geoip "+path+"\nexplain 0.0.0.0/0 ::/0\n"+geotest.Pools+geotest.Instance+
		"instance noecs {\n ecs off\n rule country DE {\n  primary germany\n }\n rule default {\n  primary world\n }\n}\n")
	if err := e.LoadGeo(); err != nil {
		t.Fatal(err)
	}
	Start(e)
	t.Cleanup(e.Stop)
	return e
}

// dnsExplain is the DNS explain query's text for name from src, with an
// ECS option for subnet when it is valid.
func dnsExplain(t *testing.T, e *Engine, name string, src netip.Addr, subnet netip.Prefix) []string {
	t.Helper()
	r := new(dns.Msg)
	r.SetQuestion(explainLabel+name, dns.TypeTXT)
	r.SetEdns0(1232, false)
	if subnet.IsValid() {
		fam, ip := uint16(1), net.IP(subnet.Addr().AsSlice())
		if subnet.Addr().Is6() {
			fam = 2
		}
		r.IsEdns0().Option = append(r.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam,
			SourceNetmask: uint8(subnet.Bits()), Address: ip})
	}
	m, _ := e.Answer(Query{Req: r, Name: explainLabel + name, Type: dns.TypeTXT, Zone: "example.org.", TCP: true,
		Remote: &net.TCPAddr{IP: src.AsSlice(), Port: 53}})
	var lines []string
	for _, rr := range m.Answer {
		lines = append(lines, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return lines
}

// One decision, two renderings: Explain for a subnet says what the DNS
// explain query says for an ECS option of that subnet, and for an address
// what it says for that query source.
func TestExplainMatchesDNS(t *testing.T) {
	e := geoExplainEngine(t)
	for _, tc := range []struct{ name, subnet string }{
		{"www.example.org.", "2.125.160.0/24"},
		{"www.example.org.", "81.2.69.128/25"},
		{"www.example.org.", "1.0.0.0/24"},
		{"www.example.org.", "203.0.113.0/24"},
		{"www.example.org.", "2001:db8::/48"},
		{"www.example.org.", "::ffff:2.125.160.0/120"},
		{"noecs.example.org.", "2.126.0.0/16"},
		{"www.example.org.", ""},
		{"noecs.example.org.", ""},
	} {
		// From the subnet's address over DNS: what an instance with
		// ecs off decides by, and what Explain takes for it.
		var subnet netip.Prefix
		src, client := netip.MustParseAddr("127.0.0.1"), netip.MustParsePrefix("127.0.0.1/32")
		if tc.subnet != "" {
			subnet = netip.MustParsePrefix(tc.subnet)
			src, client = subnet.Addr().Unmap(), subnet
		}
		x, err := e.Explain(tc.name, client)
		if err != nil {
			t.Fatal(err)
		}
		want := dnsExplain(t, e, tc.name, src, subnet)
		if len(want) < 5 {
			t.Fatalf("%s %s: the DNS explain says %q", tc.name, tc.subnet, want)
		}
		if !slices.Equal(x.Lines, want) {
			t.Errorf("%s %s: Explain says\n%s\nDNS says\n%s", tc.name, tc.subnet, strings.Join(x.Lines, "\n"), strings.Join(want, "\n"))
		}
	}
}

// Explain as data: the client and where it came from, the GeoIP lookup,
// the rule and how it matched, the scope, the collections and what an
// answer would hold.
func TestExplainData(t *testing.T) {
	e := geoExplainEngine(t)
	x, err := e.Explain("WWW.example.org", netip.MustParsePrefix("2.125.160.77/24")) // any case; host bits masked
	if err != nil {
		t.Fatal(err)
	}
	if x.Client != (ExplainedClient{From: "ecs", Address: netip.MustParseAddr("2.125.160.0"), PrefixLength: 24}) {
		t.Errorf("client %+v", x.Client)
	}
	if g := x.GeoIP; g == nil || *g != (GeoIPLookup{Network: netip.MustParsePrefix("2.125.160.0/19"), Found: true,
		Continent: "EU", Country: "DE", Subdivision: "DE-BY", Database: "GeoIP2-City"}) {
		t.Errorf("geoip %+v", x.GeoIP)
	}
	if x.Rule != "subdivision DE-BY" || x.MatchedBy != "geo" || x.ECSScope != 19 || x.State != StatePrimary ||
		x.ActiveCollection != "primary" || x.TTL != 30 || x.Type != "A" || x.Policy != "geo" || x.Instance != "www.example.org." {
		t.Errorf("decision %+v", x)
	}
	if !slices.Equal(x.Answer, []string{"192.0.2.2"}) {
		t.Errorf("answer %v", x.Answer)
	}
	if len(x.Collections) != 1 || x.Collections[0].Name != "primary" || !x.Collections[0].Available ||
		len(x.Collections[0].Pools) != 1 || x.Collections[0].Pools[0].Name != "bavaria" || x.Collections[0].Pools[0].Addresses[0].Value != "192.0.2.2" {
		t.Errorf("collections %+v", x.Collections)
	}

	// A bare address is the query source: its own rule, no ECS scope.
	x, _ = e.Explain("www.example.org.", netip.MustParsePrefix("81.2.69.200/32"))
	if x.Client.From != "query-source" || x.Rule != "cidr 81.2.69.128/25 10.0.0.0/8" || x.MatchedBy != "cidr" || x.ECSScope != 0 {
		t.Errorf("from an address: client %+v rule %q by %s scope %d", x.Client, x.Rule, x.MatchedBy, x.ECSScope)
	}
	x, _ = e.Explain("www.example.org.", netip.MustParsePrefix("203.0.113.9/32"))
	if x.Rule != "default" || x.MatchedBy != "default" || x.GeoIP == nil || x.GeoIP.Found || !slices.Equal(x.Answer, []string{"192.0.2.5"}) {
		t.Errorf("a client the database does not place: %+v", x)
	}
	x, _ = e.Explain("noecs.example.org.", netip.MustParsePrefix("2.126.0.0/16"))
	if x.Client != (ExplainedClient{From: "query-source", Address: netip.MustParseAddr("2.126.0.0"), ECSIgnored: true}) || x.ECSScope != 0 {
		t.Errorf("ecs off: client %+v scope %d", x.Client, x.ECSScope)
	}

	// Refused: an unknown name (the API's 404), a client that is none.
	if _, err := e.Explain("nope.example.org.", netip.MustParsePrefix("192.0.2.1/32")); !errors.Is(err, ErrNoInstance) || !strings.Contains(err.Error(), "nope.example.org.") {
		t.Errorf("an unknown name: %v", err)
	}
	for _, p := range []netip.Prefix{{}, netip.MustParsePrefix("0.0.0.0/0")} {
		if _, err := e.Explain("www.example.org.", p); err == nil || errors.Is(err, ErrNoInstance) {
			t.Errorf("client %v: %v", p, err)
		}
	}

	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range regexp.MustCompile(`"([^"]+)":`).FindAllSubmatch(b, -1) {
		if !regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`).Match(k[1]) {
			t.Errorf("key %q is not lower case with hyphens", k[1])
		}
	}
	if !strings.Contains(string(b), `"client":{"from":"query-source","address":"2.126.0.0","ecs-ignored":true}`) {
		t.Errorf("JSON: %s", b)
	}
}

// Explain draws an answer as an answer would, but counts neither the
// answer nor a GeoIP miss: it is no query.
func TestExplainCountsNothing(t *testing.T) {
	e := geoExplainEngine(t)
	www := "www.example.org."
	answers := func() float64 {
		v, _ := metrictest.Value(t, "answers_total", www, "world")
		return v
	}
	misses := func() float64 {
		v, _ := metrictest.Value(t, "geoip_misses_total", www)
		return v
	}
	a0, m0 := answers(), misses()
	for range 5 {
		if x, err := e.Explain(www, netip.MustParsePrefix("203.0.113.0/24")); err != nil || len(x.Answer) != 1 {
			t.Fatalf("%v %v", x.Answer, err)
		}
	}
	if a, m := answers(), misses(); a != a0 || m != m0 {
		t.Errorf("Explain counted %v answers and %v misses", a-a0, m-m0)
	}
	// positive: a query from the same place counts both
	queryFrom(t, e, www, "203.0.113.9")
	if a, m := answers(), misses(); a != a0+1 || m != m0+1 {
		t.Errorf("a query counted %v answers and %v misses, want 1 and 1", a-a0, m-m0)
	}
}

// The answer Explain draws follows the method and health, as an answer's
// does: a weighted draw among the usable addresses, one target for a
// CNAME, none when nothing is answered.
func TestExplainAnswer(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	dead := testkit.DeadPort(t)
	e := started(t, "monitor m {\n protocol tcp\n port "+itoa(live)+"\n interval 100ms\n timeout 80ms\n}\n"+
		"monitor d {\n protocol tcp\n port "+itoa(dead)+"\n interval 100ms\n timeout 80ms\n fall 1\n}\n"+
		"pool w {\n monitor m\n address 127.0.0.2 weight 5\n address 127.0.0.3 weight 1\n method weight\n}\n"+
		"pool gone {\n monitor d\n address 127.0.0.4\n}\n"+
		"pool cn {\n address a.example.net b.example.net\n}\n"+
		"instance www {\n primary w\n}\ninstance nd {\n all-down nodata\n primary gone\n}\ninstance cn {\n primary cn\n}\n")
	testkit.Eventually(t, "verdicts", 3*time.Second, func() bool {
		return e.Health(health.Key{Pool: "w", Address: "127.0.0.3"}) == health.Unhealthy && e.State("nd.example.org.", "default") == StateNoData
	})
	time.Sleep(150 * time.Millisecond) // the compile after the verdicts
	anyClient := netip.MustParsePrefix("192.0.2.1/32")
	for range 20 {
		x, _ := e.Explain("www.example.org.", anyClient)
		if !slices.Equal(x.Answer, []string{"127.0.0.2"}) {
			t.Fatalf("with 127.0.0.3 down (nothing listens there), Explain draws %v", x.Answer)
		}
	}
	if a := x(t, e, "cn.example.org.", anyClient).Answer; len(a) != 1 || !strings.HasSuffix(a[0], ".example.net.") {
		t.Errorf("a CNAME instance's answer %v", a)
	}
	nd := x(t, e, "nd.example.org.", anyClient)
	if len(nd.Answer) != 0 || nd.ActiveCollection != "" || nd.State != StateNoData {
		t.Errorf("all down, nodata: %+v", nd)
	}
	// Explain is off here: the addresses' health comes from their checks.
	if h := nd.Collections[0].Pools[0].Addresses[0]; h.Health != "unhealthy" || h.LastProbe == nil || h.Since.IsZero() {
		t.Errorf("the dead address %+v", h)
	}
}

func x(t *testing.T, e *Engine, name string, client netip.Prefix) Explanation {
	t.Helper()
	x, err := e.Explain(name, client)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
