package engine

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/metrictest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func poolOf(name string, monitor string, ips ...string) *config.Pool {
	p := &config.Pool{Name: name, Monitor: monitor, MinAvailable: config.DefaultThreshold}
	for _, ip := range ips {
		p.Addresses = append(p.Addresses, &config.Address{IP: netip.MustParseAddr(ip), Weight: 1})
	}
	return p
}

// Apply changes pools as one unit: what uses them answers the change at
// once, everything else is untouched, bad changes leave everything as it
// was, and health checks follow the pools.
func TestApplyPools(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	e := started(t, "monitor m {\n protocol tcp\n port "+itoa(live)+"\n interval 100ms\n timeout 80ms\n}\n"+
		"pool a {\n address 192.0.2.1 192.0.2.2\n}\npool b {\n address 198.51.100.1\n}\n"+
		"instance www {\n primary a\n secondary b\n}\ninstance other {\n primary b\n}")
	before := e.snap.Load()
	serial := soaCopy(before.zones["example.org."]).(*dns.SOA).Serial
	checks := Checks()

	// positive: a third address, and a monitor on a new address
	a := poolOf("a", "", "192.0.2.1", "192.0.2.2", "192.0.2.3")
	c := poolOf("c", "m", "127.0.0.2")
	if err := e.Apply(Change{Pools: []*config.Pool{a, c}}); err != nil {
		t.Fatal(err)
	}
	m := query(t, e, "www.example.org.", dns.TypeA)
	if got := strings.Join(testkit.Values(m), " "); len(m.Answer) != 3 || !strings.Contains(got, "192.0.2.3") {
		t.Errorf("after adding an address www answers %v", got)
	}
	after := e.snap.Load()
	if after.instance("other.example.org.") != before.instance("other.example.org.") {
		t.Error("an instance the change does not touch was compiled again")
	}
	newSerial := soaCopy(after.zones["example.org."]).(*dns.SOA).Serial
	if newSerial == serial {
		t.Error("the serial did not change with the configuration")
	}
	if n := Checks(); n != checks+1 {
		t.Errorf("%d checks after adding a monitored address, want %d", n, checks+1)
	}
	// The same configuration compiled whole has the same serial.
	if whole := compile(after.cfg, health.Static{}, nil, false); whole.serial != newSerial {
		t.Errorf("serial %d after the change, %d for the same configuration compiled whole", newSerial, whole.serial)
	}

	// negative: a domain name in a pool an A instance uses (A and AAAA
	// pools mix, in a dual-stack instance; a CNAME mixes with nothing)
	bad := &config.Pool{Name: "a", MinAvailable: config.DefaultThreshold,
		Addresses: []*config.Address{{Domain: "app.example.com.", Weight: 1}}}
	err := e.Apply(Change{Pools: []*config.Pool{bad}})
	if err == nil || !strings.Contains(err.Error(), "CNAME") {
		t.Fatalf("a pool of another type was accepted, or the error does not say why: %v", err)
	}
	if e.snap.Load() != after {
		t.Error("a refused change replaced the snapshot")
	}
	// negative: an unknown monitor
	if err := e.Apply(Change{Pools: []*config.Pool{poolOf("c", "nope", "127.0.0.2")}}); err == nil || !strings.Contains(err.Error(), "unknown monitor 'nope'") {
		t.Fatalf("unknown monitor: %v", err)
	}

	// The monitor taken off again: its check goes.
	if err := e.Apply(Change{Pools: []*config.Pool{poolOf("c", "", "127.0.0.2")}}); err != nil {
		t.Fatal(err)
	}
	if n := Checks(); n != checks {
		t.Errorf("%d checks after the monitor went, want %d", n, checks)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A change to an engine that has not started, or has stopped, is refused
// at once rather than waiting for a compile loop that will never run.
func TestApplyNotRunning(t *testing.T) {
	e := newEngine(t, poolOfText)
	if err := e.Apply(Change{Pools: []*config.Pool{poolOf("a", "", "192.0.2.9")}}); err != errStopped {
		t.Fatalf("before start: %v", err)
	}
	Start(e)
	e.Stop()
	if err := e.Apply(Change{Pools: []*config.Pool{poolOf("a", "", "192.0.2.9")}}); err != errStopped {
		t.Fatalf("after stop: %v", err)
	}
}

const poolOfText = "pool a {\n address 192.0.2.1\n}\ninstance www {\n primary a\n}"

// A whole configuration applied at run time: validated whole, answered at
// once, checks following, counters and unchanged verdicts kept; refused
// whole, with the validator's message, when it breaks a rule or changes
// what belongs to the server block.
func TestApplyWholeConfig(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	mon := "monitor m {\n protocol tcp\n port " + itoa(live) + "\n interval 100ms\n timeout 80ms\n}\n"
	e := started(t, mon+"pool a {\n monitor m\n address 127.0.0.2\n}\ninstance www {\n primary a\n}\ninstance old {\n primary a\n}")
	testkit.Eventually(t, "first verdict", 3*time.Second, func() bool { return Ready() })
	checks := Checks()
	query(t, e, "www.example.org.", dns.TypeA)
	before := e.snap.Load()

	next := parseConfig(t, mon+"pool a {\n monitor m\n address 127.0.0.2\n}\npool b {\n address 192.0.2.7 192.0.2.8\n}\n"+
		"instance www {\n primary a\n}\ninstance new {\n primary b\n}")
	if err := e.Apply(Change{Config: next}); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Values(query(t, e, "new.example.org.", dns.TypeA)); len(got) != 2 {
		t.Errorf("the new instance answers %v", got)
	}
	if m := query(t, e, "old.example.org.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Errorf("the removed instance answers rcode %s", dns.RcodeToString[m.Rcode])
	}
	if Checks() != checks {
		t.Errorf("%d checks after a change that probes the same address, want %d", Checks(), checks)
	}
	if st := e.Health(health.Key{Pool: "a", Address: "127.0.0.2"}); st != health.Healthy {
		t.Errorf("the unchanged probe's verdict was not kept: %s", st)
	}
	if n, _ := metrictest.Value(t, "answers_total", "www.example.org.", "a"); n < 1 {
		t.Errorf("www's answer count was lost: %v", n)
	}
	if e.snap.Load().serial == before.serial {
		t.Error("the serial did not change with the configuration")
	}

	after := e.snap.Load()
	bad := parseConfig(t, "pool a {\n address 192.0.2.1\n}\ninstance www {\n primary a\n}")
	bad.Instances[0].Rules[0].Primary.Members[0].Pool = "nope"
	if err := e.Apply(Change{Config: bad}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("a configuration naming an unknown pool: %v", err)
	}
	other := parseConfig(t, "pool a {\n address 192.0.2.1\n}\ninstance www {\n primary a\n}")
	other.Zones = []string{"example.net."}
	if err := e.Apply(Change{Config: other}); err == nil || !strings.Contains(err.Error(), "server block") {
		t.Errorf("a configuration of other zones: %v", err)
	}
	if e.snap.Load() != after {
		t.Error("a refused configuration replaced the snapshot")
	}
}
