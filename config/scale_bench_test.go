package config

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
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
	var arena Arena // as the parser keeps addresses and Props
	var props Props
	for i := range n {
		p := NewPool(pos(), fmt.Sprintf("p%d", i))
		props = props[:0]
		if i%2 == 0 {
			props.Set("monitor", pos())
			p.Monitor = "m"
		}
		at := pos()
		props.Set("address", at)
		p.Props = arena.Props(props)
		var addrs [2]Address
		for k := range addrs {
			addrs[k] = Address{Pos: at, IP: addr(2*i + k), Weight: DefaultWeight}
		}
		p.Addresses = arena.Addresses(addrs[:])
		c.Pools = append(c.Pools, p)
		line++
		in := NewInstance(pos(), fmt.Sprintf("i%d.example.org.", i))
		at = pos()
		in.Props = arena.Props(Props{{"primary", at}})
		col := NewCollection(at)
		col.Members = []Member{NewMember(at, p.Name)}
		in.Rules = []*Rule{{Pos: at, Match: MatchDefault, Primary: col}}
		c.Instances = append(c.Instances, in)
		line++
	}
	return c
}

// BenchmarkScaleConfigHeap is the heap a 100,000-instance configuration
// holds once built (and validated, which fills in pool types).
func BenchmarkScaleConfigHeap(b *testing.B) {
	var c *Config
	for b.Loop() {
		c = nil
		mb, objs := testkit.Heap()
		c = scaleConfig(100_000)
		if err := c.Validate(); err != nil {
			b.Fatal(err)
		}
		mb1, objs1 := testkit.Heap()
		b.ReportMetric(mb1-mb, "heap-MB")
		b.ReportMetric(objs1-objs, "heap-objects")
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
