package engine

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gtm-project/gtm/dnssec"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Query is a question for one of the engine's zones, as the CoreDNS glue
// hands it over.
type Query struct {
	Req     *dns.Msg
	Name    string // lower case, fully qualified
	Type    uint16
	Zone    string   // the engine's zone that holds Name
	Remote  net.Addr // who sent it
	TCP     bool
	Through bool // another plugin serves the rest of the zone (fallthrough)
	// Decision, when set, is filled with why the query got its answer.
	Decision *Decision
}

// Outcome says who answers a query.
type Outcome uint8

const (
	// Reply: the engine's reply is the answer.
	Reply Outcome = iota
	// Pass: the next plugin answers; gtm has nothing at the name.
	Pass
	// PassExists: the next plugin answers other types at a name that
	// exists in gtm, so it must not deny the name (NXDOMAIN becomes NODATA).
	PassExists
)

// Answer answers q from the current snapshot and the GeoIP and ASN
// databases, and nothing else: no lock, no I/O (in a signed zone, a set
// not signed yet is signed here, on its first use). The reply carries its own OPT record when
// the query had one, with the ECS option and its scope, so CoreDNS does not
// rebuild EDNS from the request.
func (e *Engine) Answer(q Query) (*dns.Msg, Outcome) {
	s := e.snap.Load()
	in := s.instance(q.Name)
	sz := e.signer.Zone(q.Zone) // nil: the zone is not signed
	if in == nil && len(s.cfg.ExplainFrom) > 0 && strings.HasPrefix(q.Name, explainLabel) {
		if target := s.instance(q.Name[len(explainLabel):]); target != nil {
			if src := addrOf(q.Remote); src.IsValid() && explainAllowed(s, src) {
				return e.serveExplain(q, s, target, sz), Reply
			}
		}
	}
	h := s.hosts[q.Name]
	if q.Through && !owns(in, h, q.Type) {
		if in != nil || h != nil || s.ents[q.Name] != nil {
			// The name exists in gtm: the next plugin may hold other types
			// at it, but must not deny the name (RFC 8020 resolvers would
			// then drop everything below it).
			return nil, PassExists
		}
		return nil, Pass
	}

	m, ecs, ok := reply(q)
	if !ok {
		return m, Reply
	}
	if sz != nil && q.Type == dns.TypeNXNAME {
		// RFC 9824 3.5: NXNAME is only ever a denial's bitmap.
		m.Authoritative, m.Rcode = false, dns.RcodeFormatError
		withEDNS(q.Req, m, nil, 0)
		return m, Reply
	}
	if sz != nil && q.Type == dns.TypeRRSIG {
		if o := q.Req.IsEdns0(); o != nil && o.Do() {
			// The signatures at a name are made per answer (per client,
			// per health state), so there is no set of them to give;
			// online signers answer NOTIMP, and validators never ask.
			m.Authoritative, m.Rcode = false, dns.RcodeNotImplemented
			withEDNS(q.Req, m, nil, 0)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeNotSupported,
				ExtraText: "RRSIG queries: ask for the signed type with DO"})
			return m, Reply
		}
	}
	scope := 0
	w := where{in: in, h: h, exists: true, zones: s.cfg.Zones, through: q.Through}
	switch {
	case sz != nil && q.Name == q.Zone && keyAnswer(m, sz, q.Type):
		w.apex = true
	case in != nil:
		w.apex = s.zones[q.Name] != nil
		if q.Decision != nil {
			q.Decision.Client = clientSubnet(q.Remote, in, ecs)
		}
		scope = e.answer(m, q.Name, in, h, q.Type, e.client(q.Remote, in, ecs), q.Decision)
	case s.zones[q.Name] != nil:
		w.apex = true
		apex(m, s.zones[q.Name], h, q.Type)
	case h != nil:
		hostAnswer(m, h, q.Type)
	case s.ents[q.Name] != nil:
		m.Ns = []dns.RR{soaCopy(s.ents[q.Name])}
	default:
		w.exists = false
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soaCopy(s.zones[q.Zone])}
	}
	co := false
	if sz != nil {
		if o := q.Req.IsEdns0(); o != nil && o.Do() {
			if z := s.zones[q.Zone]; z != nil {
				w.soaTTL = z.soa.Hdr.Ttl
			}
			co = secure(m, sz, q, w, o.Co())
		}
	}
	withEDNS(q.Req, m, ecs, scope)
	if co {
		m.IsEdns0().SetCo()
	}
	return m, Reply
}

// withEDNS gives the reply the query's EDNS, and the ECS option with the
// scope the answer depended on.
func withEDNS(r, m *dns.Msg, ecs *dns.EDNS0_SUBNET, scope int) {
	o := r.IsEdns0()
	if o == nil {
		return
	}
	m.SetEdns0(o.UDPSize(), o.Do())
	if ecs != nil {
		opt := m.Extra[len(m.Extra)-1].(*dns.OPT)
		opt.Option = append(opt.Option, echoECS(ecs, scope))
	}
}

func addrOf(a net.Addr) netip.Addr {
	var ip netip.Addr
	switch ra := a.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(ra.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(ra.IP)
	}
	return ip.Unmap()
}

// owns reports whether gtm answers qtype at a name under fallthrough: the
// instance's own type (a CNAME's every type), ANY, and a name server's
// address types. Everything else at the name belongs to the next plugin.
func owns(in *instance, h *host, qtype uint16) bool {
	switch {
	case in != nil:
		return in.serves(qtype)
	case h != nil:
		return qtype == dns.TypeA && len(h.a) > 0 || qtype == dns.TypeAAAA && len(h.aaaa) > 0
	}
	return false
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

// reply starts the authoritative reply to q and reads its ECS option; a
// malformed option makes the reply a finished FORMERR (ok false).
func reply(q Query) (m *dns.Msg, ecs *dns.EDNS0_SUBNET, ok bool) {
	m = new(dns.Msg)
	m.SetReply(q.Req)
	m.Authoritative = true
	ecs, err := queryECS(q.Req)
	if err != nil {
		m.Authoritative = false
		m.Rcode = dns.RcodeFormatError
		withEDNS(q.Req, m, nil, 0)
		return m, nil, false
	}
	return m, ecs, true
}

func (e *Engine) serveExplain(q Query, s *snapshot, in *instance, sz *dnssec.Zone) *dns.Msg {
	m, ecs, ok := reply(q)
	if !ok {
		return m
	}
	switch {
	case q.Type != dns.TypeTXT:
		// The name has a TXT set, so other types get NODATA: an NXDOMAIN
		// here would deny the TXT too (RFC 8020).
		m.Ns = []dns.RR{soaCopy(in.zone)}
	case !q.TCP:
		// A long answer to a short question from a source that UDP cannot
		// prove: an amplifier if explain is opened wide. Only over TCP.
		m.Truncated = true
	default:
		e.explain(m, s, q.Name, in, e.client(q.Remote, in, ecs), ecs)
	}
	if sz != nil {
		if o := q.Req.IsEdns0(); o != nil && o.Do() {
			if len(m.Answer) > 0 {
				// Made for this client and this moment: signed now.
				ttl := m.Answer[0].Header().Ttl
				m.Answer = appendSigs(m.Answer, sz.SignNow(m.Answer, ttl), ttl)
			} else {
				secure(m, sz, q, where{exists: true, explain: true, soaTTL: in.zone.soa.Hdr.Ttl}, false)
			}
		}
	}
	withEDNS(q.Req, m, ecs, 0)
	return m
}

// clientAddr is who asks, as far as the instance's rules care: the ECS
// subnet when present and allowed, else the source address.
type clientAddr struct {
	addr    netip.Addr
	fromECS bool
	mapped  bool // an IPv4-mapped IPv6 ECS address: decided as IPv4, scope given in IPv6 bits
}

func (e *Engine) client(remote net.Addr, in *instance, ecs *dns.EDNS0_SUBNET) clientAddr {
	if !in.byClient {
		return clientAddr{}
	}
	if ecs != nil && !in.ignoreECS && ecs.SourceNetmask > 0 {
		if a, ok := ecsAddr(ecs); ok {
			return clientAddr{addr: a.Unmap(), fromECS: true, mapped: a.Is4In6()}
		}
	}
	return clientAddr{addr: addrOf(remote)}
}

// decide picks the rule for the client and returns the ECS scope: the
// prefix length around the client within which every address gets the same
// rule (0 when the answer does not depend on the client), and, for a
// nearest instance, where the GeoIP database places the client (not
// Valid when it does not, or a CIDR rule decided).
func (e *Engine) decide(in *instance, c clientAddr) (r *rule, scope int, at policy.Point) {
	return e.decideCounting(in, c, in.geoMisses)
}

// decideCounting is decide, counting a client the GeoIP database does not
// place in misses (nil: nowhere, for an explanation that is no query).
func (e *Engine) decideCounting(in *instance, c clientAddr, misses prometheus.Counter) (r *rule, scope int, at policy.Point) {
	r, scope, at = e.decideRule(in, c, misses)
	if len(r.far) > 0 && c.addr.IsValid() {
		r, scope = e.fromVantage(r, c, scope)
	}
	return r, scope, at
}

func (e *Engine) decideRule(in *instance, c clientAddr, misses prometheus.Counter) (r *rule, scope int, at policy.Point) {
	if !in.byClient || !c.addr.IsValid() {
		return in.def, 0, at
	}
	var foreign int
	if !in.cidr.Empty() {
		var ok bool
		if r, _, ok, foreign = in.cidr.Lookup(c.addr); ok {
			return r, foreign, at
		}
	}
	if in.asns != nil {
		// Then the client's autonomous system: the answer holds within
		// the database's network around it (and the CIDR scope).
		if db := e.asn.Load(); db != nil {
			asn, bits, found := db.Lookup(c.addr)
			foreign = max(foreign, bits)
			if m, ok := in.asns[asn]; ok && found {
				return m, foreign, at
			}
		}
	}
	r = in.def
	if !in.geo && !in.nearest {
		return r, foreign, at
	}
	db := e.geo.Load()
	if db == nil {
		return r, foreign, at
	}
	loc, bits, found := db.Lookup(c.addr)
	scope = max(bits, foreign)
	if !found {
		if misses != nil {
			misses.Inc()
		}
		return r, scope, at
	}
	if in.nearest {
		at = loc.Place
	}
	if m, ok := in.subdivisions[loc.Subdivision]; ok && loc.Subdivision != "" {
		return m, scope, at
	}
	if m, ok := in.countries[loc.Country]; ok {
		return m, scope, at
	}
	if m, ok := in.continents[loc.Continent]; ok {
		return m, scope, at
	}
	return r, scope, at
}

// pick draws the rule's answer for client: for a nearest instance whose
// client has a place, from the available pools nearest to it (in the tie
// band), else as the active collection's method says (a hash pool keys on
// the client's address).
func (in *instance) pick(dst []*policy.Addr, r *rule, at policy.Point, client netip.Addr, rnd policy.Rand) []*policy.Addr {
	if in.nearest && at.Valid() && (r.state == StatePrimary || r.state == StateSecondary) {
		return r.active.PickNearestFor(dst, rnd, at, in.tiePct, in.tieKm, client)
	}
	return r.active.PickFor(dst, rnd, client)
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

// clientSubnet is the client's subnet as the instance sees it: the ECS
// subnet when it has one and uses it, else the source address.
func clientSubnet(remote net.Addr, in *instance, ecs *dns.EDNS0_SUBNET) netip.Prefix {
	if ecs != nil && !in.ignoreECS && ecs.SourceNetmask > 0 {
		if a, ok := ecsAddr(ecs); ok {
			return netip.PrefixFrom(a, int(ecs.SourceNetmask))
		}
	}
	a := addrOf(remote)
	return netip.PrefixFrom(a, a.BitLen())
}

// answer fills m for a query on a managed name and returns the ECS scope;
// d, when not nil, gets the decision.
func (e *Engine) answer(m *dns.Msg, qname string, in *instance, h *host, qtype uint16, c clientAddr, d *Decision) int {
	// An apex instance also owns the zone's SOA and NS.
	if in.name == in.zone.name && (qtype == dns.TypeSOA || qtype == dns.TypeNS) {
		apex(m, in.zone, h, qtype)
		return 0
	}
	// A CNAME answers every type; addresses only their own type (and ANY).
	if !in.serves(qtype) {
		m.Ns = []dns.RR{soaCopy(in.zone)}
		return 0
	}
	r, scope, at := e.decide(in, c)
	if r.answered != nil {
		r.answered.n.Add(1)
	}
	if d != nil {
		d.Instance, d.Rule, d.State = in.name, r.name, r.state
		d.npools = 0 // addresses adds each family's pools
	}
	if r.hash4 != 0 {
		// A hash pool's answer depends on the client's prefix it keys on.
		scope = max(scope, r.hashBits(c.addr))
	}
	scope = ecsScope(in, c, scope)
	switch {
	case qtype == in.qtype && !in.dual:
		e.addresses(m, qname, in, r, at, c.addr, d, in.qtype)
	case in.svc != nil && in.svcFor(qtype) != nil:
		e.service(m, qname, in, r, at, c.addr, d, qtype, in.svcFor(qtype))
	case !in.dual:
		e.addresses(m, qname, in, r, at, c.addr, d, in.qtype)
	case qtype == dns.TypeANY:
		// Both families, each from its own decision.
		e.addresses(m, qname, in, &r.fam[0], at, c.addr, d, dns.TypeA)
		a, rcode := m.Answer, m.Rcode
		m.Answer, m.Ns, m.Rcode, m.Authoritative = nil, nil, dns.RcodeSuccess, true
		e.addresses(m, qname, in, &r.fam[1], at, c.addr, d, dns.TypeAAAA)
		if len(a) > 0 {
			m.Answer, m.Ns, m.Rcode, m.Authoritative = append(a, m.Answer...), nil, dns.RcodeSuccess, true
		} else if len(m.Answer) == 0 && rcode == dns.RcodeServerFailure && m.Rcode == dns.RcodeServerFailure {
			m.Ns = nil
		}
	default:
		// A family the active collection lacks (or has no usable pool
		// of) gets NODATA: never the other family's addresses, and no
		// failover of its own.
		e.addresses(m, qname, in, r.family(qtype), at, c.addr, d, qtype)
	}
	return scope
}

// serves reports whether the instance answers qtype with data of its own
// (a CNAME instance answers every type with its CNAME).
func (in *instance) serves(qtype uint16) bool {
	switch {
	case qtype == in.qtype && !in.dual, qtype == dns.TypeANY, in.qtype == dns.TypeCNAME:
		return true
	case in.dual && (qtype == dns.TypeA || qtype == dns.TypeAAAA):
		return true
	}
	return in.svcFor(qtype) != nil
}

// addresses fills m with the answer of the decided rule r (a family of it,
// for a dual-stack instance) to client as records of rrtype: A, AAAA or
// CNAME; d, when not nil, gets the pools answered from.
func (e *Engine) addresses(m *dns.Msg, qname string, in *instance, r *rule, at policy.Point, client netip.Addr, d *Decision, rrtype uint16) {
	if r.active == nil {
		if r.state == StateServFail {
			m.Authoritative = false
			m.Rcode = dns.RcodeServerFailure
			return
		}
		m.Ns = []dns.RR{negative(in, r)}
		return
	}
	var buf [16]*policy.Addr
	picks := in.pick(buf[:0], r, at, client, e.Rand)
	if len(picks) == 0 {
		m.Ns = []dns.RR{negative(in, r)}
		return
	}
	if rrtype == dns.TypeCNAME {
		picks = picks[:1]
	}
	in.count(picks)
	if d != nil {
		d.addPools(picks)
	}
	// The question's name is the instance's (the lookup matched it), and
	// it is in the cache; the configuration's copy is not.
	hdr := dns.RR_Header{Name: qname, Rrtype: rrtype, Class: dns.ClassINET, Ttl: r.ttl}
	switch rrtype {
	case dns.TypeCNAME:
		// One name has one CNAME: the method's first choice.
		m.Answer = []dns.RR{&dns.CNAME{Hdr: hdr, Target: picks[0].Target}}
	case dns.TypeA:
		rrs := make([]dns.A, len(picks))
		m.Answer = make([]dns.RR, len(picks))
		for i, a := range picks {
			rrs[i] = dns.A{Hdr: hdr, A: a.Raw()}
			m.Answer[i] = &rrs[i]
		}
	case dns.TypeAAAA:
		rrs := make([]dns.AAAA, len(picks))
		m.Answer = make([]dns.RR, len(picks))
		for i, a := range picks {
			rrs[i] = dns.AAAA{Hdr: hdr, AAAA: a.Raw()}
			m.Answer[i] = &rrs[i]
		}
	}
}

// negative is the SOA of a NODATA answer from rule r: while the rule is
// degraded (all down, or a family without usable addresses), resolvers may
// cache it no longer than the degraded TTL, so they see the recovery as
// soon.
func negative(in *instance, r *rule) dns.RR {
	soa := soaCopy(in.zone).(*dns.SOA)
	if r.degraded || r.active == nil {
		soa.Hdr.Ttl, soa.Minttl = min(soa.Hdr.Ttl, r.ttl), min(soa.Minttl, r.ttl)
	}
	return soa
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
			c.n.Add(1)
		}
	}
}
