// Package gtm is a CoreDNS plugin that answers for managed names with the
// addresses of healthy endpoints, chosen from primary and secondary
// collections of address pools.
package gtm

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/request"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

const pluginName = "gtm"

// GTM is the plugin handler. What it answers from lives in its engine,
// which server blocks with the same configuration share once started.
type GTM struct {
	Next plugin.Handler
	Fall fall.F

	zones []string
	rand  policy.Rand
	*engine
	started bool // under proc.mu
}

// New returns a handler for a validated configuration, answering from a
// snapshot compiled with every address's health unknown (so usable unless
// forced down).
func New(cfg *config.Config) *GTM {
	return &GTM{zones: cfg.Zones, rand: policy.DefaultRand, engine: newEngine(cfg)}
}

// Name implements plugin.Handler.
func (g *GTM) Name() string { return pluginName }

// ServeDNS implements plugin.Handler. It reads the current snapshot and
// GeoIP database and nothing else: no lock, no parsing, no I/O.
func (g *GTM) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	zname := plugin.Zones(g.zones).Matches(qname)
	// Only class IN is ours; CHAOS and the rest belong to other plugins.
	if zname == "" || state.QClass() != dns.ClassINET {
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	s := g.snap.Load()
	in := s.names[qname]
	if in == nil && len(g.cfg.ExplainFrom) > 0 && strings.HasPrefix(qname, explainLabel) {
		if target := s.names[qname[len(explainLabel):]]; target != nil && state.QType() == dns.TypeTXT {
			if src, ok := netip.AddrFromSlice(net.ParseIP(state.IP())); ok && g.explainAllowed(src.Unmap()) {
				return g.serveExplain(w, r, qname, target)
			}
		}
	}
	if in == nil && g.Fall.Through(qname) {
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	ecs, err := queryECS(r)
	if err != nil {
		m.Authoritative = false
		m.Rcode = dns.RcodeFormatError
		g.reply(w, r, m, nil, 0)
		return dns.RcodeSuccess, nil
	}
	scope := 0
	qtype := state.QType()
	switch {
	case in != nil:
		scope = g.answer(m, in, qtype, g.client(w, in, ecs))
	case s.zones[qname] != nil:
		z := s.zones[qname]
		switch qtype {
		case dns.TypeSOA:
			m.Answer = []dns.RR{soaCopy(z)}
		case dns.TypeNS:
			m.Answer = nsCopy(z)
		default:
			m.Ns = []dns.RR{soaCopy(z)}
		}
	case s.ents[qname] != nil:
		m.Ns = []dns.RR{soaCopy(s.ents[qname])}
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soaCopy(s.zones[zname])}
	}
	g.reply(w, r, m, ecs, scope)
	return dns.RcodeSuccess, nil
}

func (g *GTM) serveExplain(w dns.ResponseWriter, r *dns.Msg, qname string, in *instance) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	ecs, err := queryECS(r)
	if err != nil {
		m.Rcode = dns.RcodeFormatError
		g.reply(w, r, m, nil, 0)
		return dns.RcodeSuccess, nil
	}
	g.explain(m, qname, in, g.client(w, in, ecs), ecs)
	g.reply(w, r, m, ecs, 0)
	return dns.RcodeSuccess, nil
}

// reply writes m with its own OPT record when the query had one, so that the
// client's EDNS and the ECS option with its scope reach the client instead of
// CoreDNS rebuilding EDNS from the request.
func (g *GTM) reply(w dns.ResponseWriter, r, m *dns.Msg, ecs *dns.EDNS0_SUBNET, scope int) {
	if o := r.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), o.Do())
		if ecs != nil {
			opt := m.Extra[len(m.Extra)-1].(*dns.OPT)
			opt.Option = append(opt.Option, echoECS(ecs, scope))
		}
	}
	w.WriteMsg(m)
}

// clientAddr is who asks, as far as the instance's rules care: the ECS
// subnet when present and allowed, else the source address.
type clientAddr struct {
	addr    netip.Addr
	fromECS bool
	mapped  bool // an IPv4-mapped IPv6 ECS address: decided as IPv4, scope given in IPv6 bits
}

func (g *GTM) client(w dns.ResponseWriter, in *instance, ecs *dns.EDNS0_SUBNET) clientAddr {
	if !in.byClient {
		return clientAddr{}
	}
	if ecs != nil && !in.ignoreECS && ecs.SourceNetmask > 0 {
		if a, ok := ecsAddr(ecs); ok {
			return clientAddr{addr: a.Unmap(), fromECS: true, mapped: a.Is4In6()}
		}
	}
	var a netip.Addr
	switch ra := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		a, _ = netip.AddrFromSlice(ra.IP)
	case *net.TCPAddr:
		a, _ = netip.AddrFromSlice(ra.IP)
	}
	return clientAddr{addr: a.Unmap()}
}

// decide picks the rule for the client and returns the ECS scope: the
// prefix length around the client within which every address gets the same
// rule (0 when the answer does not depend on the client).
func (g *GTM) decide(in *instance, c clientAddr) (r *rule, scope int) {
	if !in.byClient || !c.addr.IsValid() {
		return in.def, 0
	}
	var foreign int
	if !in.cidr.Empty() {
		var ok bool
		if r, _, ok, foreign = in.cidr.Lookup(c.addr); ok {
			return r, foreign
		}
	}
	r = in.def
	if !in.geo {
		return r, foreign
	}
	db := g.geo.Load()
	if db == nil {
		return r, foreign
	}
	loc, bits, found := db.lookup(c.addr)
	scope = max(bits, foreign)
	if !found {
		if in.geoMisses != nil {
			in.geoMisses.Inc()
		}
		return r, scope
	}
	if m, ok := in.subdivisions[loc.subdivision]; ok && loc.subdivision != "" {
		return m, scope
	}
	if m, ok := in.countries[loc.country]; ok {
		return m, scope
	}
	if m, ok := in.continents[loc.continent]; ok {
		return m, scope
	}
	return r, scope
}

// ecsScope turns the scope of a decision into the one the reply carries.
func ecsScope(in *instance, c clientAddr, scope int) int {
	switch {
	case !c.fromECS:
		return 0 // decided by the resolver's own address: says nothing of its clients
	case !in.byClient:
		return 0
	case scope == 0:
		// The answer depends on the client, only not within this family
		// (say IPv4 rules, IPv6 client): scope 0 would let a resolver
		// reuse it for every client of both families.
		scope = 1
	}
	if c.mapped {
		scope += 96
	}
	return scope
}

// answer fills m for a query on a managed name and returns the ECS scope.
func (g *GTM) answer(m *dns.Msg, in *instance, qtype uint16, c clientAddr) int {
	// An apex instance also owns the zone's SOA and NS.
	if in.name == in.zone.name && (qtype == dns.TypeSOA || qtype == dns.TypeNS) {
		if qtype == dns.TypeSOA {
			m.Answer = []dns.RR{soaCopy(in.zone)}
		} else {
			m.Answer = nsCopy(in.zone)
		}
		return 0
	}
	// A CNAME answers every type; addresses only their own type (and ANY).
	if in.qtype != dns.TypeCNAME && qtype != in.qtype && qtype != dns.TypeANY {
		m.Ns = []dns.RR{soaCopy(in.zone)}
		return 0
	}
	r, scope := g.decide(in, c)
	scope = ecsScope(in, c, scope)
	if r.active == nil {
		if r.state == stateServFail {
			m.Authoritative = false
			m.Rcode = dns.RcodeServerFailure
			return scope
		}
		// All down, answering NODATA: resolvers may cache it no longer
		// than the (degraded) TTL, so they see the recovery as soon.
		soa := soaCopy(in.zone).(*dns.SOA)
		soa.Hdr.Ttl, soa.Minttl = min(soa.Hdr.Ttl, r.ttl), min(soa.Minttl, r.ttl)
		m.Ns = []dns.RR{soa}
		return scope
	}
	var buf [16]*policy.Addr
	picks := r.active.Pick(buf[:0], g.rand)
	if len(picks) == 0 {
		m.Ns = []dns.RR{soaCopy(in.zone)}
		return scope
	}
	if in.qtype == dns.TypeCNAME {
		picks = picks[:1]
	}
	in.count(picks)
	hdr := dns.RR_Header{Name: in.name, Rrtype: in.qtype, Class: dns.ClassINET, Ttl: r.ttl}
	switch in.qtype {
	case dns.TypeCNAME:
		// One name has one CNAME: the method's first choice.
		m.Answer = []dns.RR{&dns.CNAME{Hdr: hdr, Target: picks[0].Target}}
	case dns.TypeA:
		rrs := make([]dns.A, len(picks))
		m.Answer = make([]dns.RR, len(picks))
		for i, a := range picks {
			rrs[i] = dns.A{Hdr: hdr, A: a.Raw}
			m.Answer[i] = &rrs[i]
		}
	case dns.TypeAAAA:
		rrs := make([]dns.AAAA, len(picks))
		m.Answer = make([]dns.RR, len(picks))
		for i, a := range picks {
			rrs[i] = dns.AAAA{Hdr: hdr, AAAA: a.Raw}
			m.Answer[i] = &rrs[i]
		}
	}
	return scope
}

func soaCopy(z *zone) dns.RR {
	soa := z.soa
	return &soa
}

func nsCopy(z *zone) []dns.RR {
	rrs := make([]dns.NS, len(z.ns))
	out := make([]dns.RR, len(z.ns))
	for i := range z.ns {
		rrs[i] = z.ns[i]
		out[i] = &rrs[i]
	}
	return out
}

// count adds one answer to each pool that contributed to it.
func (in *instance) count(picks []*policy.Addr) {
	for i, a := range picks {
		first := true
		for _, b := range picks[:i] {
			if b.Pool == a.Pool {
				first = false
				break
			}
		}
		if c := in.answers[a.Pool]; first && c != nil {
			c.Inc()
		}
	}
}
