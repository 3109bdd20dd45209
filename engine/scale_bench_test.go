package engine

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func scaleConfig(b *testing.B, n int) *config.Config {
	b.Helper()
	return parseConfig(b, testkit.ScaleBody(n))
}

// BenchmarkScaleLoad parses, validates and compiles 100,000 instances.
func BenchmarkScaleLoad(b *testing.B) {
	body := testkit.Block(testkit.ScaleBody(100_000))
	before := testkit.HeapMB()
	var s *snapshot
	for b.Loop() {
		cfg, _, err := corefile.Parse(caddy.NewTestController("dns", body))
		if err != nil {
			b.Fatal(err)
		}
		s = compile(cfg, health.Static{}, nil, true)
	}
	b.ReportMetric(testkit.HeapMB()-before, "heap-MB")
	runtime.KeepAlive(s)
}

// BenchmarkScaleValidate is the whole validation of 100,000 instances.
func BenchmarkScaleValidate(b *testing.B) {
	cfg := scaleConfig(b, 100_000)
	for b.Loop() {
		if err := cfg.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScaleHealthChange is one address's verdict flipping at 100,000
// instances: the pool and its instance compiled again and the snapshot
// swapped. It reports the 50th and 99th percentiles.
func BenchmarkScaleHealthChange(b *testing.B) {
	cfg := scaleConfig(b, 100_000)
	view := health.Static{}
	g := New(cfg)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		p := fmt.Sprintf("p%d", (i*7919)%100_000)
		k := health.Key{Pool: p, Address: testkit.ScaleAddr(2 * ((i * 7919) % 100_000))}
		if view[k] == health.Unhealthy {
			view[k] = health.Healthy
		} else {
			view[k] = health.Unhealthy
		}
		start := time.Now()
		next, _ := g.snap.Load().update(view, map[string]bool{p: true}, true)
		g.snap.Store(next)
		lat = append(lat, time.Since(start))
		i++
	}
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkScaleApply is one pool gaining an address through Apply at
// 100,000 instances, half of them probed: validated, compiled, published,
// its checks acquired. It reports the 50th and 99th percentiles.
func BenchmarkScaleApply(b *testing.B) {
	cfg := scaleConfig(b, 100_000)
	g := Start(New(cfg))
	defer g.Stop()
	// Steady state: the first round's 100,000 verdicts are compiled on the
	// same loop that applies changes, and would queue them.
	deadline := time.Now().Add(2 * time.Minute)
	for !Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		n := (i * 7919) % 100_000
		old := g.snap.Load().idx.pools.get(fmt.Sprintf("p%d", n))
		p := *old
		p.Addresses = append(slices.Clone(old.Addresses), &config.Address{IP: netip.MustParseAddr(testkit.ScaleAddr(200_000 + i)), Weight: 1})
		start := time.Now()
		if err := g.Apply(Change{Pools: []*config.Pool{&p}}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		i++
	}
	reportPercentiles(b, lat)
}

// BenchmarkScaleStart starts 100,000 instances with 100,000 probed addresses
// and waits for every first verdict; it reports the live heap then.
func BenchmarkScaleStart(b *testing.B) {
	cfg := scaleConfig(b, 100_000)
	for b.Loop() {
		g := Start(New(cfg))
		deadline := time.Now().Add(time.Minute)
		for !Ready() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		b.ReportMetric(testkit.HeapMB(), "heap-MB")
		if path := os.Getenv("GTM_HEAP_PROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		g.Stop()
	}
}

// BenchmarkScaleAnswering is what a server does between reading a Corefile
// of 100,000 instances and answering: parse, validate, compile, start the
// checks. (Run with -cpu 1 for the one-core figure.)
func BenchmarkScaleAnswering(b *testing.B) {
	body := testkit.Block(testkit.ScaleBody(100_000))
	for b.Loop() {
		cfg, _, err := corefile.Parse(caddy.NewTestController("dns", body))
		if err != nil {
			b.Fatal(err)
		}
		g := Start(New(cfg))
		b.StopTimer()
		g.Stop()
		b.StartTimer()
	}
}

// BenchmarkScaleQuery answers A questions cycling over every name of n
// instances (the shape of perf cases f and g) and packs each reply, as a
// server must: the per-query cost that grows with the configuration
// (cache misses, the collector's work on a larger heap) shows as the ratio
// between the two sizes.
func BenchmarkScaleQuery(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := Start(New(scaleConfig(b, n)))
			defer e.Stop()
			deadline := time.Now().Add(2 * time.Minute)
			for !Ready() && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			remote := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}
			buf := make([]byte, 0, 1232)
			var name []byte
			// A different order from the names' own, as a resolver's is.
			i := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				k := (i * 7919) % n
				i++
				// A fresh question, as a server unpacks one: its name is
				// in the cache, the configuration's copy of it is not.
				name = append(strconv.AppendInt(append(name[:0], 'i'), int64(k), 10), ".example.org."...)
				req := new(dns.Msg)
				req.SetQuestion(string(name), dns.TypeA)
				req.SetEdns0(1232, false)
				m, _ := e.Answer(Query{Req: req, Name: req.Question[0].Name, Type: dns.TypeA, Zone: "example.org.", Remote: remote})
				if _, err := m.PackBuffer(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScaleStatus is the control API's whole status at 100,000
// instances and pools (half of them probed), read from one snapshot.
func BenchmarkScaleStatus(b *testing.B) {
	e := Start(New(scaleConfig(b, 100_000)))
	defer e.Stop()
	deadline := time.Now().Add(2 * time.Minute)
	for !Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportAllocs()
	for b.Loop() {
		if st := e.Status(); len(st.Instances) != 100_000 || len(st.Pools) != 100_000 {
			b.Fatalf("%d instances, %d pools", len(st.Instances), len(st.Pools))
		}
	}
}
