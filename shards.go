package gtm

import "hash/maphash"

// nShards splits the snapshot's large maps so that a change copies only the
// part it touches: at 100,000 names a shard holds about 400, and replacing
// an instance copies one shard instead of the whole map.
const nShards = 256

// shards is a map split in nShards parts, never changed after it is built:
// with returns a new one that shares every untouched part.
type shards[V any] struct {
	seed maphash.Seed
	m    [nShards]map[string]V
	n    int
}

func newShards[V any](size int) *shards[V] {
	s := &shards[V]{seed: maphash.MakeSeed()}
	for i := range s.m {
		s.m[i] = make(map[string]V, size/nShards+1)
	}
	return s
}

func (s *shards[V]) shard(k string) int { return int(maphash.String(s.seed, k) % nShards) }

// get returns the value of k, or V's zero value.
func (s *shards[V]) get(k string) V { return s.m[s.shard(k)][k] }

// put adds k while the shards are being built, before anyone reads them.
func (s *shards[V]) put(k string, v V) {
	m := s.m[s.shard(k)]
	if _, ok := m[k]; !ok {
		s.n++
	}
	m[k] = v
}

// with returns a copy holding upd (a nil-valued entry of a pointer type is
// stored as is; use without to remove), sharing every shard upd leaves alone.
func (s *shards[V]) with(upd map[string]V) *shards[V] {
	c := *s
	copied := [nShards]bool{}
	for k, v := range upd {
		i := s.shard(k)
		if !copied[i] {
			m := make(map[string]V, len(s.m[i])+1)
			for kk, vv := range s.m[i] {
				m[kk] = vv
			}
			c.m[i], copied[i] = m, true
		}
		if _, ok := c.m[i][k]; !ok {
			c.n++
		}
		c.m[i][k] = v
	}
	return &c
}

// len is the number of entries.
func (s *shards[V]) len() int { return s.n }

// each calls fn for every entry, in no order.
func (s *shards[V]) each(fn func(k string, v V)) {
	for _, m := range s.m {
		for k, v := range m {
			fn(k, v)
		}
	}
}
