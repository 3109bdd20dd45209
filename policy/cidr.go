package policy

import "net/netip"

// CIDRTable maps prefixes to values and answers longest-prefix matches
// together with the widest prefix around the address in which that answer
// holds, which is what an ECS scope must say. It is a binary trie per
// family; a lookup walks at most 32 or 128 nodes and allocates nothing.
type CIDRTable[T any] struct {
	v4, v6 *node[T]
}

type node[T any] struct {
	child [2]*node[T]
	val   T
	has   bool
}

// Insert adds p (masked) with value v, replacing an equal prefix.
func (t *CIDRTable[T]) Insert(p netip.Prefix, v T) {
	p = p.Masked()
	root := &t.v4
	if p.Addr().Is6() {
		root = &t.v6
	}
	if *root == nil {
		*root = &node[T]{}
	}
	n := *root
	a := p.Addr()
	for d := range p.Bits() {
		b := bit(a, d)
		if n.child[b] == nil {
			n.child[b] = &node[T]{}
		}
		n = n.child[b]
	}
	n.val, n.has = v, true
}

// Empty reports whether the table holds no prefix.
func (t *CIDRTable[T]) Empty() bool { return t.v4 == nil && t.v6 == nil }

// Lookup returns the value of the longest prefix containing a (ok false when
// none does) and its length, and the scope: the length of the widest prefix
// of a that contains no other prefix of the table which does not contain a.
// Any address within a's scope-long prefix (and within the match) gets the
// same answer from this table.
func (t *CIDRTable[T]) Lookup(a netip.Addr) (v T, bits int, ok bool, scope int) {
	a = a.Unmap()
	n, max := t.v4, 32
	if a.Is6() {
		n, max = t.v6, 128
	}
	for d := 0; n != nil; d++ {
		if n.has {
			v, bits, ok = n.val, d, true
		}
		if d == max {
			break
		}
		b := bit(a, d)
		if n.child[1-b] != nil {
			// Prefixes branch off a's path here: the scope must be
			// narrow enough to leave them out.
			scope = d + 1
		}
		n = n.child[b]
	}
	if bits > scope {
		scope = bits
	}
	return v, bits, ok, scope
}

// bit is bit d (0 = most significant) of a.
func bit(a netip.Addr, d int) int {
	if a.Is4() {
		b := a.As4()
		return int(b[d/8]>>(7-d%8)) & 1
	}
	b := a.As16()
	return int(b[d/8]>>(7-d%8)) & 1
}
