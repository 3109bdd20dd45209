package config

import (
	"encoding/base64"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
)

// Validate checks the whole configuration and returns the first rule it
// breaks, naming the place. A Config that passes compiles without error.
func (c *Config) Validate() error {
	if len(c.Zones) == 0 {
		return c.Errorf("gtm needs at least one zone")
	}
	for _, n := range c.Zones {
		if n != "" && !plainName(n) {
			return c.Errorf("'%s' is not a valid domain name (letters, digits, '-' and '_' in labels of at most 63 characters; no wildcards)", n)
		}
	}
	if err := c.validateNS(); err != nil {
		return err
	}
	if err := c.validateDNSSEC(); err != nil {
		return err
	}
	c.Warnings = nil
	monitors := make(map[string]*Monitor, len(c.Monitors))
	for _, m := range c.Monitors {
		if prev, ok := monitors[m.Name]; ok {
			return m.Errorf("duplicate monitor '%s' (first defined at %s)", m.Name, prev.Where())
		}
		monitors[m.Name] = m
		m.Used = false
		if err := m.validate(); err != nil {
			return err
		}
	}
	pools := make(map[string]*Pool, len(c.Pools))
	for _, p := range c.Pools {
		if prev, ok := pools[p.Name]; ok {
			return p.Errorf("duplicate pool '%s' (first defined at %s)", p.Name, prev.Where())
		}
		pools[p.Name] = p
		if err := p.validate(); err != nil {
			return err
		}
		if err := p.checkMonitors(monitors); err != nil {
			return err
		}
	}
	for _, m := range c.Monitors {
		if !m.Used {
			where := fmt.Sprintf("%s:%d", m.File, m.Line)
			if m.Line == 0 && m.File != "" {
				where = m.File
			}
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s - monitor '%s' is not used by any pool or address", where, m.Name))
		}
	}
	names := make(map[string]*Instance, len(c.Instances))
	for _, in := range c.Instances {
		if prev, ok := names[in.Name]; ok {
			return in.Errorf("duplicate instance '%s' (first defined at %s)", in.Name, prev.Where())
		}
		names[in.Name] = in
		if !plainName(in.Name) {
			return in.Errorf("instance name '%s' is not a valid domain name (letters, digits, '-' and '_' in labels of at most 63 characters; no wildcards)", in.Name)
		}
		if !c.inZones(in.Name) {
			return in.Errorf("instance '%s' is outside the plugin's zones %v", in.Name, c.Zones)
		}
		var geoRule *Rule
		if err := in.validate(c, pools, func(r *Rule) {
			if geoRule == nil {
				geoRule = r
			}
		}); err != nil {
			return err
		}
		if geoRule != nil && c.GeoIP == "" {
			return geoRule.Errorf("rule '%s' needs a GeoIP database: add 'geoip FILE' to the gtm block", geoRule.Match)
		}
		if in.Policy == PolicyNearest && c.GeoIP == "" {
			return in.Props.At("policy", in.Pos).Errorf("policy nearest of instance '%s' needs a GeoIP City database for the clients' coordinates: add 'geoip FILE' to the gtm block", in.Name)
		}
		if in.TiePercent < 0 || in.TiePercent > 1000 {
			return in.Errorf("tie %d%% of instance '%s' is out of range (0%% to 1000%%)", in.TiePercent, in.Name)
		}
		if in.Tie < 0 {
			return in.Errorf("tie %s of instance '%s' must not be negative", in.Tie, in.Name)
		}
	}
	return nil
}

// NearestPool returns a pool that a nearest instance measures distances
// to (every such pool has a location: distances need a City database), or
// nil when no instance uses the nearest policy.
func (c *Config) NearestPool() *Pool {
	for _, in := range c.Instances {
		if in.Policy == PolicyNearest && len(in.Rules) > 0 && in.Rules[0].Primary != nil && len(in.Rules[0].Primary.Members) > 0 {
			return c.Pool(in.Rules[0].Primary.Members[0].Pool)
		}
	}
	return nil
}

// NeedsCity is the first part of c that only a City database can answer
// (a subdivision rule; a pool a nearest instance measures distances to), as
// an error naming its line, when the database at path, of kind, is not a
// City one; nil when nothing needs one or the database is a City one.
func (c *Config) NeedsCity(path, kind string, city bool) error {
	if city {
		return nil
	}
	if r := c.HasSubdivisionRules(); r != nil {
		return r.Errorf("subdivision rules need a City database, but %s is %s", path, kind)
	}
	if p := c.NearestPool(); p != nil {
		return p.Props.At("location", p.Pos).Errorf("location of pool '%s': the nearest policy needs the clients' coordinates from a City database, but %s is %s", p.Name, path, kind)
	}
	return nil
}

// HasSubdivisionRules reports whether any instance matches subdivisions,
// which only a City database can answer.
func (c *Config) HasSubdivisionRules() *Rule {
	for _, in := range c.Instances {
		for _, r := range in.Rules {
			if r.Match == MatchSubdivision {
				return r
			}
		}
	}
	return nil
}

// inZones reports whether name, a plain name (plainName), is in a zone.
func (c *Config) inZones(name string) bool {
	for _, z := range c.Zones {
		// A name that ends in ".zone" is in it; only the other answer
		// needs dns.IsSubDomain, which allocates (its case folding,
		// escapes, the root).
		if z != "" && len(name) > len(z) && name[len(name)-len(z)-1] == '.' && name[len(name)-len(z):] == z || dns.IsSubDomain(z, name) {
			return true
		}
	}
	return false
}

func (p *Pool) validate() error {
	if _, ok := dns.IsDomainName(p.Name); !ok || p.Name == "" {
		return p.Errorf("'%s' of 'pool' is not a valid name", p.Name)
	}
	if len(p.Addresses) == 0 {
		return p.Errorf("pool '%s' has no addresses", p.Name)
	}
	if p.Type == 0 {
		p.Type = p.Addresses[0].Type()
	}
	var seen smallSet[addrKey]
	for _, a := range p.Addresses {
		if err := a.check(); err != nil {
			return err
		}
		if a.Domain != "" && !plainName(a.Domain) {
			return a.Errorf("address '%s' is not a valid domain name", a.Domain)
		}
		if t := a.Type(); t != p.Type {
			return a.Errorf("address %s is %s data but pool '%s' holds %s records", a.Value(), t, p.Name, p.Type)
		}
		if first, ok := seen.add(addrKey{a.IP, a.Domain}, a.Pos); !ok {
			return a.Errorf("address %s appears twice in pool '%s' (also at %s)", a.Value(), p.Name, first.Where())
		}
		if badWeight(a.Weight) {
			return weightErr(a.Pos, a.Weight, "address "+a.Value())
		}
	}
	if p.Method > MethodHash {
		return p.Errorf("pool '%s' has an unknown method", p.Name)
	}
	if err := p.validateHash(); err != nil {
		return err
	}
	if p.MaxAnswers < 0 || p.MaxAnswers > MaxAnswers || p.MaxAnswers == 0 && p.Props.Has("max-answers") {
		return p.Props.At("max-answers", p.Pos).Errorf("max-answers %d of pool '%s' is out of range (1 to %d)", p.MaxAnswers, p.Name, MaxAnswers)
	}
	if l := p.Location; l != nil {
		at := p.Props.At("location", p.Pos)
		if !(l.Lat >= -90 && l.Lat <= 90) { // also NaN
			return at.Errorf("latitude %v of pool '%s' is out of range (-90 to 90 degrees)", l.Lat, p.Name)
		}
		if !(l.Lon >= -180 && l.Lon <= 180) {
			return at.Errorf("longitude %v of pool '%s' is out of range (-180 to 180 degrees)", l.Lon, p.Name)
		}
	}
	if p.Bias < MinBias || p.Bias > MaxBias {
		return p.Props.At("bias", p.Pos).Errorf("bias %d of pool '%s' is out of range (%d to %d)", p.Bias, p.Name, MinBias, MaxBias)
	}
	if p.Bias != 0 && p.Location == nil {
		return p.Props.At("bias", p.Pos).Errorf("bias of pool '%s' has no effect without a location: give it 'location LAT LON'", p.Name)
	}
	if thresholdOK(p.MinAvailable, len(p.Addresses)) {
		return nil
	}
	return checkThreshold(p.Pos, p.Props.At("min-available", p.Pos), p.MinAvailable, len(p.Addresses), "pool '"+p.Name+"'", "addresses")
}

// validateHash checks the hash method's prefix lengths.
func (p *Pool) validateHash() error {
	at := p.Props.At("method", p.Pos)
	if p.Method != MethodHash {
		if p.HashV4 != 0 || p.HashV6 != 0 {
			return at.Errorf("hash prefix lengths of pool '%s' have no effect: its method is %s, not hash", p.Name, p.Method)
		}
		return nil
	}
	if p.HashV4 < 0 || p.HashV4 > 32 || p.HashV4 == 0 && p.Props.Has("hash-ipv4") {
		return at.Errorf("hash IPv4 prefix length %d of pool '%s' is out of range (1 to 32)", p.HashV4, p.Name)
	}
	if p.HashV6 < 0 || p.HashV6 > 128 || p.HashV6 == 0 && p.Props.Has("hash-ipv6") {
		return at.Errorf("hash IPv6 prefix length %d of pool '%s' is out of range (1 to 128)", p.HashV6, p.Name)
	}
	return nil
}

// checkMonitors resolves the pool's and its addresses' monitors.
func (p *Pool) checkMonitors(monitors map[string]*Monitor) error {
	use := func(pos Pos, name string) error {
		if name == "" {
			return nil
		}
		m, ok := monitors[name]
		if !ok {
			return pos.Errorf("unknown monitor '%s'", name)
		}
		m.Used = true
		return nil
	}
	if err := use(p.Pos, p.Monitor); err != nil {
		return err
	}
	for _, a := range p.Addresses {
		if err := use(a.Pos, a.Monitor); err != nil {
			return err
		}
		if a.Probe != "" && !validProbe(a.Probe) {
			return a.Errorf("probe target '%s' of address %s is neither an IP address nor a domain name", a.Probe, a.Value())
		}
	}
	return nil
}

func validProbe(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return plainName(dns.Fqdn(s))
}

// check makes sure an address is one thing: an IP or a domain name.
func (a *Address) check() error {
	if a.IP.IsValid() == (a.Domain != "") {
		return a.Errorf("an address needs exactly one of an IP address or a domain name")
	}
	switch {
	case a.IP.Zone() != "":
		return a.Errorf("address '%s' has a zone; answers cannot carry one", a.IP)
	case a.IP.Is4In6():
		return a.Errorf("address '%s' is IPv4-mapped IPv6; write it as %s", a.IP, a.IP.Unmap())
	case a.Mode > ModeDown:
		return a.Errorf("address %s has an unknown mode", a.Value())
	}
	return nil
}

func (c *Config) isApex(name string) bool {
	for _, z := range c.Zones {
		if z == name {
			return true
		}
	}
	return false
}

func (in *Instance) validate(c *Config, pools map[string]*Pool, needGeo func(*Rule)) error {
	if in.TTL < 1 || in.TTL > MaxTTL {
		return in.Errorf("ttl %d of instance '%s' is out of range (1 to %d seconds)", in.TTL, in.Name, MaxTTL)
	}
	if in.DegradedTTL > in.TTL {
		return in.Errorf("degraded-ttl %d of instance '%s' is above its ttl %d: it should shorten answers", in.DegradedTTL, in.Name, in.TTL)
	}
	if len(in.Rules) == 0 {
		return in.Errorf("instance '%s' has no access rule: give it a primary collection", in.Name)
	}
	var typ TypeSet
	var matches smallSet[matchKey] // where each match was given
	def := matchKey{MatchDefault, ""}
	for _, r := range in.Rules {
		if r.Match == MatchDefault {
			if len(r.Values) > 0 {
				return r.Errorf("rule 'default' takes no values, got %v", r.Values)
			}
			if first, ok := matches.add(def, r.Pos); !ok {
				return r.Errorf("instance '%s' has a second 'default' rule (first at %s)", in.Name, first.Where())
			}
		} else {
			switch r.Match {
			case MatchContinent, MatchCountry, MatchSubdivision, MatchCIDR, MatchASN:
			default:
				return r.Errorf("rule has an unknown match kind %d (one of default, continent, country, subdivision, cidr, asn)", r.Match)
			}
			if len(r.Values) == 0 {
				return r.Errorf("rule '%s' needs at least one value", r.Match)
			}
			for i, v := range r.Values {
				norm, err := checkValue(r.Match, v)
				if err != nil {
					return r.Errorf("%v", err)
				}
				r.Values[i] = norm
				if first, ok := matches.add(matchKey{r.Match, norm}, r.Pos); !ok {
					return r.Errorf("instance '%s' has '%s %s' in two rules (first at %s)", in.Name, r.Match, norm, first.Where())
				}
			}
			if in.Policy == PolicyLatency {
				return r.Errorf("instance '%s' uses the latency policy: it takes only a default rule, not '%s'", in.Name, r.Match)
			}
			if r.Match == MatchASN && c.ASN == "" {
				return r.Errorf("rule 'asn' needs an ASN database: add 'asn FILE' (GeoLite2-ASN or GeoIP2-ISP) to the gtm block")
			}
			if r.Match != MatchCIDR && r.Match != MatchASN {
				needGeo(r)
			}
		}
		if r.Primary == nil {
			return r.Errorf("rule '%s' of instance '%s' has no primary collection", r.Match, in.Name)
		}
		for i, col := range []*Collection{r.Primary, r.Secondary} {
			if col == nil {
				continue
			}
			t, err := col.validate(pools, [...]string{"primary", "secondary"}[i])
			if err != nil {
				return err
			}
			if in.Policy == PolicyNearest {
				for _, m := range col.Members {
					if pools[m.Pool].Location == nil {
						return m.Errorf("pool '%s' has no location, but instance '%s' uses the nearest policy: give the pool 'location LAT LON'", m.Pool, in.Name)
					}
				}
			}
			if typ != 0 && t != typ && (typ.Has(TypeCNAME) || t.Has(TypeCNAME)) {
				return col.Errorf("collection serves %s records but instance '%s' already serves %s", t, in.Name, typ)
			}
			typ |= t
		}
	}
	if _, ok := matches.get(def); !ok {
		return in.Errorf("instance '%s' has no default rule: a client that matches no rule would get no answer", in.Name)
	}
	if in.AllDown == Fallback && len(in.Fallbacks) == 0 {
		return in.Errorf("instance '%s': 'fallback' needs at least one address", in.Name)
	}
	if in.Switch == SwitchSecondary {
		// Pinned, a rule without a secondary would answer its all-down
		// behaviour forever, however healthy its primary.
		for _, r := range in.Rules {
			if r.Secondary == nil {
				return r.Errorf("rule '%s' of instance '%s' has no secondary collection, but the instance is pinned to its secondary ('switch secondary')", r.Name(), in.Name)
			}
		}
	}
	if typ.Has(TypeCNAME) && c.isApex(in.Name) {
		return in.Errorf("instance '%s' is a zone apex: it cannot be a CNAME, which may not sit beside the zone's SOA and NS", in.Name)
	}
	if in.Switch > SwitchSecondary || in.AllDown > Fallback || in.Failback > Manual || in.Policy > PolicyNearest {
		return in.Errorf("instance '%s' has an unknown switch, all-down, failback or policy value", in.Name)
	}
	switch {
	case in.Props.Has("tie") && in.Policy == PolicyGeo:
		return in.Props.At("tie", in.Pos).Errorf("tie has no effect: instance '%s' uses the geo policy, and only the latency and nearest policies compare pools", in.Name)
	case in.TieKm != 0 && in.Policy != PolicyNearest:
		return in.Props.At("tie", in.Pos).Errorf("tie %dkm of instance '%s' is a distance, which only the nearest policy compares; the %s policy takes a share and a duration", in.TieKm, in.Name, in.Policy)
	case in.Props.Has("tie") && in.Tie != 0 && in.Policy == PolicyNearest:
		return in.Props.At("tie", in.Pos).Errorf("tie %s of instance '%s' is a duration, which only the latency policy compares; the nearest policy takes a share and a distance like 100km", in.Tie, in.Name)
	case in.TieKm < 0 || in.TieKm > MaxTieKm:
		return in.Props.At("tie", in.Pos).Errorf("tie %dkm of instance '%s' is out of range (0 to %dkm)", in.TieKm, in.Name, MaxTieKm)
	}
	if in.Failback == Manual && in.Switch != SwitchAuto {
		// Failback is a rule of automatic switching; a pinned instance never switches.
		return in.Props.At("failback", in.Pos).Errorf("failback manual has no effect: instance '%s' is pinned to its %s collection ('switch %s')", in.Name, in.Switch, in.Switch)
	}
	for _, a := range in.Fallbacks {
		if err := a.check(); err != nil {
			return err
		}
		if a.Domain != "" && !plainName(a.Domain) {
			return a.Errorf("fallback '%s' is not a valid domain name", a.Domain)
		}
		if t := a.Type(); !typ.Has(t) {
			return a.Errorf("fallback %s is %s data but instance '%s' serves %s records", a.Value(), t, in.Name, typ)
		}
	}
	if err := in.validateFailover(typ, pools); err != nil {
		return err
	}
	for _, svc := range []struct {
		kind string
		v    *SVC
	}{{"https", in.HTTPS}, {"svcb", in.SVCB}} {
		if svc.v != nil {
			if err := svc.v.validate(in, svc.kind, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateFailover checks 'failover' against what the instance serves.
func (in *Instance) validateFailover(typ TypeSet, pools map[string]*Pool) error {
	at := in.Props.At("failover", in.Pos)
	if in.Failover > FailoverSeparate {
		return at.Errorf("instance '%s' has an unknown failover value", in.Name)
	}
	if !typ.Dual() {
		if in.Props.Has("failover") || in.Failover != FailoverTogether {
			return at.Errorf("failover has no effect: instance '%s' serves only %s records, and it says how IPv4 and IPv6 pools fail over", in.Name, typ)
		}
		return nil
	}
	if in.Failover != FailoverSeparate {
		return nil
	}
	// Each family fails over on its own, over the collections' pools of
	// that family: a collection without one would never answer it.
	for _, r := range in.Rules {
		for i, col := range []*Collection{r.Primary, r.Secondary} {
			if col == nil {
				continue
			}
			n := map[Type]int{}
			for _, m := range col.Members {
				n[pools[m.Pool].Type]++
			}
			for _, t := range []Type{TypeA, TypeAAAA} {
				which := [...]string{"primary", "secondary"}[i]
				if n[t] == 0 {
					return col.Errorf("%s collection of rule '%s' holds no %s pool, but instance '%s' fails over separately ('failover separate'): each family fails over on its own, so each collection needs pools of both (or use 'failover together')", which, r.Name(), t, in.Name)
				}
				if c := col.MinAvailable.Count; c > n[t] {
					return col.Props.At("min-available", col.Pos).Errorf("min-available %d of the %s collection of rule '%s' can never be met by its %d %s pools, which fail over on their own ('failover separate')", c, which, r.Name(), n[t], t)
				}
			}
		}
	}
	return nil
}

// validate checks the parameters of an instance's HTTPS or SVCB record.
func (v *SVC) validate(in *Instance, kind string, typ TypeSet) error {
	at := in.Props.At(kind, in.Pos)
	if typ.Has(TypeCNAME) && (len(v.ALPN) > 0 || v.Port != 0 || v.ECH != "") {
		return at.Errorf("%s parameters of instance '%s' have no effect: its pools are domain names, answered with an AliasMode record (RFC 9460 section 2.4.2), which carries none", kind, in.Name)
	}
	var seen smallSet[string]
	for _, id := range v.ALPN {
		if id == "" || len(id) > 255 {
			return at.Errorf("%s alpn '%s' of instance '%s' is not a protocol id of 1 to 255 bytes", kind, id, in.Name)
		}
		for i := 0; i < len(id); i++ {
			if c := id[i]; c <= ' ' || c > '~' || c == ',' || c == '\\' || c == '"' {
				return at.Errorf("%s alpn '%s' of instance '%s' has a character that is not plain ASCII or is ',', '\\' or '\"' (protocol ids like h2 and h3)", kind, id, in.Name)
			}
		}
		if _, ok := seen.add(id, at); !ok {
			return at.Errorf("%s alpn '%s' of instance '%s' is given twice", kind, id, in.Name)
		}
	}
	if v.Port < 0 || v.Port > 65535 {
		return at.Errorf("%s port %d of instance '%s' is out of range (1 to 65535)", kind, v.Port, in.Name)
	}
	if v.ECH != "" {
		if b, err := base64.StdEncoding.DecodeString(v.ECH); err != nil || len(b) < 2 || int(b[0])<<8|int(b[1]) != len(b)-2 {
			return at.Errorf("%s ech of instance '%s' is not an ECHConfigList in base64 (RFC 9460 section 7.3: a 2-byte length, then that many bytes of ECHConfigs)", kind, in.Name)
		}
	}
	return nil
}

// validate checks a collection and returns the record types of its pools:
// one type, or A and AAAA together (a dual-stack collection).
func (col *Collection) validate(pools map[string]*Pool, which string) (TypeSet, error) {
	if len(col.Members) == 0 {
		return 0, col.Errorf("%s collection has no pools", which)
	}
	if col.Method == MethodHash {
		return 0, col.Props.At("method", col.Pos).Errorf("method hash picks addresses within a pool: give it to the pools ('method hash' in a pool), and all, weight or sequence to the collection")
	}
	if col.Method > MethodSequence {
		return 0, col.Errorf("collection has an unknown method")
	}
	var typ Type
	var types TypeSet
	var first string
	var seen smallSet[string]
	for _, m := range col.Members {
		p, ok := pools[m.Pool]
		if !ok {
			return 0, m.Errorf("unknown pool '%s'", m.Pool)
		}
		if _, ok := seen.add(m.Pool, m.Pos); !ok {
			return 0, m.Errorf("pool '%s' appears twice in one collection", m.Pool)
		}
		if badWeight(m.Weight) {
			return 0, weightErr(m.Pos, m.Weight, "pool '"+m.Pool+"'")
		}
		if typ == 0 {
			typ, first = p.Type, p.Name
		} else if p.Type != typ && (typ == TypeCNAME || p.Type == TypeCNAME) {
			// IPv4 and IPv6 pools answer different questions (A, AAAA),
			// so they mix; a CNAME is the name's only record.
			return 0, m.Errorf("collection mixes pool types: '%s' holds %s records, '%s' holds %s (only A and AAAA pools mix, in a dual-stack collection)", first, typ, p.Name, p.Type)
		}
		types = types.With(p.Type)
	}
	if thresholdOK(col.MinAvailable, len(col.Members)) {
		return types, nil
	}
	return types, checkThreshold(col.Pos, col.Props.At("min-available", col.Pos), col.MinAvailable, len(col.Members), "collection", "pools")
}

// TypeSet is a set of record types: what an instance or a collection serves.
type TypeSet uint8

// With is s with t added.
func (s TypeSet) With(t Type) TypeSet { return s | 1<<t }

// Has reports whether s holds t.
func (s TypeSet) Has(t Type) bool { return s&(1<<t) != 0 }

// Dual reports whether s is IPv4 and IPv6 together.
func (s TypeSet) Dual() bool { return s.Has(TypeA) && s.Has(TypeAAAA) }

func (s TypeSet) String() string {
	switch {
	case s.Dual():
		return "A and AAAA"
	case s.Has(TypeA):
		return "A"
	case s.Has(TypeAAAA):
		return "AAAA"
	case s.Has(TypeCNAME):
		return "CNAME"
	}
	return "no"
}

// badWeight and weightErr are apart so that the object's description is
// built only for the error, not for each of 100,000 objects.
func badWeight(w int) bool { return w < MinWeight || w > MaxWeight }

func weightErr(p Pos, w int, what string) error {
	return p.Errorf("weight %d of %s is out of range (%d to %d)", w, what, MinWeight, MaxWeight)
}

// thresholdOK is the common case of checkThreshold, checked before the
// object's description is built for it.
func thresholdOK(t Threshold, total int) bool {
	return t.Percent == 0 && t.Count >= 1 && t.Count <= total
}

// checkThreshold checks an availability rule of an object at p whose
// min-available was given at at.
func checkThreshold(p, at Pos, t Threshold, total int, what, members string) error {
	switch {
	case t.Percent != 0 && t.Count != 0:
		return at.Errorf("min-available of %s is both a count and a share: give one", what)
	case t.Percent != 0 && (t.Percent < 1 || t.Percent > 100):
		return at.Errorf("min-available %d%% of %s is out of range (1%% to 100%%)", t.Percent, what)
	case t.Percent == 0 && t.Count < 1:
		return at.Errorf("min-available %d of %s is out of range (at least 1)", t.Count, what)
	case t.Percent == 0 && t.Count > total:
		return p.Errorf("min-available %d of %s can never be met: it has only %d %s", t.Count, what, total, members)
	}
	return nil
}

// plainName reports whether name is a fully qualified domain name whose
// labels need no escaping: what the wire carries is then what we compare, so
// a managed name can never be unreachable because of its spelling.
func plainName(name string) bool {
	if _, ok := dns.IsDomainName(name); !ok || !dns.IsFqdn(name) {
		return false
	}
	if name == "." {
		return true
	}
	// Labels split at every dot: a name that needed dns.SplitDomainName's
	// care for escapes has a backslash, which fails either way.
	n := 0 // length of the current label
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '.':
			if n == 0 {
				return false
			}
			n = 0
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_':
			if n++; n > 63 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// addrKey is what makes two addresses of a pool the same: their Value.
type addrKey struct {
	ip     netip.Addr
	domain string
}

// matchKey is a rule's match kind and one of its values.
type matchKey struct {
	kind  MatchKind
	value string
}

// smallSet records where each key was first seen. Objects have a few
// members; a map for each of 100,000 of them cost more than the checks, so
// it searches a list held in place until it holds many.
type smallSet[K comparable] struct {
	n    int
	list [smallSetMax]smallEntry[K]
	m    map[K]Pos // once more than smallSetMax
}

type smallEntry[K comparable] struct {
	key K
	pos Pos
}

const smallSetMax = 8

// get is where k was seen, if it was.
func (s *smallSet[K]) get(k K) (Pos, bool) {
	if s.m != nil {
		pos, ok := s.m[k]
		return pos, ok
	}
	for _, e := range s.list[:s.n] {
		if e.key == k {
			return e.pos, true
		}
	}
	return Pos{}, false
}

// add records k at pos, or returns where it was first seen and false.
func (s *smallSet[K]) add(k K, pos Pos) (Pos, bool) {
	if first, ok := s.get(k); ok {
		return first, false
	}
	switch {
	case s.m != nil:
		s.m[k] = pos
	case s.n < smallSetMax:
		s.list[s.n] = smallEntry[K]{k, pos}
		s.n++
	default:
		s.m = make(map[K]Pos, 2*smallSetMax)
		for _, e := range s.list {
			s.m[e.key] = e.pos
		}
		s.m[k] = pos
	}
	return pos, true
}
