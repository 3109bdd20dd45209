package gtm

import (
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

// snapshot is everything a query needs, compiled from a validated config and
// a health view. It is never modified after compile: a change builds a new
// one and the plugin swaps a pointer.
type snapshot struct {
	zones map[string]*zone     // by apex name
	names map[string]*instance // managed names
	ents  map[string]*zone     // empty non-terminals above managed names (NODATA, not NXDOMAIN)
}

type zone struct {
	name string
	soa  dns.SOA // template; replies get a copy (cache rewrites TTLs in place)
	ns   []dns.NS
}

// Answer states of a rule, as shown in explanations and metrics.
const (
	statePrimary   = "primary"
	stateSecondary = "secondary"
	stateFailOpen  = "fail-open"
	stateFallback  = "fallback"
	stateNoData    = "nodata"
	stateServFail  = "servfail"
)

type instance struct {
	name  string
	zone  *zone
	qtype uint16 // dns.TypeA, TypeAAAA or TypeCNAME
	ttl   uint32
	def   *rule
}

// rule is a compiled access rule with its active collection decided.
type rule struct {
	primary, secondary *policy.Collection
	active             *policy.Collection // nil when state is nodata or servfail
	state              string
}

const (
	soaRefresh = 7200
	soaRetry   = 1800
	soaExpire  = 1209600
	soaMinTTL  = 60 // negative answers are cached this long at most
)

// compile builds a snapshot. cfg must have passed Validate.
func compile(cfg *config.Config, view health.View) *snapshot {
	s := &snapshot{
		zones: make(map[string]*zone, len(cfg.Zones)),
		names: make(map[string]*instance, len(cfg.Instances)),
		ents:  make(map[string]*zone),
	}
	serial := uint32(time.Now().Unix())
	for _, name := range cfg.Zones {
		s.zones[name] = newZone(cfg, name, serial)
	}

	byName := make(map[string]*config.Pool, len(cfg.Pools))
	healthy := make(map[string]*policy.Pool, len(cfg.Pools))
	failOpen := make(map[string]*policy.Pool, len(cfg.Pools))
	for _, p := range cfg.Pools {
		byName[p.Name] = p
		healthy[p.Name] = policy.NewPool(p, func(a *config.Address) bool {
			return health.Usable(a.Mode, view.Status(health.Key{Pool: p.Name, Address: a.Value()}))
		})
		// Failing open ignores probes but never a forced-down address.
		failOpen[p.Name] = policy.NewPool(p, func(a *config.Address) bool { return a.Mode != config.ModeDown })
	}

	for _, ci := range cfg.Instances {
		in := &instance{name: ci.Name, ttl: ci.TTL, zone: s.zones[longestZone(cfg.Zones, ci.Name)]}
		in.qtype = qtypeOf(byName[ci.Rules[0].Primary.Members[0].Pool].Type)
		for _, cr := range ci.Rules {
			r := compileRule(ci, cr, healthy, failOpen)
			if cr.Match == "default" {
				in.def = r
			}
		}
		s.names[in.name] = in
		// Every name between the instance and its zone exists, without data.
		for n := in.name; n != in.zone.name; {
			i, _ := dns.NextLabel(n, 0)
			n = n[i:]
			if _, ok := s.names[n]; !ok && n != in.zone.name {
				s.ents[n] = in.zone
			}
		}
	}
	for n := range s.names {
		delete(s.ents, n)
	}
	return s
}

func compileRule(ci *config.Instance, cr *config.Rule, healthy, failOpen map[string]*policy.Pool) *rule {
	r := &rule{primary: policy.NewCollection(cr.Primary, healthy, ci.Switch == config.SwitchPrimary)}
	if cr.Secondary != nil {
		r.secondary = policy.NewCollection(cr.Secondary, healthy, ci.Switch == config.SwitchSecondary)
	}
	switch ci.Switch {
	case config.SwitchAuto:
		if r.primary.Available {
			r.active, r.state = r.primary, statePrimary
		} else if r.secondary != nil && r.secondary.Available {
			r.active, r.state = r.secondary, stateSecondary
		}
	case config.SwitchPrimary:
		// Pinned: answer whatever the pinned collection still has, even below
		// its min-available rule; the operator asked for it.
		if len(r.primary.Avail) > 0 {
			r.active, r.state = r.primary, statePrimary
		}
	case config.SwitchSecondary:
		if r.secondary != nil && len(r.secondary.Avail) > 0 {
			r.active, r.state = r.secondary, stateSecondary
		}
	}
	if r.active != nil {
		return r
	}
	switch ci.AllDown {
	case config.FailOpen:
		r.active, r.state = policy.NewCollection(cr.Primary, failOpen, true), stateFailOpen
		if len(r.active.Avail) == 0 { // everything forced down: nothing to open
			r.active, r.state = nil, stateNoData
		}
	case config.Fallback:
		r.active, r.state = policy.Fixed(ci.Fallbacks), stateFallback
	case config.NoData:
		r.state = stateNoData
	case config.ServFail:
		r.state = stateServFail
	}
	return r
}

func newZone(cfg *config.Config, name string, serial uint32) *zone {
	mname, rname := cfg.SOA.MName, cfg.SOA.RName
	if mname == "" {
		mname = "ns1." + name
	}
	if rname == "" {
		rname = "hostmaster." + name
	}
	z := &zone{name: name}
	z.soa = dns.SOA{
		Hdr:     dns.RR_Header{Name: name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: soaMinTTL},
		Ns:      mname,
		Mbox:    rname,
		Serial:  serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  soaMinTTL,
	}
	ns := cfg.NS
	if len(ns) == 0 {
		ns = []string{mname}
	}
	for _, n := range ns {
		z.ns = append(z.ns, dns.NS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: soaMinTTL}, Ns: n})
	}
	return z
}

// longestZone is the most specific of zones that contains name.
func longestZone(zones []string, name string) string {
	best := ""
	for _, z := range zones {
		if dns.IsSubDomain(z, name) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

func qtypeOf(t config.Type) uint16 {
	switch t {
	case config.TypeAAAA:
		return dns.TypeAAAA
	case config.TypeCNAME:
		return dns.TypeCNAME
	}
	return dns.TypeA
}
