// Package netns makes the network namespaces the benchmarks reach endpoints
// in: a namespace behind a veth pair, with a range of the 198.18.0.0/15
// benchmark network routed into it. Each benchmark has its own names (with
// the process id) and its own addresses (below), so that benchmarks can run
// at the same time. It needs root and ip (iproute2).
package netns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Addrs are a namespace's addresses: Link, a /30, numbers the veth pair (the
// host's end its first address, the namespace's the second) and Net is
// routed from the host into the namespace.
type Addrs struct {
	Link netip.Prefix
	Net  netip.Prefix
}

// Each benchmark's addresses, apart so that they can run at once (a route
// or an address on the host side would clash).
var (
	ProbeLag = Addrs{Link: netip.MustParsePrefix("198.18.0.0/30"), Net: netip.MustParsePrefix("198.19.0.0/16")}
	Scale    = Addrs{Link: netip.MustParsePrefix("198.18.0.4/30"), Net: netip.MustParsePrefix("198.18.64.0/18")}
	// Cut: a cluster node run in a namespace, cut off from etcd by nft.
	Cut = Addrs{Link: netip.MustParsePrefix("198.18.0.8/30"), Net: netip.MustParsePrefix("198.18.1.0/24")}
)

// NS is one namespace. Create makes it; Remove deletes it, also when Create
// failed halfway or never ran, so that a signal handler can call it at any
// time.
type NS struct {
	Addrs
	Name string // the namespace's
	Veth string // the host's end of the pair; the namespace's is Peer()

	mu      sync.Mutex
	created bool
	removed bool
}

// New names a namespace for a benchmark: prefix-PID, and a veth pair named
// from short (a few letters: interface names have at most 15 characters).
func New(prefix, short string, a Addrs) *NS {
	return &NS{Addrs: a, Name: fmt.Sprintf("%s-%d", prefix, os.Getpid()), Veth: fmt.Sprintf("%s%d", short, os.Getpid())}
}

// Peer is the namespace's end of the veth pair.
func (n *NS) Peer() string { return n.Veth + "b" }

// Host is the host's address on the pair, which the namespace reaches.
func (n *NS) Host() netip.Addr { return n.Link.Addr().Next() }

// Gateway is the namespace's address on the pair: the host routes Net via it.
func (n *NS) Gateway() netip.Addr { return n.Link.Addr().Next().Next() }

// Missing says what making a namespace (for why: "to create a network
// namespace") with ip and tools needs and lacks, or "".
func Missing(why string, tools ...string) string {
	if os.Geteuid() != 0 {
		return "needs root (" + why + ")"
	}
	for _, t := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(t); err != nil {
			pkg := map[string]string{"ip": "iproute2", "nft": "nftables"}[t]
			return fmt.Sprintf("needs %s (apt-get install %s)", t, pkg)
		}
	}
	return ""
}

// Create makes the namespace, the veth pair between it and the host, their
// addresses and the host's route of Net into it. The namespace's loopback is
// up. After an error, Remove deletes what was made.
func (n *NS) Create() error {
	n.mu.Lock()
	if n.removed {
		n.mu.Unlock()
		return fmt.Errorf("namespace %s: removed", n.Name)
	}
	n.created = true // from the first step on, Remove has something to undo
	n.mu.Unlock()
	host := netip.PrefixFrom(n.Link.Addr().Next(), n.Link.Bits())
	ns := netip.PrefixFrom(n.Gateway(), n.Link.Bits())
	return run([][]string{
		{"ip", "netns", "add", n.Name},
		{"ip", "link", "add", n.Veth, "type", "veth", "peer", "name", n.Peer()},
		{"ip", "link", "set", n.Peer(), "netns", n.Name},
		{"ip", "addr", "add", host.String(), "dev", n.Veth},
		{"ip", "link", "set", n.Veth, "up"},
		{"ip", "-n", n.Name, "link", "set", "lo", "up"},
		{"ip", "-n", n.Name, "addr", "add", ns.String(), "dev", n.Peer()},
		{"ip", "-n", n.Name, "link", "set", n.Peer(), "up"},
		{"ip", "route", "add", n.Net.String(), "via", n.Gateway().String(), "dev", n.Veth},
	})
}

// LocalNet makes all of Net local inside the namespace: a listener on
// 0.0.0.0 there accepts every address of it.
func (n *NS) LocalNet() error {
	return run([][]string{{"ip", "-n", n.Name, "route", "add", "local", n.Net.String(), "dev", "lo"}})
}

// DropNet makes the namespace drop every packet to Net (an nft rule before
// routing): a connect to one of its addresses waits out its timeout.
func (n *NS) DropNet() error {
	return n.Exec("nft", "add table inet blackhole; "+
		"add chain inet blackhole pre { type filter hook prerouting priority -300; policy accept; }; "+
		"add rule inet blackhole pre ip daddr "+n.Net.String()+" drop")
}

// Exec runs a command inside the namespace.
func (n *NS) Exec(cmd ...string) error {
	return run([][]string{append([]string{"ip", "netns", "exec", n.Name}, cmd...)})
}

func run(steps [][]string) error {
	for _, s := range steps {
		if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v: %s", s, err, out)
		}
	}
	return nil
}

// Remove deletes the namespace, and with it the veth pair and the route. It
// is safe to call more than once, and from a signal handler while Create
// runs (a step still running then may leave the veth pair behind, which is
// why the pair is deleted by name first).
func (n *NS) Remove() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.removed || !n.created {
		n.removed = true
		return nil
	}
	n.removed = true
	exec.Command("ip", "link", "del", n.Veth).Run()
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("removing namespace %s: %v: %s", n.Name, err, out)
	}
	return nil
}

// Listen opens a listener on each address inside the namespace, from an OS
// thread that enters it and is never returned to the runtime (it exits with
// its goroutine). A socket stays in the namespace it was made in, so the
// listeners are served from any thread after. On error it returns the
// listeners opened so far.
func (n *NS) Listen(network string, addrs []string) ([]net.Listener, error) {
	type res struct {
		lns []net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		var lns []net.Listener
		f, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{err: fmt.Errorf("setns %s: %w", n.Name, err)}
			return
		}
		for _, a := range addrs {
			ln, err := net.Listen(network, a)
			if err != nil {
				ch <- res{lns, err}
				return
			}
			lns = append(lns, ln)
		}
		ch <- res{lns: lns}
	}()
	r := <-ch
	return r.lns, r.err
}
