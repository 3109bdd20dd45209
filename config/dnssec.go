package config

import (
	"slices"

	"github.com/miekg/dns"
)

// DNSSEC is the dnssec block: the key pairs gtm signs its zones' answers
// with. Like the GeoIP database it is the server block's: the key files
// live on each node, never in the store or the API.
type DNSSEC struct {
	Pos
	Keys []Key
}

// Key is one "key file KEY" base name: KEY.key holds the DNSKEY,
// KEY.private its private half, as dnssec-keygen writes them. Path is
// absolute (the reader resolves a relative one against the Corefile's
// directory).
type Key struct {
	Pos
	Path string
}

// Signing algorithms gtm accepts: both have small signatures (answers fit
// in UDP) and are fast to sign.
const (
	AlgECDSAP256 = dns.ECDSAP256SHA256 // 13, recommended
	AlgEd25519   = dns.ED25519         // 15
)

// validateDNSSEC checks what can be checked without reading the files:
// at least one key, no key listed twice.
func (c *Config) validateDNSSEC() error {
	d := c.DNSSEC
	if d == nil {
		return nil
	}
	if len(d.Keys) == 0 {
		return d.Errorf("dnssec needs at least one key (usage: key file KEY...)")
	}
	seen := map[string]Pos{}
	for _, k := range d.Keys {
		if prev, ok := seen[k.Path]; ok {
			return k.Errorf("dnssec key '%s' is listed twice (first at %s)", k.Path, prev.Where())
		}
		seen[k.Path] = k.Pos
	}
	return nil
}

// CheckKey checks a key read from its files against the configuration: its
// owner must be one of the zones, its algorithm 13 or 15, and it must be a
// zone key. The error names the line of the key.
func (c *Config) CheckKey(k Key, key *dns.DNSKEY) error {
	owner := Fqdn(key.Hdr.Name)
	if !slices.Contains(c.Zones, owner) {
		return k.Errorf("dnssec key '%s' is for zone '%s', which is not one of gtm's zones %v", k.Path, owner, c.Zones)
	}
	if key.Algorithm != AlgECDSAP256 && key.Algorithm != AlgEd25519 {
		return k.Errorf("dnssec key '%s' uses algorithm %d (%s): only 13 (ECDSAP256SHA256, recommended) and 15 (ED25519) are supported", k.Path, key.Algorithm, dns.AlgorithmToString[key.Algorithm])
	}
	if key.Flags&dns.ZONE == 0 || key.Protocol != 3 {
		return k.Errorf("dnssec key '%s' is not a zone key (flags %d, protocol %d; want flags 256 or 257, protocol 3)", k.Path, key.Flags, key.Protocol)
	}
	if key.Flags&dns.REVOKE != 0 {
		return k.Errorf("dnssec key '%s' is revoked (flags %d): remove it from the dnssec block", k.Path, key.Flags)
	}
	return nil
}
