package policy

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/gtm-project/gtm/config"
)

// subnets are n client addresses in distinct IPv4 /24s (and a random host
// in each), drawn from a fixed seed.
func subnets(n int) []netip.Addr {
	r := rand.New(rand.NewPCG(7, 13))
	seen := make(map[uint32]bool, n)
	out := make([]netip.Addr, 0, n)
	for len(out) < n {
		net24 := r.Uint32() >> 8
		if seen[net24] {
			continue
		}
		seen[net24] = true
		v := net24<<8 | uint32(r.IntN(256))
		out = append(out, netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return out
}

func firstPick(p *Pool, client netip.Addr) netip.Addr {
	var buf [16]*Addr
	return p.PickFor(buf[:0], nil, client)[0].IP
}

// With ten addresses and one failing, only the clients of the failed one
// move (the issue asks for at most 12% of 100,000 subnets), and a client
// keeps its address across queries, hosts of its /24 and compilations
// (another node with the same configuration).
func TestHashFailureMovesOnlyItsClients(t *testing.T) {
	cfg := pool("a", config.MethodHash, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	up := NewPool(cfg, all)
	failed := cfg.Addresses[3].IP
	down := NewPool(cfg, func(a *config.Address) bool { return a.IP != failed })
	again := NewPool(cfg, all) // another node, or after a reload
	clients := subnets(100000)
	moved, onFailed := 0, 0
	for _, c := range clients {
		before, after := firstPick(up, c), firstPick(down, c)
		if before == failed {
			onFailed++
		}
		if before != after {
			moved++
			if before != failed {
				t.Fatalf("client %s moved from %s to %s, but %s did not fail", c, before, after, before)
			}
		}
		if other := firstPick(again, c); other != before {
			t.Fatalf("client %s got %s from one compilation, %s from another", c, before, other)
		}
		sibling := netip.AddrFrom4([4]byte{c.As4()[0], c.As4()[1], c.As4()[2], c.As4()[3] ^ 0xff})
		if got := firstPick(up, sibling); got != before {
			t.Fatalf("client %s got %s, %s of the same /24 got %s", c, before, sibling, got)
		}
	}
	share := float64(moved) / float64(len(clients))
	t.Logf("one of 10 addresses failed: %d of %d subnets (%.2f%%) changed address, all of them its own clients", moved, len(clients), 100*share)
	if share > 0.12 || moved != onFailed {
		t.Errorf("%.2f%% of subnets moved (%d; the failed address had %d), want at most 12%% and only its clients", 100*share, moved, onFailed)
	}
}

// With weights, each address is the first answer of its share of the
// weights, within 2 percentage points (issue 13), over 100,000 subnets.
func TestHashWeights(t *testing.T) {
	weights := []int{10, 20, 30, 40, 50, 50}
	p := NewPool(pool("a", config.MethodHash, 1, weights...), all)
	counts := map[netip.Addr]int{}
	clients := subnets(100000)
	for _, c := range clients {
		counts[firstPick(p, c)]++
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	// Weighted, too, a failure moves only the failed address's clients.
	cfg := pool("a", config.MethodHash, 1, weights...)
	failed := cfg.Addresses[2].IP
	down := NewPool(cfg, func(a *config.Address) bool { return a.IP != failed })
	for _, c := range clients {
		if before, after := firstPick(p, c), firstPick(down, c); before != after && before != failed {
			t.Fatalf("client %s moved from %s to %s, but only %s failed", c, before, after, failed)
		}
	}
	for i, w := range weights {
		ip := netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		got, want := float64(counts[ip])/float64(len(clients)), float64(w)/float64(total)
		t.Logf("%s weight %d: %.2f%% of subnets, weight share %.2f%%", ip, w, 100*got, 100*want)
		if math.Abs(got-want) > 0.02 {
			t.Errorf("%s answered %.2f%% of subnets, want %.2f%% ± 2", ip, 100*got, 100*want)
		}
	}
}

// The prefix lengths decide who shares an answer: with 16 and 48, clients
// of one /16 (IPv4) or /48 (IPv6) get the same addresses, in the same
// order, with max-answers 3; and other prefixes spread over the addresses.
func TestHashPrefixLengths(t *testing.T) {
	cfg := pool("a", config.MethodHash, 3, 1, 1, 1, 1, 1, 1)
	cfg.HashV4, cfg.HashV6 = 16, 48
	p := NewPool(cfg, all)
	answer := func(c string) [3]netip.Addr {
		var buf [16]*Addr
		got := p.PickFor(buf[:0], nil, netip.MustParseAddr(c))
		if len(got) != 3 || got[0] == got[1] || got[1] == got[2] || got[0] == got[2] {
			t.Fatalf("%s: %d answers, want 3 distinct", c, len(got))
		}
		return [3]netip.Addr{got[0].IP, got[1].IP, got[2].IP}
	}
	for _, pair := range [][2]string{{"10.1.0.1", "10.1.255.254"}, {"2001:db8:1::1", "2001:db8:1:ff00::9"}} {
		if a, b := answer(pair[0]), answer(pair[1]); a != b {
			t.Errorf("%s got %v, %s of the same prefix got %v", pair[0], a, pair[1], b)
		}
	}
	firsts := map[netip.Addr]bool{}
	for i := range 64 {
		firsts[answer(netip.AddrFrom4([4]byte{10, byte(i), 0, 1}).String())[0]] = true
		firsts[answer(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 5: byte(i)}).String())[0]] = true
	}
	if len(firsts) != 6 {
		t.Errorf("128 prefixes came first on %d of 6 addresses", len(firsts))
	}
}

// The hash is of the configuration's bytes alone: a fixed client gets a
// fixed address in every process (a golden value: a change here changes
// every client's address on upgrade, so it must be deliberate).
func TestHashIsStable(t *testing.T) {
	p := NewPool(pool("a", config.MethodHash, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), all)
	got := []netip.Addr{}
	for _, c := range []string{"192.0.2.1", "198.51.100.7", "203.0.113.200", "2001:db8::1"} {
		got = append(got, firstPick(p, netip.MustParseAddr(c)))
	}
	t.Logf("golden: %v", got)
	want := goldenHash
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("hash answers %v, want %v", got, want)
		}
	}
}

func TestHashAllocs(t *testing.T) {
	for _, weights := range [][]int{{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}} {
		p := NewPool(pool("a", config.MethodHash, 2, weights...), all)
		client := netip.MustParseAddr("198.51.100.7")
		var buf [16]*Addr
		if n := testing.AllocsPerRun(1000, func() { p.PickFor(buf[:0], nil, client) }); n != 0 {
			t.Errorf("weights %v: %v allocations per pick, want 0", weights, n)
		}
	}
}

// BenchmarkHashPick is one pick of the hash method over ten addresses,
// IPv4 and IPv6 clients, equal weights and unequal ones.
func BenchmarkHashPick(b *testing.B) {
	for _, tc := range []struct {
		name    string
		weights []int
		client  string
	}{
		{"uniform-v4", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "198.51.100.7"},
		{"uniform-v6", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, "2001:db8:1:2::7"},
		{"weighted-v4", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, "198.51.100.7"},
	} {
		p := NewPool(pool("a", config.MethodHash, 1, tc.weights...), all)
		client := netip.MustParseAddr(tc.client)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf [16]*Addr
			for b.Loop() {
				p.PickFor(buf[:0], nil, client)
			}
		})
	}
}

var goldenHash = []string{"192.0.2.1", "192.0.2.4", "192.0.2.5", "192.0.2.10"}

// Past 64 addresses the picks are scored pass by pass; they are the same
// best scores, best first.
func TestHashManyAddresses(t *testing.T) {
	cfg := &config.Pool{Name: "many", Method: config.MethodHash, MaxAnswers: 3, MinAvailable: config.DefaultThreshold}
	for i := range 70 {
		cfg.Addresses = append(cfg.Addresses, &config.Address{IP: netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), Weight: 1 + i%3})
	}
	p := NewPool(cfg, all)
	for _, c := range subnets(200) {
		var buf [16]*Addr
		got := p.PickFor(buf[:0], nil, c)
		key := hashKey(c, DefaultHashV4, DefaultHashV6)
		for i, a := range got {
			s := a.score(key, false)
			for j := range p.Avail {
				b := &p.Avail[j]
				if b.score(key, false) > s && !slices.Contains(got[:i], b) {
					t.Fatalf("client %s: pick %d is %s, but %s scores higher", c, i, a.IP, b.IP)
				}
			}
		}
		if len(got) != 3 || got[0] == got[1] || got[1] == got[2] || got[0] == got[2] {
			t.Fatalf("client %s: %d picks, want 3 distinct", c, len(got))
		}
	}
}
