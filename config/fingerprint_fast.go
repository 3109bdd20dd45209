package config

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
)

// At 100,000 pools and instances the reflection walk of digest cost about a
// second and 3 KB of garbage per pool and instance: boxing each field to ask
// whether it is a fmt.Stringer, and the type's field table from a sync.Map.
// fastDigest writes the same bytes with code of its own for pools,
// instances and rules, so digests stay what they were (and equal across
// nodes running either); TestFastDigestIsTheWalk holds the two together,
// with every field of these types set, so a field added to one of them
// and not here fails it.

// encoders are reused: a digest's bytes are only hashed.
var encoders = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 512)} }}

type encoder struct{ buf []byte }

// fastDigest is the digest of a pool, instance or rule, or false for any
// other part.
func fastDigest(v any) (d Digest, ok bool) {
	e := encoders.Get().(*encoder)
	e.buf = e.buf[:0]
	switch x := v.(type) {
	case *Pool:
		if ok = x != nil; ok {
			e.str("*config.Pool")
			e.pool(x)
		}
	case *Instance:
		if ok = x != nil; ok {
			e.str("*config.Instance")
			e.instance(x)
		}
	case *Rule:
		if ok = x != nil; ok {
			e.str("*config.Rule")
			e.rule(x)
		}
	}
	if ok {
		sum := sha256.Sum256(e.buf)
		copy(d[:], sum[:])
	}
	if cap(e.buf) <= 64<<10 { // a huge part's buffer is not kept
		encoders.Put(e)
	}
	return d, ok
}

func (e *encoder) int(n int64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, uint64(n)) }

func (e *encoder) str(s string) {
	e.int(int64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) bool(b bool) {
	if b {
		e.int(1)
	} else {
		e.int(0)
	}
}

func (e *encoder) pool(p *Pool) {
	e.str("Name")
	e.str(p.Name)
	e.str("Type")
	e.int(int64(p.Type))
	e.str("Addresses")
	e.addresses(p.Addresses)
	e.str("Method")
	e.int(int64(p.Method))
	e.str("MaxAnswers")
	e.int(int64(p.MaxAnswers))
	e.str("MinAvailable")
	e.threshold(p.MinAvailable)
	e.str("Monitor")
	e.str(p.Monitor)
	e.str("Location")
	if p.Location == nil {
		e.str("<nil>")
	} else {
		// As the walk writes a float: fmt's %v.
		e.str("Lat")
		e.str(fmt.Sprint(p.Location.Lat))
		e.str("Lon")
		e.str(fmt.Sprint(p.Location.Lon))
	}
	e.str("Bias")
	e.int(int64(p.Bias))
	e.str("HashV4")
	e.int(int64(p.HashV4))
	e.str("HashV6")
	e.int(int64(p.HashV6))
}

func (e *encoder) addresses(as []*Address) {
	e.int(int64(len(as)))
	for _, a := range as {
		if a == nil {
			e.str("<nil>")
			continue
		}
		e.str("IP")
		// As IP.String(), without building the string: the length is
		// written once the text is.
		if !a.IP.IsValid() {
			e.str("invalid IP")
		} else {
			at := len(e.buf)
			e.int(0)
			e.buf = a.IP.AppendTo(e.buf)
			binary.LittleEndian.PutUint64(e.buf[at:], uint64(len(e.buf)-at-8))
		}
		e.str("Domain")
		e.str(a.Domain)
		e.str("Weight")
		e.int(int64(a.Weight))
		e.str("Mode")
		e.int(int64(a.Mode))
		e.str("Monitor")
		e.str(a.Monitor)
		e.str("Probe")
		e.str(a.Probe)
	}
}

func (e *encoder) threshold(t Threshold) {
	e.str("Count")
	e.int(int64(t.Count))
	e.str("Percent")
	e.int(int64(t.Percent))
}

// defaultTie is DefaultTie as text, which nearly every instance has.
var defaultTie = DefaultTie.String()

func (e *encoder) instance(in *Instance) {
	e.str("Name")
	e.str(in.Name)
	e.str("TTL")
	e.int(int64(in.TTL))
	e.str("Rules")
	e.int(int64(len(in.Rules)))
	for _, r := range in.Rules {
		if r == nil {
			e.str("<nil>")
			continue
		}
		e.rule(r)
	}
	e.str("Policy")
	e.int(int64(in.Policy))
	e.str("IgnoreECS")
	e.bool(in.IgnoreECS)
	e.str("TiePercent")
	e.int(int64(in.TiePercent))
	e.str("Tie")
	if in.Tie == DefaultTie {
		e.str(defaultTie)
	} else {
		e.str(in.Tie.String())
	}
	e.str("TieKm")
	e.int(int64(in.TieKm))
	e.str("Switch")
	e.int(int64(in.Switch))
	e.str("Failback")
	e.int(int64(in.Failback))
	e.str("AllDown")
	e.int(int64(in.AllDown))
	e.str("Fallbacks")
	e.addresses(in.Fallbacks)
	e.str("DegradedTTL")
	e.int(int64(in.DegradedTTL))
	e.str("Failover")
	e.int(int64(in.Failover))
	e.str("HTTPS")
	e.svc(in.HTTPS)
	e.str("SVCB")
	e.svc(in.SVCB)
}

func (e *encoder) svc(v *SVC) {
	if v == nil {
		e.str("<nil>")
		return
	}
	e.str("ALPN")
	e.int(int64(len(v.ALPN)))
	for _, id := range v.ALPN {
		e.str(id)
	}
	e.str("Port")
	e.int(int64(v.Port))
	e.str("ECH")
	e.str(v.ECH)
}

func (e *encoder) rule(r *Rule) {
	e.str("Match")
	e.int(int64(r.Match))
	e.str("Values")
	e.int(int64(len(r.Values)))
	for _, v := range r.Values {
		e.str(v)
	}
	e.str("Primary")
	e.collection(r.Primary)
	e.str("Secondary")
	e.collection(r.Secondary)
}

func (e *encoder) collection(c *Collection) {
	if c == nil {
		e.str("<nil>")
		return
	}
	e.str("Members")
	e.int(int64(len(c.Members)))
	for _, m := range c.Members {
		e.str("Pool")
		e.str(m.Pool)
		e.str("Weight")
		e.int(int64(m.Weight))
	}
	e.str("Method")
	e.int(int64(c.Method))
	e.str("MinAvailable")
	e.threshold(c.MinAvailable)
}
