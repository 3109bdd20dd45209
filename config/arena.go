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
	addrs []Address
	ptrs  []*Address
	props []Prop
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
	n := len(vals)
	if n == 0 {
		return nil
	}
	if len(a.addrs) < n {
		a.addrs = make([]Address, max(n, chunkLen[Address]()))
	}
	if len(a.ptrs) < n {
		a.ptrs = make([]*Address, max(n, chunkLen[*Address]()))
	}
	copy(a.addrs, vals)
	ptrs := a.ptrs[:n:n]
	for i := range ptrs {
		ptrs[i] = &a.addrs[i]
	}
	a.addrs, a.ptrs = a.addrs[n:], a.ptrs[n:]
	return ptrs
}

// Props copies p into the arena; nil for none.
func (a *Arena) Props(p Props) Props {
	n := len(p)
	if n == 0 {
		return nil
	}
	if len(a.props) < n {
		a.props = make([]Prop, max(n, chunkLen[Prop]()))
	}
	out := a.props[:n:n]
	copy(out, p)
	a.props = a.props[n:]
	return out
}
