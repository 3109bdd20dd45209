package engine

import (
	"hash/maphash"
	"maps"
)

// nShards splits the snapshot's large maps so that a change copies only the
// part it touches: at 100,000 names a shard holds about 400, and replacing
// an instance copies one shard instead of the whole map.
const nShards = 256

// shards is a map split in nShards parts, never changed after it is built:
// with returns a new one that shares every untouched part.
type shards[V any] = kshards[string, V]

// kshards is shards with keys of any comparable type.
type kshards[K comparable, V any] struct {
	seed maphash.Seed
	hash func(maphash.Seed, K) uint64
	m    [nShards]map[K]V
}

func newShards[V any](size int) *shards[V] { return newKShards[string, V](size, maphash.String) }

func newKShards[K comparable, V any](size int, hash func(maphash.Seed, K) uint64) *kshards[K, V] {
	s := &kshards[K, V]{seed: maphash.MakeSeed(), hash: hash}
	for i := range s.m {
		s.m[i] = make(map[K]V, size/nShards+1)
	}
	return s
}

func (s *kshards[K, V]) shard(k K) int { return int(s.hash(s.seed, k) % nShards) }

// get returns the value of k, or V's zero value.
func (s *kshards[K, V]) get(k K) V { return s.m[s.shard(k)][k] }

// put adds k while the shards are being built, before anyone reads them.
func (s *kshards[K, V]) put(k K, v V) {
	s.m[s.shard(k)][k] = v
}

// with returns a copy holding upd, sharing every shard upd leaves alone.
func (s *kshards[K, V]) with(upd map[K]V) *kshards[K, V] {
	c := *s
	copied := [nShards]bool{}
	for k, v := range upd {
		i := s.shard(k)
		if !copied[i] {
			c.m[i], copied[i] = maps.Clone(s.m[i]), true
		}
		c.m[i][k] = v
	}
	return &c
}

// each calls fn for every entry, in no order.
func (s *kshards[K, V]) each(fn func(k K, v V)) {
	for _, m := range s.m {
		for k, v := range m {
			fn(k, v)
		}
	}
}

// without returns a copy without the keys in del, sharing every shard del
// leaves alone.
func (s *kshards[K, V]) without(del []K) *kshards[K, V] {
	c := *s
	copied := [nShards]bool{}
	for _, k := range del {
		i := s.shard(k)
		if _, ok := c.m[i][k]; !ok {
			continue
		}
		if !copied[i] {
			c.m[i], copied[i] = maps.Clone(s.m[i]), true
		}
		delete(c.m[i], k)
	}
	return &c
}

// grouped returns, for each key, the values given with it, in order. Every
// list is a window of one shared array, capped so that appending to one
// copies it rather than overwriting its neighbour: a list per key would be
// a heap object per key, 100,000 of them at 100,000 pools, for the garbage
// collector to visit on every cycle.
func grouped[K comparable, V any](n int, each func(yield func(K, V))) map[K][]V {
	count := make(map[K]int, n)
	total := 0
	each(func(k K, _ V) { count[k]++; total++ })
	all := make([]V, 0, total)
	out := make(map[K][]V, len(count))
	each(func(k K, v V) {
		l, ok := out[k]
		if !ok {
			start := len(all)
			all = all[:start+count[k]]
			l = all[start : start : start+count[k]]
		}
		out[k] = append(l, v)
	})
	return out
}
