package config

import (
	"net/netip"
)

// NameServer is one name server of the zones' NS set, with the addresses
// gtm answers for it (and adds as glue) when the name lies in its zones.
type NameServer struct {
	Pos
	Name  string       // fully qualified, lower case
	Addrs []netip.Addr // required for a name inside the plugin's zones
}

// Join puts label under zone. It is right for the root zone too, where
// label+"."+zone would give "label.." (an unpackable name).
func Join(label, zone string) string {
	if zone == "." {
		return label + "."
	}
	return label + "." + zone
}

// SOANames are the MNAME and RNAME of zone's SOA: the configured ones, else
// the first name server and hostmaster.ZONE. Validate checks these, not only
// what was written, so a default can never produce an invalid name.
func (c *Config) SOANames(zone string) (mname, rname string) {
	mname, rname = c.SOA.MName, c.SOA.RName
	if mname == "" {
		if len(c.NS) > 0 {
			mname = c.NS[0].Name
		} else {
			mname = Join("ns1", zone)
		}
	}
	if rname == "" {
		rname = Join("hostmaster", zone)
	}
	return mname, rname
}

// NSNames are the names of the zones' NS set: the configured name servers,
// else the SOA's MNAME (which gtm can then answer for only if it is outside
// its zones; see validateNS).
func (c *Config) NSNames(zone string) []string {
	if len(c.NS) == 0 {
		m, _ := c.SOANames(zone)
		return []string{m}
	}
	out := make([]string, len(c.NS))
	for i, n := range c.NS {
		out[i] = n.Name
	}
	return out
}

// validateTimers checks the SOA timers and the NS TTL: each in its range,
// and retry below refresh and expire past both (RFC 1912 2.2), so that a
// secondary reading the published SOA would behave.
func (c *Config) validateTimers() error {
	s := &c.SOA
	at := func(prop string) Pos { return s.Props.At(prop, c.Pos) }
	for _, t := range []struct {
		name     string
		v        uint32
		min, max uint32
	}{
		{"refresh", s.Refresh, MinSOATimer, MaxSOATimer},
		{"retry", s.Retry, MinSOATimer, MaxSOATimer},
		{"expire", s.Expire, MinSOATimer, MaxSOATimer},
		{"minimum", s.Minimum, 1, MaxTTL},
	} {
		if (t.v != 0 || s.Props.Has(t.name)) && (t.v < t.min || t.v > t.max) {
			return at(t.name).Errorf("soa %s %d is out of range (%d to %d seconds)", t.name, t.v, t.min, t.max)
		}
	}
	refresh, retry, expire, _ := s.Timers()
	if retry >= refresh {
		return at("retry").Errorf("soa retry %d must be below refresh %d: a secondary retries a failed refresh sooner than the next one", retry, refresh)
	}
	if expire < refresh+retry {
		return at("expire").Errorf("soa expire %d must be at least refresh + retry (%d): a secondary would give up before it retried", expire, refresh+retry)
	}
	if (c.NSTTL != 0 || c.NSTTLPos != (Pos{})) && (c.NSTTL < 1 || c.NSTTL > MaxTTL) {
		p := c.NSTTLPos
		if p == (Pos{}) {
			p = c.Pos
		}
		return p.Errorf("ns-ttl %d is out of range (1 to %d seconds)", c.NSTTL, MaxTTL)
	}
	return nil
}

// validateNS checks the SOA and NS names, defaults included, and that the
// delegation is not lame: a name server inside the plugin's zones has
// addresses (gtm answers them and adds them as glue), one outside has none
// (its addresses belong to its own zone).
func (c *Config) validateNS() error {
	if err := c.validateTimers(); err != nil {
		return err
	}
	for _, z := range c.Zones {
		m, r := c.SOANames(z)
		for _, n := range []string{m, r} {
			if !plainName(n) {
				return c.Errorf("SOA name '%s' of zone '%s' is not a valid domain name (letters, digits, '-' and '_' in labels of at most 63 characters, 255 in all)", n, z)
			}
		}
	}
	seen := make(map[string]*NameServer, len(c.NS))
	for i := range c.NS {
		ns := &c.NS[i]
		if !plainName(ns.Name) {
			return ns.Errorf("ns '%s' is not a valid domain name", ns.Name)
		}
		if prev, ok := seen[ns.Name]; ok {
			return ns.Errorf("ns '%s' appears twice (first at %s)", ns.Name, prev.Where())
		}
		seen[ns.Name] = ns
		in := c.inZones(ns.Name)
		switch {
		case in && len(ns.Addrs) == 0:
			return ns.Errorf("ns '%s' is inside the plugin's zones but has no address: the delegation would be lame (usage: ns NAME ADDRESS...)", ns.Name)
		case !in && len(ns.Addrs) > 0:
			return ns.Errorf("ns '%s' is outside the plugin's zones %v: gtm cannot answer its addresses; give them in its own zone", ns.Name, c.Zones)
		}
		if c.Instance(ns.Name) != nil {
			return ns.Errorf("ns '%s' is also an instance: a name server needs fixed addresses", ns.Name)
		}
		addrs := make(map[netip.Addr]bool, len(ns.Addrs))
		for _, a := range ns.Addrs {
			if a.Zone() != "" || a.Is4In6() || !a.IsValid() {
				return ns.Errorf("ns '%s': '%s' is not an IPv4 or IPv6 address (one name server per line: ns NAME [ADDRESS...])", ns.Name, a)
			}
			if addrs[a] {
				return ns.Errorf("address %s of ns '%s' is given twice", a, ns.Name)
			}
			addrs[a] = true
		}
	}
	return nil
}
