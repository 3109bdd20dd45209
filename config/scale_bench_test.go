package config

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// scaleConfig is n instances, each with its own pool of two addresses, half
// of the pools probed: the shape of the root's scaleBody (issue 9), built as
// the Corefile parser builds it, with positions and Props.
func scaleConfig(n int) *Config {
	const file = "Corefile"
	line := 1
	pos := func() Pos { line++; return Pos{File: file, Line: line} }
	c := &Config{Pos: pos(), Zones: []string{"example.org."}}
	m := NewMonitor(pos(), "m")
	m.Protocol, m.Port, m.Interval, m.Timeout = ProtoTCP, 9, time.Hour, time.Second
	for _, o := range []string{"protocol", "port", "interval", "timeout"} {
		m.Props.Set(o, pos())
	}
	c.Monitors = []*Monitor{m}
	c.Pools = make([]*Pool, 0, n)
	c.Instances = make([]*Instance, 0, n)
	addr := func(k int) netip.Addr { return netip.AddrFrom4([4]byte{127, byte(1 + k>>16), byte(k >> 8), byte(k)}) }
	for i := range n {
		p := NewPool(pos(), fmt.Sprintf("p%d", i))
		if i%2 == 0 {
			p.Props.Set("monitor", pos())
			p.Monitor = "m"
		}
		at := pos()
		p.Props.Set("address", at)
		for k := 2 * i; k < 2*i+2; k++ {
			a := NewAddress(at)
			a.IP = addr(k)
			p.Addresses = append(p.Addresses, a)
		}
		c.Pools = append(c.Pools, p)
		line++
		in := NewInstance(pos(), fmt.Sprintf("i%d.example.org.", i))
		at = pos()
		in.Props.Set("primary", at)
		col := NewCollection(at)
		col.Members = []Member{NewMember(at, p.Name)}
		in.Rules = []*Rule{{Pos: at, Match: MatchDefault, Primary: col}}
		c.Instances = append(c.Instances, in)
		line++
	}
	return c
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkScaleConfigHeap is the heap a 100,000-instance configuration
// holds once built (and validated, which fills in pool types).
func BenchmarkScaleConfigHeap(b *testing.B) {
	var c *Config
	for b.Loop() {
		c = nil
		before := heapMB()
		c = scaleConfig(100_000)
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(heapMB()-before, "heap-MB")
	}
	runtime.KeepAlive(c)
}

// BenchmarkScaleValidate is Validate of 100,000 instances.
func BenchmarkScaleValidate(b *testing.B) {
	c := scaleConfig(100_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScaleSum is the Sum of 100,000 instances: a digest of each part.
func BenchmarkScaleSum(b *testing.B) {
	c := scaleConfig(100_000)
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Sum()
	}
}

// BenchmarkPartDigest is the digest of one pool and one instance of the
// scale shape.
func BenchmarkPartDigest(b *testing.B) {
	c := scaleConfig(2)
	if err := c.Validate(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		PartDigest(c.Pools[0])
		PartDigest(c.Instances[0])
	}
}
