package policy

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
)

func pool(name string, method config.Method, max int, weights ...int) *config.Pool {
	p := &config.Pool{Name: name, Method: method, MaxAnswers: max, MinAvailable: config.DefaultThreshold}
	for i, w := range weights {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		if name == "b" {
			ip = netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		}
		p.Addresses = append(p.Addresses, &config.Address{IP: ip, Weight: w})
	}
	return p
}

func all(*config.Address) bool { return true }

func seeded() Rand { return rand.New(rand.NewPCG(1, 2)) }

// share counts how often each address is answered over n picks.
func share(n int, pick func([]*Addr) []*Addr) map[string]float64 {
	counts := map[string]int{}
	total := 0
	var buf [16]*Addr
	for range n {
		for _, a := range pick(buf[:0]) {
			counts[a.IP.String()]++
			total++
		}
	}
	out := map[string]float64{}
	for k, v := range counts {
		out[k] = float64(v) / float64(total)
	}
	return out
}

func TestPoolWeightShare(t *testing.T) {
	p := NewPool(pool("a", config.MethodWeight, 1, 1, 2, 3, 4), all)
	r := seeded()
	got := share(100000, func(dst []*Addr) []*Addr { return p.Pick(dst, r) })
	for i, w := range []int{1, 2, 3, 4} {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).String()
		want := float64(w) / 10
		if math.Abs(got[ip]-want) > 0.01 {
			t.Errorf("%s answered %.3f of the time, want %.3f ± 0.01", ip, got[ip], want)
		}
	}
}

func TestCollectionWeightShare(t *testing.T) {
	// Pool weights 1:3, then address weights within each pool.
	pools := map[string]*Pool{
		"a": NewPool(pool("a", config.MethodWeight, 1, 1, 1), all),
		"b": NewPool(pool("b", config.MethodWeight, 1, 1, 2), all),
	}
	c := NewCollection(&config.Collection{Method: config.MethodWeight, MinAvailable: config.DefaultThreshold,
		Members: []config.Member{{Pool: "a", Weight: 1}, {Pool: "b", Weight: 3}}}, lookup(pools), false)
	r := seeded()
	got := share(200000, func(dst []*Addr) []*Addr { return c.Pick(dst, r) })
	want := map[string]float64{
		"192.0.2.1":    0.25 * 0.5,
		"192.0.2.2":    0.25 * 0.5,
		"198.51.100.1": 0.75 / 3,
		"198.51.100.2": 0.75 * 2 / 3,
	}
	for ip, w := range want {
		if math.Abs(got[ip]-w) > 0.01 {
			t.Errorf("%s answered %.3f of the time, want %.3f ± 0.01", ip, got[ip], w)
		}
	}
}

func TestWeightDistinct(t *testing.T) {
	p := NewPool(pool("a", config.MethodWeight, 3, 50, 1, 1, 1), all)
	r := seeded()
	var buf [16]*Addr
	for range 1000 {
		got := p.Pick(buf[:0], r)
		if len(got) != 3 {
			t.Fatalf("got %d addresses, want 3", len(got))
		}
		if got[0] == got[1] || got[1] == got[2] || got[0] == got[2] {
			t.Fatalf("weighted pick repeated an address: %v %v %v", got[0].IP, got[1].IP, got[2].IP)
		}
	}
}

func TestAllRotates(t *testing.T) {
	p := NewPool(pool("a", config.MethodAll, 0, 1, 1, 1), all)
	r := seeded()
	first := map[string]int{}
	var buf [16]*Addr
	for range 3000 {
		got := p.Pick(buf[:0], r)
		if len(got) != 3 {
			t.Fatalf("all answered %d addresses, want 3", len(got))
		}
		first[got[0].IP.String()]++
	}
	for ip, n := range first {
		if n < 800 {
			t.Errorf("%s came first only %d times in 3000", ip, n)
		}
	}
	if len(first) != 3 {
		t.Errorf("only %d addresses ever came first", len(first))
	}
}

func TestSequence(t *testing.T) {
	cp := pool("a", config.MethodSequence, 0, 1, 1, 1)
	cp.Addresses[0].Mode = config.ModeDown
	p := NewPool(cp, func(a *config.Address) bool { return a.Mode != config.ModeDown })
	var buf [16]*Addr
	got := p.Pick(buf[:0], seeded())
	if len(got) != 1 || got[0].IP.String() != "192.0.2.2" {
		t.Fatalf("sequence answered %v, want the first usable address 192.0.2.2", got)
	}
	cp.MaxAnswers = 2
	p = NewPool(cp, func(a *config.Address) bool { return a.Mode != config.ModeDown })
	got = p.Pick(buf[:0], seeded())
	if len(got) != 2 || got[1].IP.String() != "192.0.2.3" {
		t.Fatalf("sequence with max-answers 2 answered %v", got)
	}
}

func TestAvailability(t *testing.T) {
	cp := pool("a", config.MethodAll, 0, 1, 1, 1, 1)
	cp.Addresses[0].Mode = config.ModeDown
	cp.Addresses[1].Mode = config.ModeDown
	usable := func(a *config.Address) bool { return a.Mode != config.ModeDown }
	for _, tc := range []struct {
		t    config.Threshold
		want bool
	}{
		{config.Threshold{Count: 1}, true},
		{config.Threshold{Count: 2}, true},
		{config.Threshold{Count: 3}, false},
		{config.Threshold{Percent: 50}, true},
		{config.Threshold{Percent: 51}, false},
	} {
		cp.MinAvailable = tc.t
		if got := NewPool(cp, usable).Available; got != tc.want {
			t.Errorf("2 of 4 usable, min-available %s: available = %v, want %v", tc.t, got, tc.want)
		}
	}
}

func TestCollectionAllDedup(t *testing.T) {
	a := pool("a", config.MethodAll, 0, 1, 1)
	b := pool("a2", config.MethodAll, 0, 1, 1, 1) // 192.0.2.1-3: two shared with a
	b.Name = "b"
	pools := map[string]*Pool{"a": NewPool(a, all), "b": NewPool(b, all)}
	c := NewCollection(&config.Collection{MinAvailable: config.DefaultThreshold,
		Members: []config.Member{{Pool: "a", Weight: 1}, {Pool: "b", Weight: 1}}}, lookup(pools), false)
	var buf [16]*Addr
	r := seeded()
	for range 100 {
		got := c.Pick(buf[:0], r)
		if len(got) != 3 {
			t.Fatalf("all over two overlapping pools answered %d addresses, want 3 distinct", len(got))
		}
	}
}

func TestPickAllocs(t *testing.T) {
	pools := map[string]*Pool{
		"a": NewPool(pool("a", config.MethodWeight, 2, 1, 2, 3), all),
		"b": NewPool(pool("b", config.MethodAll, 0, 1, 1), all),
	}
	for _, m := range []config.Method{config.MethodAll, config.MethodWeight, config.MethodSequence} {
		c := NewCollection(&config.Collection{Method: m, MinAvailable: config.DefaultThreshold,
			Members: []config.Member{{Pool: "a", Weight: 1}, {Pool: "b", Weight: 2}}}, lookup(pools), false)
		var buf [16]*Addr
		if n := testing.AllocsPerRun(1000, func() { c.Pick(buf[:0], DefaultRand) }); n != 0 {
			t.Errorf("collection %s: %v allocations per pick, want 0", m, n)
		}
	}
}

func BenchmarkCollectionPick(b *testing.B) {
	pools := map[string]*Pool{
		"a": NewPool(pool("a", config.MethodWeight, 2, 1, 2, 3, 4), all),
		"b": NewPool(pool("b", config.MethodAll, 0, 1, 1, 1), all),
	}
	for _, m := range []config.Method{config.MethodAll, config.MethodWeight, config.MethodSequence} {
		c := NewCollection(&config.Collection{Method: m, MinAvailable: config.DefaultThreshold,
			Members: []config.Member{{Pool: "a", Weight: 1}, {Pool: "b", Weight: 2}}}, lookup(pools), false)
		b.Run(m.String(), func(b *testing.B) {
			b.ReportAllocs()
			var buf [16]*Addr
			for b.Loop() {
				c.Pick(buf[:0], DefaultRand)
			}
		})
	}
}

func TestFastest(t *testing.T) {
	pools := map[string]*Pool{
		"a": NewPool(pool("a", config.MethodAll, 0, 1), all),
		"b": NewPool(pool("b", config.MethodAll, 0, 1), all),
		"c": NewPool(pool("c", config.MethodAll, 0, 1), all),
	}
	c := NewCollection(&config.Collection{MinAvailable: config.DefaultThreshold,
		Members: []config.Member{{Pool: "a", Weight: 1}, {Pool: "b", Weight: 1}, {Pool: "c", Weight: 1}}}, lookup(pools), false)
	lat := map[string]time.Duration{"a": 50 * time.Millisecond, "b": 20 * time.Millisecond, "c": 23 * time.Millisecond}
	byLat := func(p *Pool) (time.Duration, bool) { l, ok := lat[p.Name]; return l, ok }
	names := func(c *Collection) string {
		var s []string
		for _, m := range c.Avail {
			s = append(s, m.Pool.Name)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		pct  int
		tie  time.Duration
		want string
	}{
		{0, 0, "b"},
		{10, 0, "b"},   // 23 > 22
		{20, 0, "b c"}, // 23 <= 24
		{0, 5 * time.Millisecond, "b c"},
		{0, 30 * time.Millisecond, "a b c"},
	} {
		if got := names(c.Fastest(byLat, tc.pct, tc.tie)); got != tc.want {
			t.Errorf("tie %d%% %s: %q, want %q", tc.pct, tc.tie, got, tc.want)
		}
	}
	delete(lat, "b")
	if got := names(c.Fastest(byLat, 0, 0)); got != "c" {
		t.Errorf("unmeasured pools are left out: %q", got)
	}
	if got := names(c.Fastest(func(*Pool) (time.Duration, bool) { return 0, false }, 0, 0)); got != "a b c" {
		t.Errorf("nothing measured: %q, want every available pool", got)
	}
}

// drawShares walks every order in which k distinct indices can be drawn, each
// draw in proportion to weight among those not yet drawn, and returns the
// exact probability that each index is drawn first and that it is drawn at
// all.
func drawShares(weights []int, k int) (first, drawn []float64) {
	first, drawn = make([]float64, len(weights)), make([]float64, len(weights))
	taken := make([]bool, len(weights))
	total := 0
	for _, w := range weights {
		total += w
	}
	var walk func(depth, left int, p float64)
	walk = func(depth, left int, p float64) {
		if depth == k {
			return
		}
		for i, w := range weights {
			if taken[i] {
				continue
			}
			q := p * float64(w) / float64(left)
			if depth == 0 {
				first[i] += q
			}
			drawn[i] += q
			taken[i] = true
			walk(depth+1, left-w, q)
			taken[i] = false
		}
	}
	walk(0, total, 1)
	return first, drawn
}

// within reports whether an observed share of n trials lies within five
// standard errors of the exact probability p, a band a correct draw leaves
// about once in two million checks.
func within(got, p float64, n int) (bool, float64) {
	tol := 5 * math.Sqrt(p*(1-p)/float64(n))
	return math.Abs(got-p) <= tol, tol
}

// TestWeightedDrawShares checks the documented semantics of method weight with
// max-answers above 1: the first address follows the weights exactly, each
// further one is drawn in proportion to weight among those not yet drawn. So
// with weights 98/1/1 and max-answers 2 the light addresses are in about half
// of all answers, not 1%.
func TestWeightedDrawShares(t *testing.T) {
	const n = 200000
	for _, tc := range []struct {
		weights []int
		max     int
	}{
		{[]int{98, 1, 1}, 2},
		{[]int{1, 2, 3, 4}, 2},
		{[]int{50, 20, 15, 10, 4, 1}, 3},
		{[]int{7, 3}, 1},
		{[]int{5, 1, 1}, 3}, // every address in every answer
	} {
		p := NewPool(pool("a", config.MethodWeight, tc.max, tc.weights...), all)
		first, drawn := drawShares(tc.weights, tc.max)
		firstN, drawnN := make([]int, len(tc.weights)), make([]int, len(tc.weights))
		r := seeded()
		var buf [16]*Addr
		for range n {
			got := p.Pick(buf[:0], r)
			if len(got) != tc.max {
				t.Fatalf("weights %v max-answers %d: %d addresses, want %d", tc.weights, tc.max, len(got), tc.max)
			}
			for j, a := range got {
				i := int(a.IP.As4()[3]) - 1
				if j == 0 {
					firstN[i]++
				}
				drawnN[i]++
			}
		}
		for i := range tc.weights {
			for _, c := range []struct {
				what  string
				count int
				exact float64
			}{{"first", firstN[i], first[i]}, {"in the answer", drawnN[i], drawn[i]}} {
				got := float64(c.count) / n
				if ok, tol := within(got, c.exact, n); !ok {
					t.Errorf("weights %v max-answers %d: address %d (weight %d) %s %.5f of the time, want %.5f ± %.5f",
						tc.weights, tc.max, i+1, tc.weights[i], c.what, got, c.exact, tol)
				}
			}
		}
		t.Logf("weights %v max-answers %d: first %.4f (measured %v), in the answer %.4f (measured %v) of %d draws",
			tc.weights, tc.max, first, firstN, drawn, drawnN, n)
	}
}

// TestCollectionWeightDraw checks that method weight between pools draws one
// pool by pool weight (not several, as within a pool), which then answers by
// its own method: an address is in the answer with its pool's share times its
// share within the pool.
func TestCollectionWeightDraw(t *testing.T) {
	const n = 200000
	weights := map[string][]int{"a": {98, 1, 1}, "b": {3, 2, 1}}
	pools := map[string]*Pool{
		"a": NewPool(pool("a", config.MethodWeight, 2, weights["a"]...), all),
		"b": NewPool(pool("b", config.MethodWeight, 2, weights["b"]...), all),
	}
	members := []config.Member{{Pool: "a", Weight: 1}, {Pool: "b", Weight: 3}}
	c := NewCollection(&config.Collection{Method: config.MethodWeight, MinAvailable: config.DefaultThreshold,
		Members: members}, lookup(pools), false)
	exact := map[string]float64{}
	for _, m := range members {
		_, drawn := drawShares(weights[m.Pool], 2)
		for i, d := range drawn {
			exact[pools[m.Pool].Avail[i].IP.String()] = d * float64(m.Weight) / 4
		}
	}
	counts := map[string]int{}
	r := seeded()
	var buf [16]*Addr
	for range n {
		got := c.Pick(buf[:0], r)
		if len(got) != 2 || got[0].Pool != got[1].Pool {
			t.Fatalf("weight between pools answered %d addresses from pools %v: want 2 from one pool", len(got), got)
		}
		for _, a := range got {
			counts[a.IP.String()]++
		}
	}
	for ip, p := range exact {
		got := float64(counts[ip]) / n
		if ok, tol := within(got, p, n); !ok {
			t.Errorf("%s in the answer %.5f of the time, want %.5f ± %.5f", ip, got, p, tol)
		}
	}
}

// lookup finds compiled pools in a map, as the engine finds them in its
// snapshot.
func lookup(m map[string]*Pool) func(string) *Pool {
	return func(name string) *Pool { return m[name] }
}
