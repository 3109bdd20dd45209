package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/health"
)

// describe renders what a snapshot answers for every instance: each rule's
// state, TTL and active pools with their usable addresses.
func describe(s *snapshot) string {
	var lines []string
	s.names.each(func(name string, in *instance) {
		for _, r := range in.rules {
			l := fmt.Sprintf("%s %s: %s ttl %d degraded %v", name, r.name, r.state, r.ttl, r.degraded)
			if r.active != nil {
				for _, m := range r.active.Avail {
					l += " " + m.Pool.Name + "["
					for _, a := range m.Pool.Avail {
						l += a.IP.String() + " "
					}
					l += "]"
				}
			}
			lines = append(lines, l)
		}
	})
	s.pools.each(func(name string, p *cpool) {
		lines = append(lines, fmt.Sprintf("pool %s available %v sick %v", name, p.pool.Available, p.sick))
	})
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// A health change compiled incrementally (only the pools it touches and the
// instances that use them) gives the same answers as a whole compile.
func TestIncrementalMatchesFull(t *testing.T) {
	var b strings.Builder
	const pools, addrs, instances = 12, 3, 40
	for p := range pools {
		fmt.Fprintf(&b, "pool p%d {\n", p)
		for a := range addrs {
			fmt.Fprintf(&b, " address 192.0.%d.%d\n", p, a+1)
		}
		fmt.Fprintf(&b, " min-available %d\n}\n", 1+p%2)
	}
	for i := range instances {
		fmt.Fprintf(&b, "instance i%d {\n primary p%d p%d\n secondary p%d\n", i, i%pools, (i+3)%pools, (i+5)%pools)
		if i%3 == 0 {
			b.WriteString(" failback manual\n")
		}
		if i%4 == 0 {
			fmt.Fprintf(&b, " rule cidr 10.%d.0.0/16 {\n  primary p%d\n  secondary p%d\n }\n", i, (i+7)%pools, (i+1)%pools)
		}
		b.WriteString("}\n")
	}
	e := newEngine(t, b.String())
	view := health.Static{}
	full := compile(e.cfg, view, nil, false)
	inc := full
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 300 {
		// Flip one to three addresses.
		touched := map[string]bool{}
		for range 1 + rng.IntN(3) {
			p, a := rng.IntN(pools), rng.IntN(addrs)
			k := health.Key{Pool: fmt.Sprintf("p%d", p), Address: fmt.Sprintf("192.0.%d.%d", p, a+1)}
			view[k] = []health.Status{health.Healthy, health.Unhealthy, health.Unknown}[rng.IntN(3)]
			touched[k.Pool] = true
		}
		inc, _ = inc.update(view, touched, false)
		full = compile(e.cfg, view, full, false)
		if got, want := describe(inc), describe(full); got != want {
			t.Fatalf("step %d: incremental compile differs from a whole one:\nincremental:\n%s\nwhole:\n%s", step, got, want)
		}
	}
}
