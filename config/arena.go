package config

import "unsafe"

// Arena allocates the small parts of a configuration that live as long as
// it does (addresses, the slices that point to them, Props) in chunks rather
// than one object each: at 100,000 pools and instances they were a million
// objects, each a cache miss for the garbage collector on every cycle. A
// chunk lives while any part of it does, which a configuration's parts
// mostly do together.
//
// Every slice it returns has its length for capacity, so an append to one
// copies it out rather than writing over its neighbour. The zero Arena is
// ready; it is not safe for concurrent use.
type Arena struct {
	addrs    chunk[Address]
	ptrs     chunk[*Address]
	props    chunk[Prop]
	members  chunk[Member]
	rules    chunk[Rule]
	rulePtrs chunk[*Rule]
	cols     chunk[Collection]
	pools    chunk[Pool]
	insts    chunk[Instance]
	bytes    chunk[byte]
}

// chunk is the unused rest of a chunk of Ts.
type chunk[T any] []T

// take returns n zero Ts, from a new chunk if the rest is too short.
func (c *chunk[T]) take(n int) []T {
	if len(*c) < n {
		*c = make([]T, max(n, chunkLen[T]()))
	}
	s := (*c)[:n:n]
	*c = (*c)[n:]
	return s
}

// chunkLen is how many Ts a chunk holds: as many as fill a 16 KB size
// class with the 8-byte header the runtime puts before an object of this
// size that holds pointers (256 addresses, 28,680 bytes, would take a
// 32 KB one and waste an eighth of it).
func chunkLen[T any]() int {
	var t T
	return (16<<10 - 8) / int(unsafe.Sizeof(t))
}

// Addresses copies vals into the arena and returns pointers to the copies,
// in order; nil for none.
func (a *Arena) Addresses(vals []Address) []*Address {
	if len(vals) == 0 {
		return nil
	}
	addrs, ptrs := a.addrs.take(len(vals)), a.ptrs.take(len(vals))
	copy(addrs, vals)
	for i := range ptrs {
		ptrs[i] = &addrs[i]
	}
	return ptrs
}

// Props copies p into the arena; nil for none.
func (a *Arena) Props(p Props) Props { return take(&a.props, p) }

// Members copies m into the arena; nil for none.
func (a *Arena) Members(m []Member) []Member { return take(&a.members, m) }

// Rules copies r into the arena; nil for none.
func (a *Arena) Rules(r []*Rule) []*Rule { return take(&a.rulePtrs, r) }

// Rule is a new, zero rule.
func (a *Arena) Rule() *Rule { return &a.rules.take(1)[0] }

// Collection is NewCollection from the arena.
func (a *Arena) Collection(pos Pos) *Collection {
	c := &a.cols.take(1)[0]
	*c = newCollection(pos)
	return c
}

// Pool is NewPool from the arena, its name copied into the arena.
func (a *Arena) Pool(pos Pos, name string) *Pool {
	p := &a.pools.take(1)[0]
	*p = newPool(pos, a.String(name))
	return p
}

// Instance is NewInstance from the arena, its name copied into the arena.
func (a *Arena) Instance(pos Pos, name string) *Instance {
	in := &a.insts.take(1)[0]
	*in = newInstance(pos, a.String(name))
	return in
}

// String returns a copy of s kept with other strings in a shared chunk: a
// name taken from a token would keep that token's own allocation alive,
// one heap object per name for the garbage collector to visit every cycle.
func (a *Arena) String(s string) string {
	if s == "" {
		return ""
	}
	b := a.bytes.take(len(s))
	copy(b, s)
	return unsafe.String(&b[0], len(b))
}

func take[S ~[]E, E any](c *chunk[E], s S) S {
	if len(s) == 0 {
		return nil
	}
	out := c.take(len(s))
	copy(out, s)
	return S(out)
}
