package policy

import (
	"encoding/binary"
	"math"
	"net/netip"

	"github.com/gtm-project/gtm/config"
)

// The hash method answers each client subnet with the same addresses, on
// every node with the same configuration, by rendezvous (highest random
// weight) hashing: every address gets a score from a hash of the client's
// subnet and of the address itself, and the best scores answer. An
// address that fails takes only its own clients with it (each moves to its
// next best), and one that returns takes back exactly those. With weights,
// the score is weight / -ln(u) for the hash's uniform u, so each address
// comes first for its share of the weights (Schindelhauer and Schomaker,
// "Weighted distributed hash tables", 2005). Nothing is random: the hashes
// are of the bytes the configuration holds, with no per-process seed.

// The default prefix lengths the client's address is cut to.
const (
	DefaultHashV4 = config.DefaultHashV4
	DefaultHashV6 = config.DefaultHashV6
)

// hashKey is the client's address cut to bits4 (IPv4) or bits6 (IPv6)
// and mixed into 64 bits; the family is part of it.
func hashKey(a netip.Addr, bits4, bits6 int) uint64 {
	if a.Is4() {
		b := a.As4()
		x := uint64(binary.BigEndian.Uint32(b[:])) & (math.MaxUint32 << (32 - bits4))
		return mix(x | 4<<32)
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	switch {
	case bits6 <= 64:
		hi &= math.MaxUint64 << (64 - bits6)
		lo = 0
	case bits6 < 128:
		lo &= math.MaxUint64 << (128 - bits6)
	}
	return mix(hi ^ mix(lo^6<<56))
}

// mix is splitmix64's finalizer: every input bit moves every output bit.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// seedOf is an address's own hash (FNV-1a of its bytes or its name), made
// when the pool is compiled.
func seedOf(raw []byte, target string) uint32 {
	h := uint32(2166136261)
	for _, c := range raw {
		h = (h ^ uint32(c)) * 16777619
	}
	for i := 0; i < len(target); i++ {
		h = (h ^ uint32(target[i])) * 16777619
	}
	return h
}

// score is a's rendezvous score for key; with uniform weights only the
// order of the hashes matters, so the logarithm is left out.
func (a *Addr) score(key uint64, uniform bool) float64 {
	h := mix(key ^ uint64(a.seed)*0x9e3779b97f4a7c15)
	if uniform {
		return float64(h >> 11)
	}
	u := (float64(h>>11) + 0.5) / (1 << 53) // in (0, 1)
	return float64(a.Weight) / -math.Log(u)
}

// pickHash appends the k addresses of from with the best scores for the
// client, best first. Up to 64 addresses, each is scored once (on the
// stack) and the best are taken k times from a bit set; above, k passes
// score them again, which costs less than any bookkeeping that would
// allocate.
func pickHash(dst []*Addr, from []Addr, k int, client netip.Addr, bits4, bits6 int, uniform bool) []*Addr {
	key := hashKey(client, bits4, bits6)
	if len(from) <= 64 {
		var scores [64]float64
		for i := range from {
			scores[i] = from[i].score(key, uniform)
		}
		var taken uint64
		for range k {
			best := -1
			for i := range from {
				if taken&(1<<i) == 0 && (best < 0 || scores[i] > scores[best]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			taken |= 1 << best
			dst = append(dst, &from[best])
		}
		return dst
	}
	base := len(dst)
	for range k {
		var best *Addr
		bestScore := -1.0
		for i := range from {
			a := &from[i]
			if s := a.score(key, uniform); s > bestScore && !contains(dst[base:], a) {
				best, bestScore = a, s
			}
		}
		if best == nil {
			break
		}
		dst = append(dst, best)
	}
	return dst
}

// HashBits is the prefix length of a's family that the pool's hash method
// keys on, or 0 when its method is not hash: what an answer from it
// depends on, for the ECS scope.
func (p *Pool) HashBits(a netip.Addr) int {
	if p.hash4 == 0 {
		return 0
	}
	if a.Is4() {
		return int(p.hash4)
	}
	return int(p.hash6)
}
