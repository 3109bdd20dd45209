package gtm

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func newGeoGTM(t *testing.T, dbType string) (*GTM, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	geotest.Write(t, path, dbType, geotest.Fixture)
	g := newGTM(t, "geoip "+path+"\n"+geotest.Pools+geotest.Instance)
	if err := g.Engine().LoadGeo(); err != nil {
		t.Fatal(err)
	}
	return g, path
}

// ask sends an A query for www from src, with an ECS option when subnet is
// not empty, and returns the reply.
func ask(t *testing.T, g *GTM, src, subnet string) *dns.Msg {
	t.Helper()
	return askFor(t, g, "www.example.org.", src, subnet)
}

// askFor is ask for name.
func askFor(t *testing.T, g *GTM, name, src, subnet string) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	if subnet != "" {
		m.SetEdns0(1232, false)
		_, n, err := net.ParseCIDR(subnet)
		if err != nil {
			t.Fatal(err)
		}
		bits, _ := n.Mask.Size()
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(bits), Address: n.IP}
		if n.IP.To4() == nil {
			e.Family = 2
		}
		o := m.IsEdns0()
		o.Option = append(o.Option, e)
	}
	var w dns.ResponseWriter = &test.ResponseWriter{RemoteIP: src}
	if strings.Contains(src, ":") {
		w = &test.ResponseWriter6{}
	}
	rec := dnstest.NewRecorder(w)
	if _, err := g.ServeDNS(context.Background(), rec, m); err != nil {
		t.Fatal(err)
	}
	return rec.Msg
}

func scopeOf(t *testing.T, m *dns.Msg) int {
	t.Helper()
	o := m.IsEdns0()
	if o == nil {
		t.Fatal("reply has no OPT record")
	}
	for _, opt := range o.Option {
		if e, ok := opt.(*dns.EDNS0_SUBNET); ok {
			return int(e.SourceScope)
		}
	}
	t.Fatal("reply has no client-subnet option")
	return -1
}

// Every rule type, the most specific winning, with the ECS scope each
// decision is good for.
func TestGeoPrecedence(t *testing.T) {
	g, _ := newGeoGTM(t, "GeoIP2-City")
	tests := []struct {
		subnet string
		want   string
		scope  int
	}{
		{"81.2.69.200/32", "192.0.2.1", 25},  // CIDR beats the GeoIP country GB
		{"81.2.69.0/25", "192.0.2.4", 25},    // GB: continent EU; the /25 rule next door narrows the /24 network
		{"10.20.0.0/16", "192.0.2.1", 8},     // CIDR with no GeoIP data at all
		{"2.125.160.0/24", "192.0.2.2", 19},  // subdivision DE-BY, GeoIP network /19
		{"2.126.5.0/24", "192.0.2.3", 16},    // DE-HH: country DE
		{"1.0.0.0/24", "192.0.2.5", 24},      // AU: no rule, default
		{"203.0.113.0/24", "192.0.2.5", 24},  // not in the database: default, scope of the empty network... narrowed below
		{"2001:db8:1::/48", "192.0.2.4", 32}, // IPv6 ECS: FR, continent EU
	}
	for _, tc := range tests {
		t.Run(tc.subnet, func(t *testing.T) {
			m := ask(t, g, "127.0.0.1", tc.subnet)
			if got := strings.Join(testkit.Values(m), " "); got != tc.want {
				t.Fatalf("answer %q, want %q", got, tc.want)
			}
			scope := scopeOf(t, m)
			if tc.subnet == "203.0.113.0/24" {
				// The empty network's size is the writer's business; it
				// must at least be true: no narrower than what decided.
				if scope == 0 || scope > 32 {
					t.Fatalf("scope %d for an address outside the database", scope)
				}
				return
			}
			if scope != tc.scope {
				t.Fatalf("scope %d, want %d", scope, tc.scope)
			}
		})
	}
}

// Without ECS the source address decides; with 'ecs off' the source decides
// even when ECS is present, and the scope is 0.
func TestGeoClientAddress(t *testing.T) {
	g, _ := newGeoGTM(t, "GeoIP2-City")
	if got := testkit.Values(ask(t, g, "2.125.160.7", "")); len(got) != 1 || got[0] != "192.0.2.2" {
		t.Fatalf("source 2.125.160.7 (DE-BY) answered %v", got)
	}
	if got := testkit.Values(ask(t, g, "::1", "")); len(got) != 1 || got[0] != "192.0.2.5" {
		t.Fatalf("IPv6 source ::1 answered %v, want the default", got)
	}
	off := newGTM(t, "geoip "+g.Engine().Config().GeoIP+"\n"+geotest.Pools+strings.Replace(geotest.Instance, "instance www {", "instance www {\n\tecs off", 1))
	if err := off.Engine().LoadGeo(); err != nil {
		t.Fatal(err)
	}
	m := ask(t, off, "2.126.0.9", "81.2.69.200/32")
	if got := testkit.Values(m); len(got) != 1 || got[0] != "192.0.2.3" {
		t.Fatalf("ecs off: answered %v, want the source's country DE", got)
	}
	if s := scopeOf(t, m); s != 0 {
		t.Fatalf("ecs off: scope %d, want 0", s)
	}
	// A default-only instance never depends on the client.
	d := newGTM(t, geotest.Pools+"instance www {\n primary world\n}")
	if s := scopeOf(t, ask(t, d, "127.0.0.1", "81.2.69.0/24")); s != 0 {
		t.Fatalf("default-only instance: scope %d, want 0", s)
	}
}

// Country-shaped databases answer continent and country rules.
func TestGeoCountryDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	geotest.Write(t, path, "GeoIP2-Country", geotest.Fixture)
	g := newGTM(t, "geoip "+path+"\n"+geotest.Pools+strings.Replace(geotest.Instance, "rule subdivision DE-BY {\n\t\tprimary bavaria\n\t}", "", 1))
	if err := g.Engine().LoadGeo(); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Values(ask(t, g, "127.0.0.1", "2.125.160.0/24")); len(got) != 1 || got[0] != "192.0.2.3" {
		t.Fatalf("country database, DE: %v", got)
	}
	// Subdivision rules need a City database.
	g2 := newGTM(t, "geoip "+path+"\n"+geotest.Pools+geotest.Instance)
	if err := g2.Engine().LoadGeo(); err == nil || !strings.Contains(err.Error(), "subdivision rules need a City database") {
		t.Fatalf("subdivision rules with a Country database: %v", err)
	}
}

func TestMalformedECS(t *testing.T) {
	g, _ := newGeoGTM(t, "GeoIP2-City")
	cases := []struct {
		name string
		e    *dns.EDNS0_SUBNET
	}{
		{"bad family", &dns.EDNS0_SUBNET{Family: 3, SourceNetmask: 8, Address: net.ParseIP("10.0.0.0").To4()}},
		{"prefix too long", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 33, Address: net.ParseIP("10.0.0.0").To4()}},
		{"bits past the prefix", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 8, Address: net.ParseIP("10.1.0.0").To4()}},
		{"scope in a query", &dns.EDNS0_SUBNET{Family: 1, SourceNetmask: 8, SourceScope: 8, Address: net.ParseIP("10.0.0.0").To4()}},
		{"v6 prefix too long", &dns.EDNS0_SUBNET{Family: 2, SourceNetmask: 129, Address: net.ParseIP("2001:db8::")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetQuestion("www.example.org.", dns.TypeA)
			m.SetEdns0(1232, false)
			tc.e.Code = dns.EDNS0SUBNET
			m.IsEdns0().Option = append(m.IsEdns0().Option, tc.e)
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			g.ServeDNS(context.Background(), rec, m)
			if rec.Msg.Rcode != dns.RcodeFormatError || len(rec.Msg.Answer) != 0 {
				t.Fatalf("rcode %s with %d answers, want FORMERR", dns.RcodeToString[rec.Msg.Rcode], len(rec.Msg.Answer))
			}
		})
	}
}

// Replacing the database file takes effect without a restart; a corrupt
// replacement keeps the old database and is counted.
func TestGeoHotReload(t *testing.T) {
	g, path := newGeoGTM(t, "GeoIP2-City")
	g.Engine().GeoCheck = 20 * time.Millisecond
	if err := g.OnStartup(); err != nil {
		t.Fatal(err)
	}
	defer g.OnShutdown()
	if got := testkit.Values(ask(t, g, "127.0.0.1", "1.0.0.0/24")); got[0] != "192.0.2.5" {
		t.Fatalf("before the update, AU: %v", got)
	}
	// A client the database does not place takes the default rule, counted.
	misses := metric(t, "geoip_misses_total", "www.example.org.")
	if got := testkit.Values(ask(t, g, "127.0.0.1", "203.0.113.0/24")); got[0] != "192.0.2.5" {
		t.Fatalf("unplaced client: %v, want the default", got)
	}
	if n := metric(t, "geoip_misses_total", "www.example.org."); n != misses+1 {
		t.Fatalf("geoip_misses_total went from %v to %v, want +1", misses, n)
	}
	// The update moves 1.0.0.0/24 to Germany.
	moved := append([]geotest.Place{{Network: "1.0.0.0/24", Continent: "EU", Country: "DE", Subdivision: "HE"}}, geotest.Fixture[:3]...)
	time.Sleep(10 * time.Millisecond) // a modification time the check can tell apart
	geotest.Write(t, path, "GeoIP2-City", moved)
	testkit.Eventually(t, "reload", 3*time.Second, func() bool { return testkit.Values(ask(t, g, "127.0.0.1", "1.0.0.0/24"))[0] == "192.0.2.3" })

	failures := metric(t, "geoip_reloads_total", "failure")
	if err := os.WriteFile(path, []byte("this is not a MaxMind database"), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "failed reload counted", 3*time.Second, func() bool {
		return metric(t, "geoip_reloads_total", "failure") > failures
	})
	if got := testkit.Values(ask(t, g, "127.0.0.1", "1.0.0.0/24")); got[0] != "192.0.2.3" {
		t.Fatalf("after a corrupt update the old database must stay: %v", got)
	}
}

func TestGeoSetupErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.mmdb")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	for _, tc := range []struct{ path, err string }{
		{filepath.Join(dir, "missing.mmdb"), "no such file"},
		{bad, "is not a MaxMind database"},
	} {
		c := caddy.NewTestController("dns", testkit.Block("geoip "+tc.path+"\n"+geotest.Pools+geotest.Instance))
		err := setup(c)
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "Testfile:2") {
			t.Errorf("geoip %s: error %v, want %q at Testfile:2", tc.path, err, tc.err)
		}
	}
}

func explainQuery(t *testing.T, g *GTM, src, subnet string) *dns.Msg {
	return explainQueryOver(t, g, true, src, subnet, dns.TypeTXT)
}

func explainQueryOver(t *testing.T, g *GTM, tcp bool, src, subnet string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("_explain.www.example.org.", qtype)
	m.SetEdns0(1232, false)
	if subnet != "" {
		_, n, _ := net.ParseCIDR(subnet)
		bits, _ := n.Mask.Size()
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(bits), Address: n.IP.To4()})
	}
	rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: src, TCP: tcp})
	if _, err := g.ServeDNS(context.Background(), rec, m); err != nil {
		t.Fatal(err)
	}
	return rec.Msg
}

func TestExplain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	geotest.Write(t, path, "GeoIP2-City", geotest.Fixture)
	g := newGTM(t, "geoip "+path+"\nexplain 127.0.0.0/8\n"+geotest.Pools+geotest.Instance)
	if err := g.Engine().LoadGeo(); err != nil {
		t.Fatal(err)
	}
	m := explainQuery(t, g, "127.0.0.1", "2.125.160.0/24")
	var text []string
	for _, rr := range m.Answer {
		text = append(text, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{
		"client 2.125.160.0/24 from the ECS option",
		"geoip 2.125.160.0/19: continent EU country DE subdivision DE-BY",
		"rule subdivision DE-BY",
		"state primary: primary available",
		"ttl 30, ecs scope 19",
		"pool bavaria: available, 1 of 1 addresses usable",
		"address 192.0.2.2: mode auto, health unknown, not probed",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("explanation lacks %q:\n%s", want, all)
		}
	}
	// Only from allowed networks; elsewhere the name does not exist.
	if m := explainQuery(t, g, "10.240.0.1", ""); m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 {
		t.Errorf("explain from a network not allowed: rcode %s, %d answers", dns.RcodeToString[m.Rcode], len(m.Answer))
	}
	off, _ := newGeoGTM(t, "GeoIP2-City")
	if m := explainQuery(t, off, "127.0.0.1", ""); m.Rcode != dns.RcodeNameError {
		t.Errorf("explain is off by default, got rcode %s", dns.RcodeToString[m.Rcode])
	}
}

// ECS corner cases: IPv4-mapped IPv6 subnets, a family with no rules, and
// the opt-out form of "dig +subnet=0".
func TestECSCorners(t *testing.T) {
	g, _ := newGeoGTM(t, "GeoIP2-City")
	mq := new(dns.Msg)
	mq.SetQuestion("www.example.org.", dns.TypeA)
	mq.SetEdns0(1232, false)
	mq.IsEdns0().Option = append(mq.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 2, SourceNetmask: 120,
		Address: net.ParseIP("::ffff:81.2.69.0").To16()})
	mrec := dnstest.NewRecorder(&test.ResponseWriter{})
	g.ServeDNS(context.Background(), mrec, mq)
	m := mrec.Msg
	if got := testkit.Values(m); len(got) != 1 || got[0] != "192.0.2.4" {
		t.Fatalf("mapped ::ffff:81.2.69.0/120: %v, want the answer for 81.2.69.0/24", got)
	}
	if s := scopeOf(t, m); s != 96+25 {
		t.Fatalf("mapped subnet: scope %d, want %d (the IPv4 scope 25, in IPv6 bits)", s, 96+25)
	}

	// Only IPv4 rules, an IPv6 client: the answer still depends on the
	// client, so the scope must not be 0.
	v4 := newGTM(t, geotest.Pools+"instance www {\n rule cidr 10.0.0.0/8 {\n  primary cidr\n }\n rule default {\n  primary world\n }\n}")
	if s := scopeOf(t, ask(t, v4, "127.0.0.1", "2001:db8:1::/48")); s == 0 {
		t.Fatal("IPv6 client against IPv4-only rules: scope 0 would cover IPv4 clients too")
	}

	// FAMILY 0, SOURCE 0: no client information, decided by the source.
	q := new(dns.Msg)
	q.SetQuestion("www.example.org.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET})
	rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: "2.126.0.9"})
	g.ServeDNS(context.Background(), rec, q)
	if rec.Msg.Rcode != dns.RcodeSuccess || strings.Join(testkit.Values(rec.Msg), " ") != "192.0.2.3" {
		t.Fatalf("ECS 0/0: rcode %s answer %v, want the source's country DE", dns.RcodeToString[rec.Msg.Rcode], testkit.Values(rec.Msg))
	}
	if s := scopeOf(t, rec.Msg); s != 0 {
		t.Fatalf("ECS 0/0: scope %d, want 0", s)
	}
}
