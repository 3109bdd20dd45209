package config_test

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/netip"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/config/configtest"
)

// gen builds random valid configurations: every pool type, monitors of every
// protocol with random options, instances of both policies with rules of
// every kind, thresholds, methods, modes, switch and failback settings,
// all-down behaviours, name servers with addresses.
type gen struct {
	r    *rand.Rand
	next int // for unique names, values and addresses
}

func (g *gen) n(lo, hi int) int { return lo + g.r.Intn(hi-lo+1) }
func (g *gen) coin() bool       { return g.r.Intn(2) == 0 }
func (g *gen) uniq() int        { g.next++; return g.next }

func pick[T any](g *gen, s []T) T { return s[g.r.Intn(len(s))] }

func (g *gen) ip(t config.Type) netip.Addr {
	u := g.uniq()
	if t == config.TypeAAAA {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(u >> 8), 15: byte(u)})
	}
	return netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)})
}

func (g *gen) address(t config.Type) *config.Address {
	a := config.NewAddress(config.Pos{})
	if t == config.TypeCNAME {
		a.Domain = fmt.Sprintf("host%d.example.com.", g.uniq())
	} else {
		a.IP = g.ip(t)
	}
	return a
}

func (g *gen) threshold(members int) config.Threshold {
	switch g.r.Intn(3) {
	case 0:
		return config.DefaultThreshold
	case 1:
		return config.Threshold{Count: g.n(1, members)}
	}
	return config.Threshold{Percent: g.n(1, 100)}
}

func (g *gen) monitor(name string) *config.Monitor {
	m := config.NewMonitor(config.Pos{}, name)
	m.Protocol = pick(g, []config.Protocol{config.ProtoPing, config.ProtoTCP, config.ProtoHTTP, config.ProtoHTTPS})
	if g.coin() {
		m.Interval = time.Duration(g.n(1, 600)) * 100 * time.Millisecond
		m.Timeout = time.Duration(g.n(1, 100)) * time.Millisecond
	}
	if g.coin() {
		m.Rise, m.Fall = g.n(1, config.MaxRiseFall), g.n(1, config.MaxRiseFall)
	}
	switch m.Protocol {
	case config.ProtoPing:
		if g.coin() {
			m.Count = g.n(1, config.MaxPingCount)
		}
		m.MaxLoss = g.n(0, 99)
	case config.ProtoTCP:
		m.Port = g.n(1, 65535)
		m.TLS = g.coin()
	default:
		if g.coin() {
			m.Port = g.n(1, 65535)
		}
		m.Method = pick(g, []string{"GET", "HEAD", "POST", "OPTIONS"})
		if g.coin() {
			m.Host = "www.example.com"
		}
		m.Path = pick(g, []string{"/", "/healthz", "/status?full=1"})
		for range g.n(0, 3) {
			lo := g.n(100, 599)
			m.Expect = append(m.Expect, config.StatusRange{Lo: lo, Hi: g.n(lo, 599)})
		}
		switch g.r.Intn(3) {
		case 0:
			m.BodyMatch = "ok"
		case 1:
			m.BodyRegexp = regexp.MustCompile(pick(g, []string{"^ok", `"status":\s*"up"`, "(?i)healthy"}))
		}
		for i := range g.n(0, 2) {
			m.Headers = append(m.Headers, [2]string{fmt.Sprintf("X-H%d", i), "v"})
		}
		if g.coin() {
			m.MaxRedirects = g.n(1, config.MaxRedirects)
			for range g.n(0, 2) {
				m.RedirectHosts = append(m.RedirectHosts, pick(g, []string{"a.example.net", "192.0.2.80", "2001:db8::80"}))
			}
		}
	}
	if m.Protocol == config.ProtoHTTPS || m.Protocol == config.ProtoTCP && m.TLS {
		m.SkipVerify = g.coin()
		if g.coin() {
			m.ServerName = "tls.example.org"
		}
	}
	return m
}

func (g *gen) pool(name string, monitors []*config.Monitor) *config.Pool {
	p := config.NewPool(config.Pos{}, name)
	t := pick(g, []config.Type{config.TypeA, config.TypeAAAA, config.TypeCNAME})
	if g.coin() {
		p.Type = t
	}
	for range g.n(1, 5) {
		a := g.address(t)
		a.Weight = g.n(config.MinWeight, config.MaxWeight)
		a.Mode = pick(g, []config.Mode{config.ModeAuto, config.ModeAuto, config.ModeUp, config.ModeDown})
		if len(monitors) > 0 && g.r.Intn(4) == 0 {
			a.Monitor = pick(g, monitors).Name
		}
		if g.r.Intn(4) == 0 {
			a.Probe = pick(g, []string{"10.9.9.9", "probe.example.com", "2001:db8::99"})
		}
		p.Addresses = append(p.Addresses, a)
	}
	p.Method = pick(g, []config.Method{config.MethodAll, config.MethodWeight, config.MethodSequence, config.MethodHash})
	if p.Method == config.MethodHash && g.coin() {
		p.HashV4, p.HashV6 = g.n(1, 32), g.n(1, 128)
	}
	if g.coin() {
		p.MaxAnswers = g.n(1, config.MaxAnswers)
	}
	p.MinAvailable = g.threshold(len(p.Addresses))
	if len(monitors) > 0 && g.coin() {
		p.Monitor = pick(g, monitors).Name
	}
	return p
}

func (g *gen) collection(pools []*config.Pool) *config.Collection {
	col := config.NewCollection(config.Pos{})
	perm := g.r.Perm(len(pools))[:g.n(1, len(pools))]
	for _, i := range perm {
		m := config.NewMember(config.Pos{}, pools[i].Name)
		if g.coin() {
			m.Weight = g.n(config.MinWeight, config.MaxWeight)
		}
		col.Members = append(col.Members, m)
	}
	col.Method = pick(g, []config.Method{config.MethodAll, config.MethodWeight, config.MethodSequence})
	col.MinAvailable = g.threshold(len(col.Members))
	return col
}

func (g *gen) values(kind config.MatchKind) []string {
	var out []string
	for range g.n(1, 3) {
		u := g.uniq()
		switch kind {
		case config.MatchContinent:
			out = append(out, []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}[u%7])
		case config.MatchCountry:
			out = append(out, []string{"DE", "US", "FR", "JP", "BR", "AT", "NZ", "ZA"}[u%8])
		case config.MatchSubdivision:
			out = append(out, []string{"US-CA", "US-NY", "DE-BY", "DE-BE", "FR-IDF"}[u%5])
		case config.MatchASN:
			out = append(out, []string{"4134", "4837", "3320", "13335", "15169", "4294967295"}[u%6])
		case config.MatchCIDR:
			if g.coin() {
				out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(u >> 8), byte(u), 0}), 24).String())
			} else {
				out = append(out, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(u >> 8), 5: byte(u)}), 48).String())
			}
		}
	}
	return out
}

func (g *gen) instance(name string, zoneGeo bool, pools []*config.Pool) *config.Instance {
	in := config.NewInstance(config.Pos{}, name)
	typ := pick(g, pools).Addresses[0].Type()
	// Addresses of one family, or of both (a dual-stack instance).
	dual := typ != config.TypeCNAME && g.coin()
	var same []*config.Pool
	for _, p := range pools {
		if t := p.Addresses[0].Type(); t == typ || dual && t != config.TypeCNAME {
			same = append(same, p)
		}
	}
	in.TTL = uint32(g.n(1, config.MaxTTL))
	if g.coin() {
		in.DegradedTTL = uint32(g.n(1, int(in.TTL)))
	}
	in.IgnoreECS = g.r.Intn(4) == 0
	in.Switch = pick(g, []config.Switch{config.SwitchAuto, config.SwitchAuto, config.SwitchPrimary, config.SwitchSecondary})
	if in.Switch == config.SwitchAuto && g.coin() {
		in.Failback = config.Manual
	}
	if g.coin() {
		in.Policy = config.PolicyLatency
		if g.coin() {
			in.TiePercent, in.Tie = g.n(0, 1000), time.Duration(g.n(0, 100))*time.Millisecond
		}
	}
	kinds := []config.MatchKind{config.MatchDefault}
	if in.Policy == config.PolicyGeo {
		for range g.n(0, 4) {
			k := pick(g, []config.MatchKind{config.MatchContinent, config.MatchCountry, config.MatchSubdivision, config.MatchCIDR, config.MatchASN})
			if k == config.MatchCIDR || zoneGeo {
				kinds = append(kinds, k)
			}
		}
	}
	g.r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	used := map[string]bool{}
	for _, k := range kinds {
		r := &config.Rule{Match: k}
		if k != config.MatchDefault {
			for _, v := range g.values(k) {
				if key := k.String() + v; !used[key] {
					used[key] = true
					r.Values = append(r.Values, v)
				}
			}
			if len(r.Values) == 0 {
				continue // every value already taken by another rule
			}
		}
		r.Primary = g.collection(same)
		if in.Switch == config.SwitchSecondary || g.coin() {
			r.Secondary = g.collection(same)
		}
		in.Rules = append(in.Rules, r)
	}
	in.AllDown = pick(g, []config.AllDown{config.FailOpen, config.NoData, config.ServFail, config.Fallback})
	if in.AllDown == config.Fallback {
		ft := typ // a type the instance serves: its first pool's
		for _, p := range same {
			if p.Name == in.Rules[0].Primary.Members[0].Pool {
				ft = p.Addresses[0].Type()
			}
		}
		for range g.n(1, 2) {
			in.Fallbacks = append(in.Fallbacks, g.address(ft))
		}
	}
	for _, svc := range []**config.SVC{&in.HTTPS, &in.SVCB} {
		switch {
		case g.coin():
		case typ == config.TypeCNAME || g.coin():
			*svc = &config.SVC{}
		default:
			*svc = &config.SVC{ALPN: pick(g, [][]string{{"h2"}, {"h2", "h3"}, nil}), Port: pick(g, []int{0, 443, 8443}),
				ECH: pick(g, []string{"", "AAT+DQAA"})}
		}
	}
	return in
}

func (g *gen) config() *config.Config {
	c := &config.Config{}
	zones := [][]string{{"example.org."}, {"example.org.", "example.net."}, {"gtm.example.net."}}
	c.Zones = pick(g, zones)
	geo := g.coin()
	if geo {
		c.GeoIP = "/var/lib/GeoLite2-City.mmdb"
		c.ASN = "/var/lib/GeoLite2-ASN.mmdb"
	}
	if g.coin() {
		c.SOA = config.SOA{MName: "ns1." + c.Zones[0], RName: "hostmaster.example.com."}
	}
	if g.coin() {
		c.SOA.Refresh, c.SOA.Retry, c.SOA.Expire = uint32(g.n(3600, 86400)), uint32(g.n(60, 1800)), uint32(g.n(172800, 2419200))
		c.SOA.Minimum, c.NSTTL = uint32(g.n(1, 86400)), uint32(g.n(1, 86400))
	}
	for i := range g.n(0, 3) {
		ns := config.NameServer{Name: fmt.Sprintf("ns%d.%s", i+1, c.Zones[0])}
		if g.r.Intn(3) == 0 {
			ns.Name = fmt.Sprintf("ns%d.example.com.", i+1)
		} else {
			for range g.n(1, 2) {
				ns.Addrs = append(ns.Addrs, g.ip(pick(g, []config.Type{config.TypeA, config.TypeAAAA})))
			}
		}
		c.NS = append(c.NS, ns)
	}
	if g.coin() {
		c.ExplainFrom = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	for i := range g.n(0, 4) {
		c.Monitors = append(c.Monitors, g.monitor(fmt.Sprintf("m%d", i)))
	}
	for i := range g.n(1, 5) {
		c.Pools = append(c.Pools, g.pool(fmt.Sprintf("pool-%d", i), c.Monitors))
	}
	for i := range g.n(1, 4) {
		c.Instances = append(c.Instances, g.instance(fmt.Sprintf("www%d.%s", i, pick(g, c.Zones)), geo, c.Pools))
	}
	return c
}

// TestJSONRoundTrip checks, on random valid configurations, that reading a
// configuration's JSON form gives back the same configuration.
func TestJSONRoundTrip(t *testing.T) {
	const runs = 2000
	g := &gen{r: rand.New(rand.NewSource(9))}
	for i := range runs {
		c := g.config()
		if err := c.Validate(); err != nil {
			t.Fatalf("config %d: the generator made an invalid configuration: %v", i, err)
		}
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("config %d: %v", i, err)
		}
		var back config.Config
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("config %d: %v\n%s", i, err, data)
		}
		if back.Fingerprint() != c.Fingerprint() {
			t.Fatalf("config %d: the fingerprint changed\n%s", i, data)
		}
		configtest.ClearPositions(c)
		configtest.ClearPositions(&back)
		if !reflect.DeepEqual(c, &back) {
			again, _ := json.Marshal(&back)
			t.Fatalf("config %d: the round trip changed it\n%s\n%s", i, data, again)
		}
	}
}
