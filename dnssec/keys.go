// Package dnssec signs gtm's answers online: the zones' keys read as
// CoreDNS's dnssec plugin reads them (miekg/dns, no key parser or signature
// code of its own), signatures of answer sets in a bounded cache keyed by
// content, so that one signature serves every rotation of a set and a
// health change re-signs only the sets that are new, and the compact
// denial of RFC 9824.
package dnssec

import (
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/miekg/dns"
)

// Key is one key pair of a zone.
type Key struct {
	DNSKEY *dns.DNSKEY
	signer crypto.Signer
	tag    uint16
}

// KSK reports whether the key has the SEP flag: the key the parent's DS
// points at, which signs the DNSKEY set and is published as CDS/CDNSKEY.
func (k *Key) KSK() bool { return k.DNSKEY.Flags&dns.SEP != 0 }

// Zone is a signed zone's keys and the records they make at the apex.
type Zone struct {
	Name string
	// ksks sign the DNSKEY, CDS and CDNSKEY sets, zsks everything else;
	// see finish.
	ksks, zsks []*Key
	// The apex's key records: every key (DNSKEY), and the KSKs for the
	// parent (CDS with SHA-256, CDNSKEY). The TTL is the zone's.
	DNSKEY, CDS, CDNSKEY []dns.RR

	s *Signer
}

// Signer signs for every zone that has keys.
type Signer struct {
	zones map[string]*Zone
	// ID names the keys by content, so that a reload with other key files
	// starts an engine of its own.
	ID string
	// Now is the clock signatures are made by; tests set it.
	Now   func() time.Time
	cache *cache
}

// Load reads the keys of cfg's dnssec block (nil when there is none): a
// missing or unreadable file, a key of another zone or an algorithm other
// than 13 or 15 is an error naming the key's line.
func Load(cfg *config.Config, ttl uint32) (*Signer, error) {
	if cfg.DNSSEC == nil {
		return nil, nil
	}
	s := &Signer{zones: map[string]*Zone{}, Now: time.Now, cache: newCache(DefaultCacheSlots)}
	var ids []string
	for _, k := range cfg.DNSSEC.Keys {
		key, err := read(cfg, k)
		if err != nil {
			return nil, err
		}
		name := config.Fqdn(key.DNSKEY.Hdr.Name)
		for _, inner := range cfg.Zones {
			// A resolver finds the inner zone's answers under the outer
			// zone with no delegation (NS, DS) to prove them by, which gtm
			// does not write: they would be bogus.
			if inner != name && dns.IsSubDomain(name, inner) {
				return nil, k.Errorf("dnssec key '%s' signs %s, which holds %s, another zone of this gtm block: a signed zone cannot hold one (gtm writes no delegation to it, so its answers would not validate); serve the inner names as names of %s", k.Path, name, inner, name)
			}
		}
		z := s.zones[name]
		if z == nil {
			z = &Zone{Name: name, s: s}
			s.zones[name] = z
		}
		for _, o := range z.ksks {
			if o.tag == key.tag && o.DNSKEY.PublicKey == key.DNSKEY.PublicKey {
				return nil, k.Errorf("dnssec key '%s' is the same key as another one listed (tag %d)", k.Path, key.tag)
			}
		}
		for _, o := range z.zsks {
			if o.tag == key.tag && o.DNSKEY.PublicKey == key.DNSKEY.PublicKey {
				return nil, k.Errorf("dnssec key '%s' is the same key as another one listed (tag %d)", k.Path, key.tag)
			}
		}
		if key.KSK() {
			z.ksks = append(z.ksks, key)
		} else {
			z.zsks = append(z.zsks, key)
		}
		ids = append(ids, key.DNSKEY.String())
	}
	for _, z := range s.zones {
		z.finish(ttl)
	}
	h := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	s.ID = hex.EncodeToString(h[:8])
	return s, nil
}

// read reads one key pair as CoreDNS's dnssec plugin does.
func read(cfg *config.Config, k config.Key) (*Key, error) {
	pub, err := os.Open(k.Path + ".key")
	if err != nil {
		return nil, k.Errorf("dnssec key: %v", err)
	}
	defer pub.Close()
	rr, err := dns.ReadRR(pub, k.Path+".key")
	if err != nil {
		return nil, k.Errorf("dnssec key '%s.key': %v", k.Path, err)
	}
	dk, ok := rr.(*dns.DNSKEY)
	if !ok {
		return nil, k.Errorf("dnssec key '%s.key' holds no DNSKEY record", k.Path)
	}
	if err := cfg.CheckKey(k, dk); err != nil {
		return nil, err
	}
	priv, err := os.Open(k.Path + ".private")
	if err != nil {
		return nil, k.Errorf("dnssec key '%s': the private half is missing or unreadable: %v", k.Path, err)
	}
	defer priv.Close()
	p, err := dk.ReadPrivateKey(priv, k.Path+".private")
	if err != nil {
		return nil, k.Errorf("dnssec key '%s.private': %v", k.Path, err)
	}
	signer, ok := p.(crypto.Signer)
	if !ok {
		return nil, k.Errorf("dnssec key '%s.private': %v", k.Path, errors.New("not a signing key"))
	}
	// The private half must be the public half's: sign and verify once.
	key := &Key{DNSKEY: dk, signer: signer, tag: dk.KeyTag()}
	probe := &dns.TXT{Hdr: dns.RR_Header{Name: dk.Hdr.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1}, Txt: []string{"probe"}}
	sig := key.rrsig(dk.Hdr.Name, 1, 0, 1<<31)
	if err := sig.Sign(signer, []dns.RR{probe}); err != nil {
		return nil, k.Errorf("dnssec key '%s.private': cannot sign: %v", k.Path, err)
	}
	if err := sig.Verify(dk, []dns.RR{probe}); err != nil {
		return nil, k.Errorf("dnssec key '%s': the private key does not belong to the public key in '%s.key'", k.Path, k.Path)
	}
	return key, nil
}

// rrsig is a signature record to be signed by k, over a set whose original
// TTL is ttl.
func (k *Key) rrsig(signer string, ttl, inception, expiration uint32) *dns.RRSIG {
	return &dns.RRSIG{
		Hdr:        dns.RR_Header{Rrtype: dns.TypeRRSIG, Class: dns.ClassINET, Ttl: ttl},
		Algorithm:  k.DNSKEY.Algorithm,
		KeyTag:     k.tag,
		SignerName: signer,
		Inception:  inception,
		Expiration: expiration,
	}
}

// finish settles the roles and makes the apex's key records.
func (z *Zone) finish(ttl uint32) {
	// Every algorithm of the DNSKEY set signs every set (RFC 4035 2.2):
	// a role that lacks an algorithm borrows the other role's keys of it.
	// One CSK, or keys of one role only, sign everything.
	ksks, zsks := z.ksks, z.zsks
	z.ksks = append(slices.Clip(ksks), missing(zsks, ksks)...)
	z.zsks = append(slices.Clip(zsks), missing(ksks, zsks)...)
	seen := map[*Key]bool{}
	for _, k := range append(append([]*Key{}, z.ksks...), z.zsks...) {
		if seen[k] {
			continue
		}
		seen[k] = true
		dk := *k.DNSKEY
		dk.Hdr = dns.RR_Header{Name: z.Name, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: ttl}
		z.DNSKEY = append(z.DNSKEY, &dk)
		if !k.KSK() {
			continue
		}
		cds := dk.ToDS(dns.SHA256).ToCDS()
		cds.Hdr = dns.RR_Header{Name: z.Name, Rrtype: dns.TypeCDS, Class: dns.ClassINET, Ttl: ttl}
		z.CDS = append(z.CDS, cds)
		cdnskey := dk.ToCDNSKEY()
		cdnskey.Hdr = dns.RR_Header{Name: z.Name, Rrtype: dns.TypeCDNSKEY, Class: dns.ClassINET, Ttl: ttl}
		z.CDNSKEY = append(z.CDNSKEY, cdnskey)
	}
}

// missing are the keys of from whose algorithm no key of in has.
func missing(from, in []*Key) []*Key {
	var out []*Key
	for _, k := range from {
		if !slices.ContainsFunc(in, func(o *Key) bool { return o.DNSKEY.Algorithm == k.DNSKEY.Algorithm }) {
			out = append(out, k)
		}
	}
	return out
}

// Zone returns the keys of the zone named name, or nil when it has none
// (it is served unsigned).
func (s *Signer) Zone(name string) *Zone {
	if s == nil {
		return nil
	}
	return s.zones[name]
}
