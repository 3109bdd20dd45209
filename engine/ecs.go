package engine

import (
	"errors"
	"net/netip"

	"github.com/miekg/dns"
)

// queryECS returns the query's EDNS Client Subnet option, nil if it has none,
// or an error when the option breaks RFC 7871 (the reply is then FORMERR).
func queryECS(r *dns.Msg) (*dns.EDNS0_SUBNET, error) {
	o := r.IsEdns0()
	if o == nil {
		return nil, nil
	}
	var ecs *dns.EDNS0_SUBNET
	for _, opt := range o.Option {
		e, ok := opt.(*dns.EDNS0_SUBNET)
		if !ok {
			continue
		}
		if ecs != nil {
			return nil, errors.New("more than one client-subnet option")
		}
		ecs = e
	}
	if ecs == nil {
		return nil, nil
	}
	if ecs.Family == 0 && ecs.SourceNetmask == 0 && ecs.SourceScope == 0 {
		return ecs, nil // "dig +subnet=0": the client opts out; no address to use
	}
	var max uint8
	switch ecs.Family {
	case 1:
		max = 32
	case 2:
		max = 128
	default:
		return nil, errors.New("client-subnet family is neither IPv4 (1) nor IPv6 (2)")
	}
	if ecs.SourceNetmask > max {
		return nil, errors.New("client-subnet source prefix longer than the family allows")
	}
	if ecs.SourceScope != 0 {
		return nil, errors.New("client-subnet scope must be 0 in a query")
	}
	a, ok := ecsAddr(ecs)
	if !ok {
		return nil, errors.New("client-subnet address does not match its family")
	}
	if netip.PrefixFrom(a, int(ecs.SourceNetmask)).Masked().Addr() != a {
		return nil, errors.New("client-subnet address has bits set past its source prefix")
	}
	return ecs, nil
}

// ecsAddr is the option's address in its family.
func ecsAddr(e *dns.EDNS0_SUBNET) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(e.Address)
	if !ok {
		return netip.Addr{}, false
	}
	if e.Family == 1 {
		a = a.Unmap()
		return a, a.Is4()
	}
	if len(e.Address) == 4 { // miekg keeps what it unpacked; an IPv6 option needs 16 bytes
		return netip.AddrFrom16(a.As16()), true
	}
	return a, true
}

// echoECS is the option for the reply: the query's, with the scope the
// answer depended on.
func echoECS(q *dns.EDNS0_SUBNET, scope int) *dns.EDNS0_SUBNET {
	return &dns.EDNS0_SUBNET{
		Code:          dns.EDNS0SUBNET,
		Family:        q.Family,
		SourceNetmask: q.SourceNetmask,
		SourceScope:   uint8(scope),
		Address:       q.Address,
	}
}
