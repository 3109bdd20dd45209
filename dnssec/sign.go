package dnssec

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Validity of signatures: the inception an hour before the hour they are
// made in (clocks of validators run behind), the expiration eight days
// after it. A cached signature is made again once it is three days old, so
// an answer never carries one with less than five days to run, whatever
// the TTLs, and a server that runs for months needs no reload.
const (
	Validity = 8 * 24 * time.Hour
	Refresh  = 3 * 24 * time.Hour
)

// window is the validity window of signatures made at now. Inceptions fall
// on the hour, so nodes that sign one set within the same hour make the
// same signature with a deterministic algorithm (Ed25519).
func window(now time.Time) (inception, expiration uint32) {
	inc := now.Truncate(time.Hour).Add(-time.Hour)
	return uint32(inc.Unix()), uint32(inc.Add(Validity).Unix())
}

// DefaultCacheSlots bounds the signature cache: 2^18 sets (two per
// instance at 100,000 instances, with room), a pointer each when empty.
const DefaultCacheSlots = 1 << 18

// cache holds signatures by the content of the set they sign: owner, type,
// original TTL, signing role and records whatever their order (an address
// set matched by membership, an SOA by value, any other set by its records'
// wire forms sorted), so that every rotation of a set finds one entry. It is an array of atomic
// pointers, four-way set associative: lookups take no lock, an insert
// replaces the oldest of four slots, and the size never grows.
type cache struct {
	slots []atomic.Pointer[entry]
	mask  uint64
	seed  maphash.Seed
	// Counted for the benchmarks and tests: sets signed.
	signed atomic.Uint64
}

type entry struct {
	hash uint64
	// An address set is matched by its fields and addresses (key: the
	// addresses concatenated); any other by its packed key (setKey).
	addrs  bool
	soa    *dns.SOA // a zone's SOA, its TTL zeroed
	name   string
	rrtype uint16
	ttl    uint32
	ksk    bool
	key    []byte

	sigs []dns.RRSIG
	// The key and signatures of most sets, in the entry's allocation: at
	// 100,000 instances the collector visits every object.
	keyIn [16]byte
	sigIn [1]dns.RRSIG

	refresh int64 // unix seconds: made again from then on
}

func newCache(slots int) *cache {
	n := ways
	for n < slots {
		n <<= 1
	}
	return &cache{slots: make([]atomic.Pointer[entry], n), mask: uint64(n - 1), seed: maphash.MakeSeed()}
}

func (c *cache) get(h uint64, now int64, match func(*entry) bool) []dns.RRSIG {
	g := h & c.mask &^ (ways - 1)
	for j := g; j < g+ways; j++ {
		if e := c.slots[j].Load(); e != nil && e.hash == h && now < e.refresh && match(e) {
			return e.sigs
		}
	}
	return nil
}

// ways is how many slots a set may be in (one cache line of pointers
// holds them): fewer sets are lost to collisions than with one or two.
const ways = 4

// put stores e in one of its slots: one that holds the same hash (an entry
// made again), else an empty one, else the one to be made again soonest.
func (c *cache) put(e *entry) {
	g := e.hash & c.mask &^ (ways - 1)
	victim, oldest := g, int64(1<<62)
	for j := g; j < g+ways; j++ {
		o := c.slots[j].Load()
		if o == nil || o.hash == e.hash {
			victim = j
			break
		}
		if o.refresh < oldest {
			victim, oldest = j, o.refresh
		}
	}
	c.slots[victim].Store(e)
}

// Len is the number of sets whose signatures are cached.
func (s *Signer) Len() int {
	n := 0
	for i := range s.cache.slots {
		if s.cache.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// Signed is the number of sets signed so far: misses of the cache and
// denials signed per query.
func (s *Signer) Signed() uint64 { return s.cache.signed.Load() }

// maxKey bounds the wire form a set is keyed by; larger sets are signed
// without the cache.
const maxKey = 4096

// Sigs returns the signatures of the set rrs (one owner, type and class)
// whose original TTL is ttl: from the cache, or made now and cached. The
// records may be in any order and carry any TTL up to ttl; the signatures
// are shared and must be copied before they are changed. ksk says which
// keys sign: the KSKs (for the apex's key sets), else the ZSKs.
func (z *Zone) Sigs(rrs []dns.RR, ttl uint32, ksk bool) []dns.RRSIG {
	if len(rrs) == 0 {
		return nil
	}
	c := z.s.cache
	now := z.s.Now()
	// Address sets, nearly every answer, are looked up without a buffer:
	// their hash is a sum over the records, so order does not matter, and
	// an entry matches when it holds each of the records (a set has no
	// duplicates). No large stack buffer: a query that finds no idle
	// worker runs on miekg/dns's fresh goroutine, whose stack would grow.
	if h, ok := addrHash(c.seed, rrs, ttl, ksk); ok {
		if sigs := c.get(h, now.Unix(), func(e *entry) bool { return e.holds(rrs, ttl, ksk) }); sigs != nil {
			cacheHits.Inc()
			return sigs
		}
		signedSet.Inc()
		e := newAddrEntry(h, rrs, ttl, ksk, refreshAt(now))
		if e.sigs = z.sign(rrs, ttl, ksk, now, e.sigIn[:0]); e.sigs != nil {
			c.put(e)
		}
		return e.sigs
	}
	// The SOA is in every denial: keyed by its value, without packing.
	if soa, ok := rrs[0].(*dns.SOA); ok && len(rrs) == 1 {
		v := *soa
		v.Hdr.Ttl, v.Hdr.Rdlength = 0, 0 // the answered TTL is not the set's
		h := maphash.Comparable(c.seed, v) ^ (uint64(ttl)<<1|b2u(ksk))*0x9E3779B97F4A7C15
		if sigs := c.get(h, now.Unix(), func(e *entry) bool { return e.soa != nil && *e.soa == v && e.ttl == ttl && e.ksk == ksk }); sigs != nil {
			cacheHits.Inc()
			return sigs
		}
		signedSet.Inc()
		e := &entry{hash: h, soa: &v, ttl: ttl, ksk: ksk, refresh: refreshAt(now)}
		if e.sigs = z.sign(rrs, ttl, ksk, now, e.sigIn[:0]); e.sigs != nil {
			c.put(e)
		}
		return e.sigs
	}
	// Other sets are packed with miekg/dns into a pooled buffer.
	p := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(p)
	key, ok := setKey((*p)[:0], rrs, ttl, ksk)
	if !ok {
		return z.sign(rrs, ttl, ksk, now, nil)
	}
	h := maphash.Bytes(c.seed, key)
	if sigs := c.get(h, now.Unix(), func(e *entry) bool { return !e.addrs && e.soa == nil && bytes.Equal(e.key, key) }); sigs != nil {
		cacheHits.Inc()
		return sigs
	}
	signedSet.Inc()
	sigs := z.sign(rrs, ttl, ksk, now, nil)
	if sigs != nil {
		c.put(&entry{hash: h, key: bytes.Clone(key), sigs: sigs, refresh: refreshAt(now)})
	}
	return sigs
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// refreshAt is when a signature made at now is made again.
func refreshAt(now time.Time) int64 {
	inc, _ := window(now)
	return int64(inc) + int64(Refresh/time.Second)
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxKey); return &b }}

// addr is the address of an A or AAAA record, or nil.
func addr(rr dns.RR) []byte {
	switch a := rr.(type) {
	case *dns.A:
		if ip := a.A.To4(); ip != nil {
			return ip
		}
	case *dns.AAAA:
		if len(a.AAAA) == 16 {
			return a.AAAA
		}
	}
	return nil
}

// addrHash is the hash of an address set, the same in any order; false
// for any other set.
func addrHash(seed maphash.Seed, rrs []dns.RR, ttl uint32, ksk bool) (uint64, bool) {
	h0 := rrs[0].Header()
	var sum uint64
	for _, rr := range rrs {
		ip := addr(rr)
		if ip == nil || rr.Header().Rrtype != h0.Rrtype || rr.Header().Name != h0.Name {
			return 0, false
		}
		sum += maphash.Bytes(seed, ip)
	}
	k := uint64(ttl)<<17 | uint64(h0.Rrtype)<<1
	if ksk {
		k |= 1
	}
	return sum ^ maphash.String(seed, h0.Name) ^ k*0x9E3779B97F4A7C15, true
}

// newAddrEntry is the cache entry of an address set: its addresses
// concatenated.
func newAddrEntry(h uint64, rrs []dns.RR, ttl uint32, ksk bool, refresh int64) *entry {
	e := &entry{hash: h, addrs: true, name: rrs[0].Header().Name, rrtype: rrs[0].Header().Rrtype, ttl: ttl, ksk: ksk, refresh: refresh}
	e.key = e.keyIn[:0]
	for _, rr := range rrs {
		e.key = append(e.key, addr(rr)...)
	}
	return e
}

// holds reports whether e is the address set rrs: the same owner, type,
// original TTL and signers, as many addresses, each of rrs among them.
func (e *entry) holds(rrs []dns.RR, ttl uint32, ksk bool) bool {
	h := rrs[0].Header()
	if !e.addrs || e.ttl != ttl || e.ksk != ksk || e.rrtype != h.Rrtype || e.name != h.Name {
		return false
	}
	size := 4
	if h.Rrtype == dns.TypeAAAA {
		size = 16
	}
	if len(e.key) != len(rrs)*size {
		return false
	}
	for _, rr := range rrs {
		ip, found := addr(rr), false
		for off := 0; off < len(e.key); off += size {
			if bytes.Equal(e.key[off:off+size], ip) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// SignNow signs a set without the cache: a denial for a name that does not
// exist, whose owner is the query's name.
func (z *Zone) SignNow(rrs []dns.RR, ttl uint32) []dns.RRSIG {
	signedDenial.Inc()
	return z.sign(rrs, ttl, false, z.s.Now(), nil)
}

// sign makes the set's signatures, one per signing key, into sigs' space,
// over copies of the records with the original TTL. nil if a key fails
// (never expected: every key signed once when it was read).
func (z *Zone) sign(rrs []dns.RR, ttl uint32, ksk bool, now time.Time, sigs []dns.RRSIG) []dns.RRSIG {
	z.s.cache.signed.Add(1)
	set := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		set[i] = dns.Copy(rr)
		set[i].Header().Ttl = ttl
	}
	keys := z.zsks
	if ksk {
		keys = z.ksks
	}
	inc, exp := window(now)
	sigs = slices.Grow(sigs[:0], len(keys))
	for _, k := range keys {
		sig := k.rrsig(z.Name, ttl, inc, exp)
		if err := sig.Sign(k.signer, set); err != nil {
			signFailure(z.Name, k.tag, err)
			return nil
		}
		sigs = append(sigs, *sig)
	}
	return sigs
}

// setKey returns the set's cache key, built in buf's capacity: which keys
// sign, the original TTL, then each record's wire form (the TTL it is
// answered with zeroed) in sorted order, so that every order of one set
// gives one key. false for a set too large to key.
func setKey(buf []byte, rrs []dns.RR, ttl uint32, ksk bool) ([]byte, bool) {
	var offs [33]int
	if len(rrs)+1 > len(offs) {
		return nil, false
	}
	full := buf[:cap(buf)]
	half := len(full) / 2
	key, scratch := full[:0:half], full[half:]
	off := 0
	for i, rr := range rrs {
		offs[i] = off
		end, err := dns.PackRR(rr, scratch, off, nil, false)
		if err != nil {
			return nil, false
		}
		// The TTL is the 4 bytes after the owner, type and class.
		n := ownerLen(scratch[off:end])
		if n < 0 || off+n+10 > end {
			return nil, false
		}
		clear(scratch[off+n+4 : off+n+8])
		off = end
	}
	offs[len(rrs)] = off
	var order [32]int
	for i := range rrs {
		order[i] = i
	}
	piece := func(i int) []byte { return scratch[offs[i]:offs[i+1]] }
	for i := 1; i < len(rrs); i++ { // insertion sort: a set has a few records
		for j := i; j > 0 && bytes.Compare(piece(order[j]), piece(order[j-1])) < 0; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	b := byte(0)
	if ksk {
		b = 1
	}
	key = append(key, b)
	key = binary.BigEndian.AppendUint32(key, ttl)
	for i := range rrs {
		key = append(key, piece(order[i])...)
	}
	return key, true
}

// ownerLen is the length of the uncompressed owner name at the start of a
// packed record, or -1.
func ownerLen(b []byte) int {
	n := 0
	for n < len(b) {
		l := int(b[n])
		if l == 0 {
			return n + 1
		}
		if l&0xC0 != 0 {
			return -1
		}
		n += 1 + l
	}
	return -1
}

// NSEC is the compact denial of RFC 9824 at name: the next name is name's
// immediate successor (\000.name), so the record covers nothing but name,
// and the bitmap lists the types there, with RRSIG and NSEC (and NXNAME
// for a name that does not exist). types need not be sorted.
func NSEC(name string, ttl uint32, types ...uint16) *dns.NSEC {
	bm := make([]uint16, 0, len(types)+2)
	bm = append(bm, types...)
	bm = append(bm, dns.TypeRRSIG, dns.TypeNSEC)
	for i := 1; i < len(bm); i++ {
		for j := i; j > 0 && bm[j] < bm[j-1]; j-- {
			bm[j], bm[j-1] = bm[j-1], bm[j]
		}
	}
	next := "\\000." + name
	if name == "." {
		next = "\\000."
	}
	return &dns.NSEC{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNSEC, Class: dns.ClassINET, Ttl: ttl},
		NextDomain: next, TypeBitMap: bm}
}
