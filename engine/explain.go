package engine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// explainLabel prefixes an instance name in a debug query:
// "dig TXT _explain.www.gtm.example.net +subnet=198.51.100.0/24" answers
// why that client gets what it gets.
const explainLabel = "_explain."

// explainAllowed reports whether explain is on and src may use it.
func explainAllowed(s *snapshot, src netip.Addr) bool {
	for _, p := range s.cfg.ExplainFrom {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// ErrNoInstance is Explain's error for a name that is no instance.
var ErrNoInstance = errors.New("no such instance")

// Explanation is why a client gets the answer it gets from an instance:
// the decision the DNS explain query (_explain.NAME TXT) describes, as
// data. Lines are that query's text, rendered from the rest.
type Explanation struct {
	Instance string `json:"instance"`
	Type     string `json:"type"`   // A, AAAA, CNAME, or A+AAAA (dual-stack)
	Policy   string `json:"policy"` // geo, latency or nearest
	// Failover is a dual-stack instance's: together or separate.
	Failover string `json:"failover,omitempty"`
	// Records are the types it answers with data (as in InstanceStatus);
	// HTTPS and SVCB carry the A and AAAA answer's addresses as hints.
	Records []string        `json:"records"`
	Client  ExplainedClient `json:"client"`
	// GeoIP is where the database places the client, when the instance
	// has geographic rules and a database is loaded.
	GeoIP *GeoIPLookup `json:"geoip,omitempty"`
	// ASN is the ASN database's answer for an instance with asn rules.
	ASN  *ASNLookup `json:"asn,omitempty"`
	Rule string     `json:"rule"` // the rule that matched, as written
	// MatchedBy is how: cidr, asn, geo (a continent, country or
	// subdivision rule), or default.
	MatchedBy        string `json:"matched-by"`
	State            State  `json:"state"`
	Why              string `json:"why"`
	ActiveCollection string `json:"active-collection,omitempty"` // as in RuleStatus
	Pin              *Pin   `json:"pin,omitempty"`               // the operator's pin the rule answers with
	FailbackHold     bool   `json:"failback-hold"`               // as in RuleStatus
	TTL              uint32 `json:"ttl"`
	Degraded         bool   `json:"degraded"`
	// ECSScope is the scope of the reply's client-subnet option: the
	// prefix within which every client gets this answer (0 when it does
	// not depend on the client, or the client came from no ECS option).
	ECSScope int `json:"ecs-scope"`
	// Collections are the rule's primary and secondary.
	Collections []CollectionExplanation `json:"collections"`
	// LatencyPools are the pools a latency instance answers from: the
	// fastest measured within the tie band.
	LatencyPools []string `json:"latency-pools,omitempty"`
	// Nearest is what a nearest instance measured: each available pool's
	// distance from the client, and which answer.
	Nearest *NearestExplanation `json:"nearest,omitempty"`
	// Families are what a dual-stack rule answers for A and for AAAA,
	// each with its draw.
	Families []ExplainedFamily `json:"families,omitempty"`
	// Answer is what an answer would hold now (a draw of the rule's
	// method, as an answer makes); empty for nodata and servfail. For a
	// dual-stack instance, the A answer's addresses, then the AAAA's.
	Answer []string `json:"answer"`
	Lines  []string `json:"lines"`

	rules int // the instance's, for the first line
}

// ExplainedFamily is what a dual-stack rule answers for one family now.
type ExplainedFamily struct {
	FamilyStatus
	Answer []string `json:"answer"`
	// Nearest is a nearest instance's distances for this family's pools
	// (the explanation's own Nearest is the A family's).
	Nearest *NearestExplanation `json:"nearest,omitempty"`
}

// ExplainedClient is who asks, as far as the instance's rules care.
type ExplainedClient struct {
	// From is where the address came from: "ecs" (a client-subnet
	// option), "query-source", or "none" when the instance has only a
	// default rule and the client does not matter.
	From         string     `json:"from"`
	Address      netip.Addr `json:"address,omitzero"`
	PrefixLength int        `json:"prefix-length,omitempty"` // the ECS option's source prefix
	// ECSIgnored: there was an ECS option, and the instance says ecs off.
	ECSIgnored bool `json:"ecs-ignored,omitempty"`
}

// ASNLookup is what the ASN database says of the client's address.
type ASNLookup struct {
	Network  netip.Prefix `json:"network"` // the database's network around the address
	Found    bool         `json:"found"`
	Number   uint32       `json:"number,omitempty"` // the autonomous system number
	Database string       `json:"database"`         // its kind: "GeoLite2-ASN"
}

// GeoIPLookup is where the GeoIP database places an address.
type GeoIPLookup struct {
	Network     netip.Prefix `json:"network"` // the database's network around the address
	Found       bool         `json:"found"`
	Continent   string       `json:"continent,omitempty"`
	Country     string       `json:"country,omitempty"`
	Subdivision string       `json:"subdivision,omitempty"` // as rules write it: "DE-BY"
	Database    string       `json:"database"`              // its kind: "GeoLite2-City"
	// Coordinates are where a City database places the address, when
	// its record has them.
	Coordinates *Coordinates `json:"coordinates,omitempty"`
}

// Coordinates are a place in decimal degrees, with the database's accuracy
// radius around it.
type Coordinates struct {
	Lat              float64 `json:"lat"`
	Lon              float64 `json:"lon"`
	AccuracyRadiusKm int     `json:"accuracy-radius-km"`
}

// NearestExplanation is the distances a nearest instance compared.
type NearestExplanation struct {
	// Used: the answer was chosen by distance. When not, Why says what
	// answered instead.
	Used       bool   `json:"used"`
	Why        string `json:"why"`
	TiePercent int    `json:"tie-percent"`
	TieKm      int    `json:"tie-km"`
	// Pools are the active collection's available pools, nearest (as
	// biased) first.
	Pools []PoolDistance `json:"pools"`
	// Answering are the pools within the tie band of the nearest, which
	// the collection's method picks from.
	Answering []string `json:"answering"`
}

// PoolDistance is a pool's distance from the client: as measured on the
// great circle, and as its bias counts it ((100-bias) %).
type PoolDistance struct {
	Pool     string  `json:"pool"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	Km       float64 `json:"km"`
	Bias     int     `json:"bias"`
	BiasedKm float64 `json:"biased-km"`
}

// CollectionExplanation is one collection of the rule as the decision saw
// it.
type CollectionExplanation struct {
	Name           string         `json:"name"` // primary or secondary
	Available      bool           `json:"available"`
	Why            string         `json:"why"`
	AvailablePools int            `json:"available-pools"`
	Method         string         `json:"method"`
	MinAvailable   string         `json:"min-available"`
	Pools          []MemberStatus `json:"pools"`
}

// MemberStatus is a pool in a collection: its weight there, and its state.
type MemberStatus struct {
	Weight int `json:"weight"`
	PoolStatus
}

// Explain is the decision an answer makes for client, as the DNS explain
// query gives it, whether or not explain is on for DNS. client is a
// subnet, as a client-subnet (ECS) option with that source prefix gives
// it, or a single address (/32, /128), as the query's source address; an
// instance with ecs off decides by the query source, for which the
// subnet's address stands in. The answer's draw is not counted in
// answers_total, nor a GeoIP miss in geoip_misses_total. An unknown name
// is ErrNoInstance.
func (e *Engine) Explain(name string, client netip.Prefix) (Explanation, error) {
	if !client.IsValid() {
		return Explanation{}, errors.New("the client is neither an address nor a subnet")
	}
	if client.Bits() == 0 {
		return Explanation{}, fmt.Errorf("client %s: a prefix of length 0 says nothing of the client", client)
	}
	s := e.snap.Load()
	in := s.instance(config.Fqdn(name))
	if in == nil {
		return Explanation{}, fmt.Errorf("%w: '%s'", ErrNoInstance, name)
	}
	client = client.Masked()
	a, subnet := client.Addr(), !client.IsSingleIP()
	var c clientAddr
	switch {
	case !in.byClient:
	case subnet && !in.ignoreECS:
		c = clientAddr{addr: a.Unmap(), fromECS: true, mapped: a.Is4In6()}
	default:
		c = clientAddr{addr: a.Unmap()}
	}
	bits := 0
	if subnet {
		bits = client.Bits()
	}
	return e.explanation(s, in, c, bits, subnet, true, nil), nil
}

// explain fills m with TXT records describing the decision for the client.
func (e *Engine) explain(m *dns.Msg, s *snapshot, qname string, in *instance, c clientAddr, ecs *dns.EDNS0_SUBNET) {
	bits := 0
	if ecs != nil {
		bits = int(ecs.SourceNetmask)
	}
	// No draw: the DNS explain leaves the answers' random source alone.
	x := e.explanation(s, in, c, bits, ecs != nil, false, in.geoMisses)
	for _, l := range x.Lines {
		m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: chunk(printable(l))})
	}
}

// explanation is the decision for client c of in, from s. ecsBits is the
// ECS option's source prefix and ecs whether there was one; with draw the
// answer's addresses are drawn; misses counts a GeoIP miss (nil: none).
func (e *Engine) explanation(s *snapshot, in *instance, c clientAddr, ecsBits int, ecs, draw bool, misses prometheus.Counter) Explanation {
	x := Explanation{Instance: in.name, Type: in.typeName(), Policy: in.src.Policy.String(), rules: len(in.rules),
		Collections: []CollectionExplanation{}, Answer: []string{}}
	if in.dual {
		x.Failover = in.src.Failover.String()
	}
	x.Records = in.records()
	switch {
	case !in.byClient:
		x.Client.From = "none"
	case c.fromECS:
		x.Client = ExplainedClient{From: "ecs", Address: c.addr, PrefixLength: ecsBits}
	default:
		x.Client = ExplainedClient{From: "query-source", Address: c.addr, ECSIgnored: ecs && in.ignoreECS}
	}
	if (in.geo || in.nearest) && c.addr.IsValid() {
		if db := e.geo.Load(); db != nil {
			loc, bits, found := db.Lookup(c.addr)
			x.GeoIP = &GeoIPLookup{Network: netip.PrefixFrom(c.addr, bits).Masked(), Found: found, Database: db.Kind()}
			if found {
				x.GeoIP.Continent, x.GeoIP.Country, x.GeoIP.Subdivision = loc.Continent, loc.Country, loc.Subdivision
			}
			if loc.Place.Valid() {
				x.GeoIP.Coordinates = &Coordinates{Lat: loc.Place.Lat, Lon: loc.Place.Lon, AccuracyRadiusKm: int(loc.Radius)}
			}
		}
	}
	if in.asns != nil && c.addr.IsValid() {
		if db := e.asn.Load(); db != nil {
			n, bits, found := db.Lookup(c.addr)
			x.ASN = &ASNLookup{Network: netip.PrefixFrom(c.addr, bits).Masked(), Found: found, Number: n, Database: db.Kind()}
		}
	}
	r, scope, at := e.decideCounting(in, c, misses)
	x.ECSScope = ecsScope(in, c, max(scope, r.hashBits(c.addr)))
	x.Rule, x.State, x.Why, x.TTL, x.Degraded = r.name, r.state, r.why, r.ttl, r.degraded
	x.ActiveCollection, x.FailbackHold = activeCollection(r.state), r.held
	x.Pin = s.over.pinOf(in.src, r.name)
	switch r.src.Match {
	case config.MatchCIDR:
		x.MatchedBy = "cidr"
	case config.MatchDefault:
		x.MatchedBy = "default"
	case config.MatchASN:
		x.MatchedBy = "asn"
	default:
		x.MatchedBy = "geo"
	}
	sw := s.over.ruleSwitch(in.name, r.name, s.over.Switch(in.src))
	type shown struct {
		name   string
		c      *policy.Collection
		cfg    *config.Collection
		pinned bool
	}
	cols := []shown{{"primary", r.primary, r.src.Primary, sw == config.SwitchPrimary}, {"secondary", r.secondary, r.src.Secondary, sw == config.SwitchSecondary}}
	if r.fam != nil && in.src.Failover == config.FailoverSeparate {
		// Each family decided over its own pools: show those.
		cols = cols[:0]
		for i := range r.fam {
			f, t := &r.fam[i], dualTypes[i].String()
			cols = append(cols, shown{"primary " + t, f.primary, r.src.Primary, sw == config.SwitchPrimary},
				shown{"secondary " + t, f.secondary, r.src.Secondary, sw == config.SwitchSecondary})
		}
	}
	for _, col := range cols {
		if col.c == nil {
			continue
		}
		ce := CollectionExplanation{Name: col.name, Available: col.c.Available, AvailablePools: len(col.c.Avail),
			Method: col.c.Method.String(), MinAvailable: col.cfg.MinAvailable.String(), Pools: make([]MemberStatus, len(col.c.Members))}
		ce.Why = fmt.Sprintf("%d of %d pools available, min-available %s", len(col.c.Avail), len(col.c.Members), ce.MinAvailable)
		if col.pinned {
			ce.Why = fmt.Sprintf("pinned: every pool with a usable address answers (%d of %d)", len(col.c.Avail), len(col.c.Members))
		} else if r.fam != nil && in.src.Failover == config.FailoverTogether {
			ce.Why += ", and a pool of each family it holds"
		}
		for i, mem := range col.c.Members {
			p := mem.Pool
			// The pool as the rule compiled it, its addresses as the
			// snapshot has them.
			ms := MemberStatus{Weight: mem.Weight, PoolStatus: PoolStatus{Name: p.Name, Available: p.Available,
				Method: p.Method.String(), Usable: p.Usable, Total: p.Total}}
			if conf := s.idx.pools.get(p.Name); conf != nil {
				ps := e.poolStatus(s, conf)
				ps.Available, ps.Method, ps.Usable, ps.Total = p.Available, p.Method.String(), p.Usable, p.Total
				ms.PoolStatus = ps
			}
			ce.Pools[i] = ms
		}
		x.Collections = append(x.Collections, ce)
	}
	answering := []*rule{r}
	if r.fam != nil {
		answering = []*rule{&r.fam[0], &r.fam[1]}
	}
	for _, ar := range answering {
		if ar.active != nil && in.latency && (ar.state == StatePrimary || ar.state == StateSecondary) {
			if x.LatencyPools == nil {
				x.LatencyPools = []string{}
			}
			for _, mem := range ar.active.Avail {
				x.LatencyPools = append(x.LatencyPools, mem.Pool.Name)
			}
		}
	}
	if in.nearest {
		x.Nearest = nearestExplanation(in, answering[0], at)
	}
	for i, ar := range answering {
		var drawn []string
		if draw && ar.active != nil {
			var buf [16]*policy.Addr
			picks := in.pick(buf[:0], ar, at, c.addr, e.Rand)
			if in.qtype == dns.TypeCNAME && len(picks) > 1 {
				picks = picks[:1]
			}
			for _, a := range picks {
				if a.Target != "" {
					drawn = append(drawn, a.Target)
				} else {
					drawn = append(drawn, a.IP.String())
				}
			}
		}
		x.Answer = append(x.Answer, drawn...)
		if r.fam != nil {
			fs := families(r)[i]
			xf := ExplainedFamily{FamilyStatus: fs, Answer: append([]string{}, drawn...)}
			if in.nearest {
				xf.Nearest = nearestExplanation(in, ar, at)
			}
			x.Families = append(x.Families, xf)
		}
	}
	x.Lines = x.text(time.Now())
	return x
}

// text is the explanation as the DNS explain query's lines; now dates the
// probes ("716us ago").
func (x *Explanation) text(now time.Time) []string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	add("instance %s policy %s, %s", x.Instance, x.Policy, count(x.rules, "rule"))
	if x.Failover != "" {
		add("dual-stack: A from the IPv4 pools, AAAA from the IPv6 pools, failover %s", x.Failover)
	}
	if len(x.Records) > 1 && x.Records[len(x.Records)-1] != "AAAA" {
		add("answers %s (HTTPS and SVCB hint at the addresses of the same draw)", strings.Join(x.Records, " "))
	}
	switch {
	case x.Client.From == "none":
		add("client: not used (only a default rule)")
	case x.Client.From == "ecs":
		add("client %s/%d from the ECS option", x.Client.Address, x.Client.PrefixLength)
	case x.Client.ECSIgnored:
		add("client %s (query source; ECS ignored: ecs off)", x.Client.Address)
	default:
		add("client %s (query source)", x.Client.Address)
	}
	if a := x.ASN; a != nil {
		if a.Found {
			add("asn %s: AS%d (%s)", a.Network, a.Number, a.Database)
		} else {
			add("asn %s: not in the database (%s)", a.Network, a.Database)
		}
	}
	if g := x.GeoIP; g != nil {
		if g.Found {
			at := ""
			if c := g.Coordinates; c != nil {
				at = fmt.Sprintf(", at %.4f %.4f within %d km", c.Lat, c.Lon, c.AccuracyRadiusKm)
			}
			add("geoip %s: continent %s country %s subdivision %s (%s)%s", g.Network, orDash(g.Continent), orDash(g.Country), orDash(g.Subdivision), g.Database, at)
		} else {
			add("geoip %s: not in the database (%s)", g.Network, g.Database)
		}
	}
	add("rule %s", x.Rule)
	add("state %s: %s", x.State, x.Why)
	if x.Pin != nil {
		add("switch %s: the %s is pinned by an operator (instead of %s)", x.Pin.Switch, x.Pin.Scope, x.Pin.Replaces)
	}
	ttl := fmt.Sprint(x.TTL)
	if x.Degraded {
		ttl += " (degraded)"
	}
	add("ttl %s, ecs scope %d", ttl, x.ECSScope)
	for _, c := range x.Collections {
		add("collection %s: %s, %d of %d pools available, method %s", c.Name, availableWord(c.Available), c.AvailablePools, len(c.Pools), c.Method)
		for _, p := range c.Pools {
			add("  pool %s: %s, %d of %d addresses usable, method %s, weight %d", p.Name, availableWord(p.Available), p.Usable, p.Total, p.Method, p.Weight)
			for _, a := range p.Addresses {
				lines = append(lines, addressLine(&a, now))
			}
		}
	}
	for _, f := range x.Families {
		ttl := fmt.Sprint(f.TTL)
		if f.Degraded {
			ttl += " (degraded)"
		}
		if len(f.Pools) == 0 {
			add("family %s: state %s, ttl %s: no usable pool of the family in what answers: NODATA", f.Type, f.State, ttl)
		} else {
			add("family %s: state %s, ttl %s, answering from %s", f.Type, f.State, ttl, strings.Join(f.Pools, ", "))
		}
	}
	if x.LatencyPools != nil {
		add("latency: answering from %s (the fastest measured pools within the tie band; all when none is measured)", strings.Join(x.LatencyPools, ", "))
	}
	if n := x.Nearest; n != nil {
		if !n.Used {
			add("nearest: not by distance: %s", n.Why)
		} else {
			for _, p := range n.Pools {
				add("  distance %s (%.4f %.4f): %.0f km, bias %d, counts %.0f km", p.Pool, p.Lat, p.Lon, p.Km, p.Bias, p.BiasedKm)
			}
			add("nearest: answering from %s (%s)", strings.Join(n.Answering, ", "), n.Why)
		}
	}
	return lines
}

// nearestExplanation is the distances of the active collection's
// available pools from the client at, and which of them answer.
func nearestExplanation(in *instance, r *rule, at policy.Point) *NearestExplanation {
	n := &NearestExplanation{TiePercent: in.tiePct, TieKm: int(in.tieKm), Pools: []PoolDistance{}, Answering: []string{}}
	switch {
	case r.active == nil:
		n.Why = "no collection answers"
		return n
	case r.state != StatePrimary && r.state != StateSecondary:
		n.Why = fmt.Sprintf("the rule answers %s", r.state)
		return n
	case r.src.Match == config.MatchCIDR:
		n.Why = "a cidr rule decided; its collection answers as its method says"
		return n
	case !at.Valid():
		n.Why = "the GeoIP database has no coordinates for the client; the collection answers as its method says"
		return n
	}
	n.Used = true
	best := math.Inf(1)
	for _, m := range r.active.Avail {
		km, biased := m.Pool.Distance(at)
		p, _ := m.Pool.Located()
		n.Pools = append(n.Pools, PoolDistance{Pool: m.Pool.Name, Lat: p.Lat, Lon: p.Lon, Km: round1(km), Bias: m.Pool.Bias(), BiasedKm: round1(biased)})
		best = min(best, biased)
	}
	limit := policy.TieLimit(best, in.tiePct, in.tieKm)
	for _, m := range r.active.Avail {
		if _, biased := m.Pool.Distance(at); biased <= limit {
			n.Answering = append(n.Answering, m.Pool.Name)
		}
	}
	slices.SortStableFunc(n.Pools, func(a, b PoolDistance) int { return cmp.Compare(a.BiasedKm, b.BiasedKm) })
	n.Why = fmt.Sprintf("within %d%% or %d km of the nearest, %.0f km as biased; method %s", in.tiePct, int(in.tieKm), best, r.active.Method)
	return n
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// addressLine describes an address as the snapshot that made the answer
// saw it, not as the live table has it since.
func addressLine(a *AddressStatus, now time.Time) string {
	line := fmt.Sprintf("    address %s: mode %s, health %s", a.Value, a.EffectiveMode, a.Health)
	if p := a.LastProbe; p != nil {
		ago := now.Sub(p.Time).Round(time.Millisecond)
		if p.OK {
			line += fmt.Sprintf(", last probe passed in %s, %s ago", ascii(time.Duration(p.RTT).Round(time.Microsecond)), ascii(ago))
		} else {
			errText := p.Error
			if errText == "" {
				errText = "<nil>"
			}
			line += fmt.Sprintf(", last probe failed (%s), %s ago", errText, ascii(ago))
		}
		if l := a.Latency; l != nil {
			line += fmt.Sprintf(", latency %s from %s", ascii(time.Duration(l.Average).Round(time.Microsecond)), l.Vantage)
		}
		for _, f := range a.LatencyFrom {
			line += fmt.Sprintf(", %s from %s", ascii(time.Duration(f.Average).Round(time.Microsecond)), f.Region)
		}
	} else if a.EffectiveMode == config.ModeAuto.String() {
		line += ", not probed"
	}
	if a.Override != "" {
		line += fmt.Sprintf(" (operator override; configured %s)", a.Mode)
	}
	return line
}

// ascii writes a duration in ASCII: "716us", not Go's "716µs", which dig
// shows as "716\194\181s".
func ascii(d time.Duration) string { return strings.Replace(d.String(), "µ", "u", 1) }

// count is "1 rule", "3 rules".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printable keeps a line to printable ASCII, escaping anything else (a
// name or an error message from elsewhere) as \uXXXX, so that every
// resolver and terminal shows the same text.
func printable(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			var b strings.Builder
			for _, r := range s {
				if r >= 0x20 && r <= 0x7e {
					b.WriteRune(r)
				} else {
					fmt.Fprintf(&b, "\\u%04x", r)
				}
			}
			return b.String()
		}
	}
	return s
}

func availableWord(ok bool) string {
	if ok {
		return "available"
	}
	return "not available"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// chunk splits a line into TXT strings of at most 255 bytes.
func chunk(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}
