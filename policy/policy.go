// Package policy holds the compiled, immutable form of pools and collections
// and the methods that pick addresses from them on the query path. Everything
// here is built when configuration or health changes; Pick only reads, and
// writes into a buffer the caller owns, so it allocates nothing.
package policy

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/gtm-project/gtm/config"
)

// Rand is the source of randomness for weighted draws and rotation. A Rand
// shared by a server must be safe for concurrent use; tests pass a seeded one
// so that answers are deterministic.
type Rand interface {
	IntN(n int) int
}

type runtimeRand struct{}

func (runtimeRand) IntN(n int) int { return rand.IntN(n) }

// DefaultRand draws from the runtime's per-thread generator: no lock, no
// allocation.
var DefaultRand Rand = runtimeRand{}

// Addr is one answerable address. A pool holds its addresses by value, with
// the bytes an answer carries inside: at 100,000 pools, every pointer less
// between a query and its answer is a cache miss less.
type Addr struct {
	IP     netip.Addr // A and AAAA pools
	Target string     // CNAME pools: the fully qualified target
	Weight int
	Pool   *Pool // the pool it was picked from
	raw    [16]byte
	rawLen uint8
	seed   uint32 // the address's own hash, for the hash method
}

// Raw is the address as the 4 or 16 bytes an A or AAAA record holds. It
// points into the Addr, so an answer needs no allocation of its own.
func (a *Addr) Raw() net.IP { return a.raw[:a.rawLen:a.rawLen] }

// Pool is a compiled pool: its usable addresses in configured order.
type Pool struct {
	Name      string
	Family    config.Type // the record type of its addresses
	Method    config.Method
	Max       int     // answers at most; never 0 once compiled
	Avail     []Addr  // usable addresses, configured order
	Usable    int     // len(Avail), kept for explanations and metrics
	Total     int     // configured addresses
	Available bool    // Usable meets the pool's min-available rule
	weight    int     // sum of Avail weights
	at        Point   // where the pool's site is (nearest); zero: not given
	bias      int     // nearest: -99 to 99
	scale     float64 // (100-bias)/100: what a distance to the pool counts
	// hash method: the client prefix lengths it keys on (0: another
	// method), and whether every address weighs the same.
	hash4, hash6 uint8
	uniform      bool
}

// NewPool compiles a pool, keeping the addresses usable says may be answered.
func NewPool(p *config.Pool, usable func(*config.Address) bool) *Pool {
	// The pool and (for the usual few) its addresses in one allocation.
	b := &struct {
		p   Pool
		buf [2]Addr
	}{}
	b.p.Init(p, usable, b.buf[:])
	return &b.p
}

// Init compiles p into cp, as NewPool does, keeping the addresses in buf
// when they fit (so that an owner can keep a pool next to its own data),
// else in a new array.
func (cp *Pool) Init(p *config.Pool, usable func(*config.Address) bool, buf []Addr) {
	*cp = Pool{Name: p.Name, Family: p.Type, Method: p.Method, Max: p.MaxAnswers, Total: len(p.Addresses), Avail: buf[:0],
		bias: p.Bias, scale: float64(100-p.Bias) / 100}
	if cp.Family == 0 && len(p.Addresses) > 0 {
		cp.Family = p.Addresses[0].Type()
	}
	if p.Location != nil {
		cp.at = PointAt(p.Location.Lat, p.Location.Lon)
	}
	if p.Method == config.MethodHash {
		cp.hash4, cp.hash6, cp.uniform = uint8(DefaultHashV4), uint8(DefaultHashV6), true
		if p.HashV4 != 0 {
			cp.hash4 = uint8(p.HashV4)
		}
		if p.HashV6 != 0 {
			cp.hash6 = uint8(p.HashV6)
		}
	}
	if len(p.Addresses) > len(buf) {
		cp.Avail = make([]Addr, 0, len(p.Addresses))
	}
	for _, a := range p.Addresses {
		if !usable(a) {
			continue
		}
		ad := Addr{IP: a.IP, Target: a.Domain, Weight: a.Weight, Pool: cp}
		if a.IP.Is4() {
			*(*[4]byte)(ad.raw[:4]), ad.rawLen = a.IP.As4(), 4
		} else if a.IP.IsValid() {
			ad.raw, ad.rawLen = a.IP.As16(), 16
		}
		if cp.hash4 != 0 {
			ad.seed = seedOf(ad.raw[:ad.rawLen], ad.Target)
			cp.uniform = cp.uniform && (len(cp.Avail) == 0 || cp.Avail[0].Weight == ad.Weight)
		}
		cp.Avail = append(cp.Avail, ad)
		cp.weight += a.Weight
	}
	cp.Usable = len(cp.Avail)
	cp.Available = cp.Usable > 0 && cp.Usable >= p.MinAvailable.Need(cp.Total)
	if cp.Max == 0 {
		cp.Max = 1
		if p.Method == config.MethodAll {
			cp.Max = config.MaxAnswers
		}
	}
}

// Pick appends the pool's answer to dst, for no client in particular.
func (p *Pool) Pick(dst []*Addr, r Rand) []*Addr { return p.PickFor(dst, r, netip.Addr{}) }

// PickFor appends the pool's answer to client to dst: the hash method keys
// on the client's address; the others do not look at it.
func (p *Pool) PickFor(dst []*Addr, r Rand, client netip.Addr) []*Addr {
	n := len(p.Avail)
	if n == 0 {
		return dst
	}
	k := min(p.Max, n)
	switch p.Method {
	case config.MethodSequence:
		for i := range k {
			dst = append(dst, &p.Avail[i])
		}
		return dst
	case config.MethodWeight:
		return pickWeighted(dst, p.Avail, p.weight, k, r)
	case config.MethodHash:
		return pickHash(dst, p.Avail, k, client, int(p.hash4), int(p.hash6), p.uniform)
	}
	start := r.IntN(n)
	for i := range k {
		dst = append(dst, &p.Avail[(start+i)%n])
	}
	return dst
}

// pickWeighted draws k distinct addresses, each draw in proportion to weight
// among those not yet drawn. k is small (max-answers), so scanning dst to skip
// drawn ones costs less than any bookkeeping that would allocate.
func pickWeighted(dst []*Addr, from []Addr, total, k int, r Rand) []*Addr {
	base := len(dst)
	for range k {
		x := r.IntN(total)
		for i := range from {
			a := &from[i]
			if contains(dst[base:], a) {
				continue
			}
			if x < a.Weight {
				dst = append(dst, a)
				total -= a.Weight
				break
			}
			x -= a.Weight
		}
	}
	return dst
}

func contains(s []*Addr, a *Addr) bool {
	for _, b := range s {
		if b == a || (b.IP == a.IP && b.Target == a.Target) {
			return true
		}
	}
	return false
}

// Member is a compiled pool's place in a collection.
type Member struct {
	Pool   *Pool
	Weight int
}

// Collection is a compiled collection: its available pools in configured
// order.
type Collection struct {
	Method    config.Method
	Members   []Member // every pool, configured order
	Avail     []Member // available pools, configured order
	Available bool     // len(Avail) meets the collection's min-available rule
	weight    int
}

// NewCollection compiles a collection over compiled pools, which pool
// finds by name. A pinned collection (the operator forced it) answers every
// pool with a usable address, even pools below their min-available rule.
func NewCollection(c *config.Collection, pool func(string) *Pool, pinned bool) *Collection {
	// The collection and its member lists in one allocation: a query reads
	// them one after the other.
	b := &struct {
		c   Collection
		buf [4]Member
	}{}
	b.c.Init(c, pool, pinned, b.buf[:])
	return &b.c
}

// Init compiles c into cc, as NewCollection does, keeping the member lists
// in buf when it holds twice the members (so that an owner can keep a
// collection and its lists next to its own data), else in a new array.
func (cc *Collection) Init(c *config.Collection, pool func(string) *Pool, pinned bool, buf []Member) {
	n := len(c.Members)
	if len(buf) < 2*n {
		buf = make([]Member, 2*n)
	}
	*cc = Collection{Method: c.Method, Members: buf[:0:n], Avail: buf[n : n : 2*n]}
	var held, avail uint8 // families, as bits
	for _, m := range c.Members {
		mm := Member{Pool: pool(m.Pool), Weight: m.Weight}
		cc.Members = append(cc.Members, mm)
		held |= 1 << mm.Pool.Family
		if mm.Pool.Available || pinned && mm.Pool.Usable > 0 {
			cc.Avail = append(cc.Avail, mm)
			cc.weight += mm.Weight
			avail |= 1 << mm.Pool.Family
		}
	}
	// A dual-stack collection fails over as a whole when either family
	// has no pool left: its IPv4-only (or IPv6-only) clients would
	// otherwise get nothing while another collection could serve them.
	cc.Available = len(cc.Avail) > 0 && len(cc.Avail) >= c.MinAvailable.Need(len(c.Members)) && avail == held
}

// FamilyInto makes dst the part of c that holds pools of family t: its
// members and available pools of that family, in order, with buf (at least
// twice c's members) for the lists. dst is available when it has an
// available pool. Compiled once per rule, so that a query of a dual-stack
// instance picks from its family without filtering.
func (c *Collection) FamilyInto(t config.Type, dst *Collection, buf []Member) {
	n := len(c.Members)
	if len(buf) < 2*n {
		buf = make([]Member, 2*n)
	}
	*dst = Collection{Method: c.Method, Members: buf[:0:n], Avail: buf[n : n : 2*n]}
	for _, m := range c.Members {
		if m.Pool.Family == t {
			dst.Members = append(dst.Members, m)
		}
	}
	for _, m := range c.Avail {
		if m.Pool.Family == t {
			dst.Avail = append(dst.Avail, m)
			dst.weight += m.Weight
		}
	}
	dst.Available = c.Available && len(dst.Avail) > 0
}

// Fixed is a collection that always answers the given addresses (an
// instance's all-down fallback).
func Fixed(addrs []*config.Address) *Collection {
	// One pool per family, so that a dual-stack instance answers each
	// family its own addresses.
	c := &Collection{Available: true}
	for _, t := range []config.Type{config.TypeA, config.TypeAAAA, config.TypeCNAME} {
		var of []*config.Address
		for _, a := range addrs {
			if a.Type() == t {
				of = append(of, a)
			}
		}
		if len(of) == 0 {
			continue
		}
		p := NewPool(&config.Pool{Name: "fallback", Type: t, Addresses: of, MinAvailable: config.DefaultThreshold},
			func(*config.Address) bool { return true })
		c.Members = append(c.Members, Member{p, 1})
		c.Avail = append(c.Avail, Member{p, 1})
		c.weight++
	}
	return c
}

// Pick appends the collection's answer to dst, for no client in particular.
func (c *Collection) Pick(dst []*Addr, r Rand) []*Addr { return c.PickFor(dst, r, netip.Addr{}) }

// PickFor appends the collection's answer to client to dst.
func (c *Collection) PickFor(dst []*Addr, r Rand, client netip.Addr) []*Addr {
	if len(c.Avail) == 0 {
		return dst
	}
	switch c.Method {
	case config.MethodSequence:
		return c.Avail[0].Pool.PickFor(dst, r, client)
	case config.MethodWeight:
		x := r.IntN(c.weight)
		for _, m := range c.Avail {
			if x < m.Weight {
				return m.Pool.PickFor(dst, r, client)
			}
			x -= m.Weight
		}
		return dst
	}
	base := len(dst)
	for _, m := range c.Avail {
		// The same address can sit in two pools; answer it once.
		from := len(dst)
		dst = m.Pool.PickFor(dst, r, client)
		kept := from
		for _, a := range dst[from:] {
			if !contains(dst[base:kept], a) {
				dst[kept] = a
				kept++
			}
		}
		dst = dst[:kept]
	}
	if n := len(dst) - base; n > 1 && len(c.Avail) > 1 {
		rotate(dst[base:], r.IntN(n))
	}
	return dst
}

// rotate moves s[k:] to the front in place.
func rotate(s []*Addr, k int) {
	reverse(s[:k])
	reverse(s[k:])
	reverse(s)
}

func reverse(s []*Addr) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// Fastest returns a copy of c that answers only from its available pools
// whose latency is within the tie band of the fastest: at most pct percent
// or tie above it (either suffices), so that traffic does not swing on noise.
// Pools with no measurement are left out, unless no pool has one (then c is
// returned as it is).
func (c *Collection) Fastest(latency func(*Pool) (time.Duration, bool), pct int, tie time.Duration) *Collection {
	best, any := time.Duration(0), false
	for _, m := range c.Avail {
		if l, ok := latency(m.Pool); ok && (!any || l < best) {
			best, any = l, true
		}
	}
	if !any {
		return c
	}
	limit := max(best+best*time.Duration(pct)/100, best+tie)
	out := &Collection{Method: c.Method, Members: c.Members, Available: c.Available}
	for _, m := range c.Avail {
		if l, ok := latency(m.Pool); ok && l <= limit {
			out.Avail = append(out.Avail, m)
			out.weight += m.Weight
		}
	}
	return out
}
