package engine

import (
	"slices"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/dnssec"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

// LoadKeys reads the dnssec block's keys (at setup, so that a missing or
// bad file stops CoreDNS from starting). The keys become part of the
// engine's identity: a reload with other keys starts a new engine.
func (e *Engine) LoadKeys() error {
	// The key records' TTL is the apex NS set's: both change as rarely.
	s, err := dnssec.Load(e.cfg, e.cfg.EffectiveNSTTL())
	if err != nil || s == nil {
		return err
	}
	e.signer = s
	e.key += "/dnssec " + s.ID
	return nil
}

// Signer is what the engine signs with, nil when no zone is signed.
func (e *Engine) Signer() *dnssec.Signer { return e.signer }

// keyAnswer answers the apex's key sets of a signed zone; false for any
// other type.
func keyAnswer(m *dns.Msg, sz *dnssec.Zone, qtype uint16) bool {
	var rrs []dns.RR
	switch qtype {
	case dns.TypeDNSKEY:
		rrs = sz.DNSKEY
	case dns.TypeCDS:
		rrs = sz.CDS
	case dns.TypeCDNSKEY:
		rrs = sz.CDNSKEY
	default:
		return false
	}
	if len(rrs) == 0 { // no KSK: nothing for the parent
		return false
	}
	m.Answer = copies(rrs)
	return true
}

// where is what exists at a query's name, for its denial: the instance or
// name server there, whether it is an apex or an empty non-terminal, or
// nothing at all.
type where struct {
	in      *instance
	h       *host
	apex    bool
	exists  bool
	explain bool // an _explain name: a TXT set
	// through: the zone is shared with the next plugin (fallthrough),
	// which may hold other types at the name, unknown to gtm.
	through bool
	zones   []string // the engine's zones
	soaTTL  uint32   // the zone's SOA TTL
}

// secure signs the reply m of a query with DO in the signed zone sz: a
// signature after each set of the answer (from the cache), and for a
// reply without answer the signed SOA and a compact denial (RFC 9824): an
// NSEC at the query's name listing the types there. A name that does not
// exist gets NOERROR and NXNAME in the bitmap, or NXDOMAIN when the query
// set the CO flag; only its NSEC is signed per query. It reports whether
// the reply's OPT must carry CO.
func secure(m *dns.Msg, sz *dnssec.Zone, q Query, w where, co bool) bool {
	if m.Rcode != dns.RcodeSuccess && m.Rcode != dns.RcodeNameError {
		return false
	}
	if len(m.Answer) > 0 {
		m.Answer = signSets(m.Answer, sz, w.in, nil)
		if len(m.Extra) > 0 {
			// The name servers' addresses beside an NS answer (RFC 4035
			// 3.1.1: signatures of the additional section when they fit),
			// those of this zone only: a name in another zone is its
			// zone's to sign.
			m.Extra = signSets(m.Extra, sz, nil, w.zones)
		}
		return false
	}
	if len(m.Ns) != 1 {
		return false
	}
	soa, ok := m.Ns[0].(*dns.SOA)
	if !ok {
		return false
	}
	ttl := min(soa.Hdr.Ttl, soa.Minttl)
	ns := make([]dns.RR, 0, 4)
	ns = append(ns, soa)
	// Signed with the zone's SOA TTL: an all-down NODATA shortens the TTL
	// it is answered with, not the set's.
	ns = appendSigs(ns, sz.Sigs(m.Ns, max(w.soaTTL, soa.Hdr.Ttl), false), soa.Hdr.Ttl)
	if !w.exists {
		nsec := dnssec.NSEC(q.Name, ttl, dns.TypeNXNAME)
		if co {
			ns = append(ns, nsec)
			m.Ns = appendSigs(ns, sz.SignNow([]dns.RR{nsec}, ttl), ttl)
			m.Rcode = dns.RcodeNameError
			return true
		}
		m.Rcode = dns.RcodeSuccess
		if q.Type == dns.TypeNSEC {
			nsecAnswer(m, nsec, sz.SignNow([]dns.RR{nsec}, ttl), ttl)
			return false
		}
		ns = append(ns, nsec)
		m.Ns = appendSigs(ns, sz.SignNow([]dns.RR{nsec}, ttl), ttl)
		return false
	}
	nsec := dnssec.NSEC(q.Name, ttl, present(sz, w, q.Type)...)
	if q.Type == dns.TypeNSEC {
		nsecAnswer(m, nsec, sz.Sigs([]dns.RR{nsec}, ttl, false), ttl)
		return false
	}
	ns = append(ns, nsec)
	ns = appendSigs(ns, sz.Sigs([]dns.RR{nsec}, ttl, false), ttl)
	m.Ns = ns
	return false
}

// nsecAnswer answers a query for the NSEC type with the name's NSEC: a
// denial would be a NODATA for NSEC whose own NSEC lists the type, which
// validators reject as contradicting itself.
func nsecAnswer(m *dns.Msg, nsec *dns.NSEC, sigs []dns.RRSIG, ttl uint32) {
	m.Answer = appendSigs([]dns.RR{nsec}, sigs, ttl)
	m.Ns = nil
}

// present lists the types at an existing name, less the type asked for
// (the reply has none of it): at an instance whose answer is empty (all
// down), less its own type too.
func present(sz *dnssec.Zone, w where, qtype uint16) []uint16 {
	var types []uint16
	if w.apex {
		types = append(types, dns.TypeSOA, dns.TypeNS, dns.TypeDNSKEY)
		if len(sz.CDS) > 0 {
			types = append(types, dns.TypeCDS, dns.TypeCDNSKEY)
		}
	}
	if in := w.in; in != nil {
		// Its addresses (both families when dual), its CNAME, its HTTPS
		// and SVCB sets. A NODATA for ANY, or at a CNAME, says the
		// instance has nothing to answer now (all down): not even them.
		switch {
		case in.dual && qtype != dns.TypeANY:
			types = append(types, dns.TypeA, dns.TypeAAAA)
		case in.qtype != 0 && qtype != dns.TypeANY && in.qtype != dns.TypeCNAME:
			types = append(types, in.qtype)
		}
		for _, t := range [2]uint16{dns.TypeHTTPS, dns.TypeSVCB} {
			if in.svcFor(t) != nil {
				types = append(types, t)
			}
		}
	}
	if w.h != nil {
		if len(w.h.a) > 0 {
			types = append(types, dns.TypeA)
		}
		if len(w.h.aaaa) > 0 {
			types = append(types, dns.TypeAAAA)
		}
	}
	if w.explain {
		types = append(types, dns.TypeTXT)
	}
	if w.through {
		types = append(types, sharedTypes[:]...)
	}
	out := types[:0]
	for _, t := range types {
		if t != qtype && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// sharedTypes are listed in gtm's NSEC at a name of a zone it shares with
// the next plugin, as types that plugin may hold there: a bitmap that left
// them out would deny them, and resolvers that answer from cached NSECs
// (RFC 8198) would then deny the other plugin's records. Listing a type
// that is not there costs nothing (a query for it gets its own denial).
// Never CNAME (a NODATA's NSEC must not show one, RFC 4035 5.4), NS or DS
// (a delegation), which no name gtm answers for can hold.
var sharedTypes = [...]uint16{dns.TypeA, dns.TypeHINFO, dns.TypeMX, dns.TypeTXT, dns.TypeAAAA, dns.TypeLOC,
	dns.TypeSRV, dns.TypeNAPTR, dns.TypeCERT, dns.TypeSSHFP, dns.TypeTLSA, dns.TypeSMIMEA, dns.TypeHIP,
	dns.TypeOPENPGPKEY, dns.TypeSVCB, dns.TypeHTTPS, dns.TypeURI, dns.TypeCAA}

// signSets puts each set's signatures after it (with zones, only for the
// sets whose names are in sz's zone, the most specific of zones). An
// instance's own sets are signed with its configured TTL, whatever they
// are answered with (a degraded TTL is shorter): validators check the TTL
// against the signature's original TTL, and one signature serves both.
func signSets(rrs []dns.RR, sz *dnssec.Zone, in *instance, zones []string) []dns.RR {
	out := make([]dns.RR, 0, len(rrs)+2)
	for i := 0; i < len(rrs); {
		j := i + 1
		h := rrs[i].Header()
		for j < len(rrs) && rrs[j].Header().Rrtype == h.Rrtype && rrs[j].Header().Name == h.Name {
			j++
		}
		set := rrs[i:j]
		orig := h.Ttl
		if in != nil && h.Name == in.name && h.Ttl <= in.src.TTL && ownType(h.Rrtype) {
			orig = in.src.TTL
		}
		ksk := h.Rrtype == dns.TypeDNSKEY || h.Rrtype == dns.TypeCDS || h.Rrtype == dns.TypeCDNSKEY
		out = append(out, set...)
		if zones == nil || longestZone(zones, h.Name) == sz.Name {
			out = appendSigs(out, sz.Sigs(set, orig, ksk), h.Ttl)
		}
		i = j
	}
	return out
}

// ownType reports whether an instance answers rrtype from its own data
// (its TTL, shortened while degraded), not the zone's.
func ownType(rrtype uint16) bool {
	switch rrtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeHTTPS, dns.TypeSVCB:
		return true
	}
	return false
}

// appendSigs appends copies of sigs with the TTL of the set they sign
// (plugins that wrap the writer may edit a reply in place; the cache's
// must stay as they are).
func appendSigs(rrs []dns.RR, sigs []dns.RRSIG, ttl uint32) []dns.RR {
	if len(sigs) == 0 {
		return rrs
	}
	cp := make([]dns.RRSIG, len(sigs))
	copy(cp, sigs)
	for i := range cp {
		cp[i].Hdr.Name = rrs[len(rrs)-1].Header().Name
		cp[i].Hdr.Ttl = ttl
		rrs = append(rrs, &cp[i])
	}
	return rrs
}

// presignMax bounds the sets one compile signs ahead (about 50 µs each
// with ECDSA): a change that touches more instances leaves the rest to be
// signed on their first query.
const presignMax = 256

// presign signs, on the compile loop after a snapshot is published, the
// answer sets that the changed instances' rules now give whole (every
// address of their active collection, in any order), so that the first
// query after a failover finds its signature in the cache. Sets drawn per
// query (weights, max-answers below the addresses, nearest) are signed on
// first use.
func (e *Engine) presign(changed []*instance) {
	if e.signer == nil {
		return
	}
	n := 0
	for _, in := range changed {
		sz := e.signer.Zone(in.zone.name)
		// CNAME and nearest instances are left to first use.
		if sz == nil || in.nearest || (!in.dual && in.qtype != dns.TypeA && in.qtype != dns.TypeAAAA) {
			continue
		}
		for _, r := range in.rules {
			if in.dual && r.fam == nil {
				continue
			}
			// A dual-stack instance answers each family from its own
			// rule: fam[0] A, fam[1] AAAA.
			sets := [2]struct {
				c     *policy.Collection
				qtype uint16
			}{{r.active, in.qtype}}
			if r.fam != nil {
				sets[0].c, sets[0].qtype = r.fam[0].active, dns.TypeA
				sets[1].c, sets[1].qtype = r.fam[1].active, dns.TypeAAAA
			}
			for _, set := range sets {
				if set.c == nil {
					continue
				}
				addrs, ok := wholeSet(set.c)
				if !ok || len(addrs) == 0 {
					continue
				}
				if n++; n > presignMax {
					return
				}
				sz.Sigs(addressSet(in.name, set.qtype, in.src.TTL, addrs), in.src.TTL, false)
			}
		}
	}
}

// addressSet is the A or AAAA set of addrs at name.
func addressSet(name string, qtype uint16, ttl uint32, addrs []*policy.Addr) []dns.RR {
	hdr := dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	rrs := make([]dns.RR, len(addrs))
	for i, a := range addrs {
		if qtype == dns.TypeA {
			rrs[i] = &dns.A{Hdr: hdr, A: a.Raw()}
		} else {
			rrs[i] = &dns.AAAA{Hdr: hdr, AAAA: a.Raw()}
		}
	}
	return rrs
}

// wholeSet is the set a collection answers every query with, whatever the
// order (Pick's), or false when a query draws from it.
func wholeSet(c *policy.Collection) ([]*policy.Addr, bool) {
	pools := c.Avail
	switch c.Method {
	case config.MethodAll:
	case config.MethodSequence:
		pools = pools[:min(1, len(pools))]
	case config.MethodWeight:
		if len(pools) != 1 {
			return nil, false
		}
	default:
		return nil, false
	}
	var out []*policy.Addr
	for _, m := range pools {
		p := m.Pool
		k := min(p.Max, len(p.Avail))
		if p.Method != config.MethodSequence && k != len(p.Avail) {
			return nil, false
		}
		for i := range k {
			a := &p.Avail[i]
			if !slices.ContainsFunc(out, func(b *policy.Addr) bool { return b.IP == a.IP && b.Target == a.Target }) {
				out = append(out, a)
			}
		}
	}
	return out, true
}
