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
		if g.Next == nil {
			// Like file: an authoritative server refuses what it does not
			// serve, rather than failing (SERVFAIL makes resolvers retry).
			return dns.RcodeRefused, nil
		}
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	through := g.Fall.Through(qname)
	qtype := state.QType()
	// gtm is no secondary and takes no transfers or updates; under
	// fallthrough the plugin that holds the rest of the zone decides.
	if r.Opcode != dns.OpcodeQuery || qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		if through {
			return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
		}
		if r.Opcode == dns.OpcodeQuery {
			return dns.RcodeRefused, nil // as file does without transfer configured
		}
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotImplemented)
		g.reply(w, r, m, nil, 0)
		return dns.RcodeSuccess, nil
	}
	s := g.snap.Load()
	in := s.instance(qname)
	if in == nil && len(s.cfg.ExplainFrom) > 0 && strings.HasPrefix(qname, explainLabel) {
		if target := s.instance(qname[len(explainLabel):]); target != nil {
			if src, ok := netip.AddrFromSlice(net.ParseIP(state.IP())); ok && explainAllowed(s, src.Unmap()) {
				return g.serveExplain(w, r, s, state, target)
			}
		}
	}
	h := s.hosts[qname]
	if through && !owns(in, h, qtype) {
		if in != nil || h != nil || s.ents[qname] != nil {
			// The name exists in gtm: the next plugin may hold other types
			// at it, but must not deny the name (RFC 8020 resolvers would
			// then drop everything below it).
			return plugin.NextOrFailure(g.Name(), g.Next, ctx, existsWriter{w}, r)
		}
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
	switch {
	case in != nil:
		scope = g.answer(m, in, h, qtype, g.client(w, in, ecs))
	case s.zones[qname] != nil:
		apex(m, s.zones[qname], h, qtype)
	case h != nil:
		hostAnswer(m, h, qtype)
	case s.ents[qname] != nil:
		m.Ns = []dns.RR{soaCopy(s.ents[qname])}
	default:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soaCopy(s.zones[zname])}
	}
	g.reply(w, r, m, ecs, scope)
	return dns.RcodeSuccess, nil
}

// owns reports whether gtm answers qtype at a name under fallthrough: the
// instance's own type (a CNAME's every type), ANY, and a name server's
// address types. Everything else at the name belongs to the next plugin.
func owns(in *instance, h *host, qtype uint16) bool {
	switch {
	case in != nil:
		return qtype == in.qtype || in.qtype == dns.TypeCNAME || qtype == dns.TypeANY
	case h != nil:
		return qtype == dns.TypeA && len(h.a) > 0 || qtype == dns.TypeAAAA && len(h.aaaa) > 0
	}
	return false
}

// existsWriter passes on the next plugin's reply for a name that exists in
// gtm, turning its NXDOMAIN (the next plugin does not know gtm's names) into
// NODATA with the next plugin's SOA, the zone's SOA under fallthrough.
type existsWriter struct{ dns.ResponseWriter }

func (e existsWriter) WriteMsg(m *dns.Msg) error {
	if m.Rcode == dns.RcodeNameError && len(m.Answer) == 0 {
		m = m.Copy()
		m.Rcode = dns.RcodeSuccess
	}
	return e.ResponseWriter.WriteMsg(m)
}

// apex answers at a zone's apex: the SOA, the NS set with its glue, a name
// server's addresses when one is named like the zone, the SOA for ANY (RFC
// 8482: a small answer, not everything), NODATA for the rest.
func apex(m *dns.Msg, z *zone, h *host, qtype uint16) {
	switch qtype {
	case dns.TypeSOA, dns.TypeANY:
		m.Answer = []dns.RR{soaCopy(z)}
	case dns.TypeNS:
		m.Answer = nsCopy(z)
		m.Extra = copies(z.glue)
	default:
		if h != nil {
			hostAnswer(m, h, qtype)
			return
		}
		m.Ns = []dns.RR{soaCopy(z)}
	}
}

// hostAnswer answers for an in-zone name server: its addresses, else NODATA.
func hostAnswer(m *dns.Msg, h *host, qtype uint16) {
	switch qtype {
	case dns.TypeA:
		m.Answer = copies(h.a)
	case dns.TypeAAAA:
		m.Answer = copies(h.aaaa)
	case dns.TypeANY:
		m.Answer = append(copies(h.a), copies(h.aaaa)...)
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{soaCopy(h.zone)}
	}
}

func (g *GTM) serveExplain(w dns.ResponseWriter, r *dns.Msg, s *snapshot, state request.Request, in *instance) (int, error) {
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
	switch {
	case state.QType() != dns.TypeTXT:
		// The name has a TXT set, so other types get NODATA: an NXDOMAIN
		// here would deny the TXT too (RFC 8020).
		m.Ns = []dns.RR{soaCopy(in.zone)}
	case state.Proto() == "udp":
		// A long answer to a short question from a source that UDP cannot
		// prove: an amplifier if explain is opened wide. Only over TCP.
		m.Truncated = true
	default:
		g.explain(m, s, state.Name(), in, g.client(w, in, ecs), ecs)
	}
	g.reply(w, r, m, ecs, 0)
	return dns.RcodeSuccess, nil
}

// reply writes m with its own OPT record when the query had one, so that the
// client's EDNS and the ECS option with its scope reach the client instead of
// CoreDNS rebuilding EDNS from the request. A reply that cannot be written is
// logged, counted and replaced by a bare SERVFAIL: the client learns that
// something failed instead of waiting for a reply that never comes.
func (g *GTM) reply(w dns.ResponseWriter, r, m *dns.Msg, ecs *dns.EDNS0_SUBNET, scope int) {
	o := r.IsEdns0()
	if o != nil {
		m.SetEdns0(o.UDPSize(), o.Do())
		if ecs != nil {
			opt := m.Extra[len(m.Extra)-1].(*dns.OPT)
			opt.Option = append(opt.Option, echoECS(ecs, scope))
		}
	}
	err := w.WriteMsg(m)
	if err == nil {
		return
	}
	replyErrors.Inc()
	replyErrLog.report(r, m, err)
	f := new(dns.Msg)
	f.SetRcode(r, dns.RcodeServerFailure)
	if o != nil {
		f.SetEdns0(o.UDPSize(), o.Do())
	}
	w.WriteMsg(f) // the bare reply packs; if the connection itself failed, so does this
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
func (g *GTM) answer(m *dns.Msg, in *instance, h *host, qtype uint16, c clientAddr) int {
	// An apex instance also owns the zone's SOA and NS.
	if in.name == in.zone.name && (qtype == dns.TypeSOA || qtype == dns.TypeNS) {
		apex(m, in.zone, h, qtype)
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
	soa.Serial = z.serial.Load()
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

// copies are fresh copies of template records: plugins that wrap the writer
// (rewrite ttl) edit replies in place.
func copies(rrs []dns.RR) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
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
		if c := in.answers.get(a.Pool); first && c != nil {
			c.Inc()
		}
	}
}
