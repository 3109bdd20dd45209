package engine

import (
	"encoding/base64"
	"net"
	"net/netip"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

// HTTPS and SVCB answers (RFC 9460), for an instance that opts in (never by
// default: an HTTPS record tells browsers to use https, section 9.5). An
// address instance answers one ServiceMode record (priority 1, target ".":
// the name itself) whose ipv4hint and ipv6hint are the very addresses an A
// and an AAAA answer would carry: the same rule, the same collection and the
// same draw of its method, made once for the reply. The A and AAAA records
// of that draw go in the additional section (section 4.2), so the hints and
// the addresses a resolver keeps from the reply cannot disagree. A
// domain-name instance answers one AliasMode record (priority 0) whose
// target is the name its CNAME answer would carry.

// svcParams are an instance's HTTPS or SVCB parameters, compiled.
type svcParams struct {
	alpn []string
	port uint16
	ech  []byte // the ECHConfigList, with its length prefix
}

// compileSVC compiles v (nil: the type is not answered).
func compileSVC(v *config.SVC) *svcParams {
	if v == nil {
		return nil
	}
	// Validate checked the base64.
	ech, _ := base64.StdEncoding.DecodeString(v.ECH)
	return &svcParams{alpn: v.ALPN, port: uint16(v.Port), ech: ech}
}

// svcFor is what the instance answers HTTPS or SVCB queries with, nil when
// it does not (they then get what other types get).
func (in *instance) svcFor(qtype uint16) *svcParams {
	switch {
	case in.svc == nil:
		return nil
	case qtype == dns.TypeHTTPS:
		return in.svc[0]
	case qtype == dns.TypeSVCB:
		return in.svc[1]
	}
	return nil
}

// families are the compiled rules answering IPv4 and IPv6 for r: nil for a
// family the instance does not serve.
func (in *instance) families(r *rule) (v4, v6 *rule) {
	switch {
	case in.dual:
		return &r.fam[0], &r.fam[1]
	case in.qtype == dns.TypeAAAA:
		return nil, r
	}
	return r, nil
}

// service fills m with the HTTPS or SVCB (qtype) answer of the decided rule
// r to client, with the parameters p; d, when not nil, gets the pools.
func (e *Engine) service(m *dns.Msg, qname string, in *instance, r *rule, at policy.Point, client netip.Addr, d *Decision, qtype uint16, p *svcParams) {
	if in.qtype == dns.TypeCNAME {
		e.alias(m, qname, in, r, at, client, d, qtype)
		return
	}
	v4, v6 := in.families(r)
	var buf4, buf6 [16]*policy.Addr
	picks4, picks6 := in.draw(buf4[:0], v4, at, client, e.Rand), in.draw(buf6[:0], v6, at, client, e.Rand)
	if len(picks4) == 0 && len(picks6) == 0 {
		// Nothing to hint at: what an address query gets, for the first
		// family served (SERVFAIL, or NODATA).
		first := v4
		if first == nil {
			first = v6
		}
		e.addresses(m, qname, in, first, at, client, d, dns.TypeA)
		return
	}
	// The hints and the additional records carry what the A and AAAA
	// answers would; the record lives as long as its shortest.
	ttl := uint32(config.MaxTTL)
	vals := make([]dns.SVCBKeyValue, 0, 5)
	if len(p.alpn) > 0 {
		vals = append(vals, &dns.SVCBAlpn{Alpn: p.alpn})
	}
	if p.port != 0 {
		vals = append(vals, &dns.SVCBPort{Port: p.port})
	}
	if len(picks4) > 0 {
		ttl = min(ttl, v4.ttl)
		vals = append(vals, &dns.SVCBIPv4Hint{Hint: hints(picks4)})
	}
	if len(p.ech) > 0 {
		vals = append(vals, &dns.SVCBECHConfig{ECH: p.ech})
	}
	if len(picks6) > 0 {
		ttl = min(ttl, v6.ttl)
		vals = append(vals, &dns.SVCBIPv6Hint{Hint: hints(picks6)})
	}
	hdr := dns.RR_Header{Name: qname, Rrtype: qtype, Class: dns.ClassINET, Ttl: ttl}
	m.Answer = []dns.RR{svcRecord(hdr, 1, ".", vals)}
	m.Extra = make([]dns.RR, 0, len(picks4)+len(picks6)+1) // and the OPT
	for _, a := range picks4 {
		m.Extra = append(m.Extra, &dns.A{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: v4.ttl}, A: a.Raw()})
	}
	for _, a := range picks6 {
		m.Extra = append(m.Extra, &dns.AAAA{Hdr: dns.RR_Header{Name: qname, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: v6.ttl}, AAAA: a.Raw()})
	}
	in.count(picks4)
	in.count(picks6)
	if d != nil {
		d.addPools(picks4)
		d.addPools(picks6)
	}
}

// alias fills m with the AliasMode answer of a domain-name instance: the
// target its CNAME answer would carry.
func (e *Engine) alias(m *dns.Msg, qname string, in *instance, r *rule, at policy.Point, client netip.Addr, d *Decision, qtype uint16) {
	var buf [16]*policy.Addr
	picks := in.draw(buf[:0], r, at, client, e.Rand)
	if len(picks) == 0 {
		e.addresses(m, qname, in, r, at, client, d, dns.TypeCNAME)
		return
	}
	in.count(picks[:1])
	if d != nil {
		d.addPools(picks[:1])
	}
	hdr := dns.RR_Header{Name: qname, Rrtype: qtype, Class: dns.ClassINET, Ttl: r.ttl}
	m.Answer = []dns.RR{svcRecord(hdr, 0, picks[0].Target, nil)}
}

// draw is r's pick (nil r or an r that answers nothing: none).
func (in *instance) draw(dst []*policy.Addr, r *rule, at policy.Point, client netip.Addr, rnd policy.Rand) []*policy.Addr {
	if r == nil || r.active == nil {
		return dst
	}
	return in.pick(dst, r, at, client, rnd)
}

// hints are the picked addresses as a hint holds them, pointing into the
// snapshot's addresses.
func hints(picks []*policy.Addr) []net.IP {
	out := make([]net.IP, len(picks))
	for i, a := range picks {
		out[i] = a.Raw()
	}
	return out
}

func svcRecord(hdr dns.RR_Header, priority uint16, target string, vals []dns.SVCBKeyValue) dns.RR {
	svcb := dns.SVCB{Hdr: hdr, Priority: priority, Target: target, Value: vals}
	if hdr.Rrtype == dns.TypeHTTPS {
		return &dns.HTTPS{SVCB: svcb}
	}
	return &svcb
}
