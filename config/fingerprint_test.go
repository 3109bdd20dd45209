package config

import (
	"net/netip"
	"regexp"
	"testing"
	"time"
)

func sample() *Config {
	m := NewMonitor(Pos{File: "Corefile", Line: 3}, "web")
	m.Protocol, m.Port, m.BodyRegexp = ProtoHTTP, 8080, regexp.MustCompile("ok")
	return &Config{
		Pos:      Pos{File: "Corefile", Line: 1},
		Zones:    []string{"example.org."},
		Monitors: []*Monitor{m},
		Pools: []*Pool{{Pos: Pos{Line: 5}, Name: "a", Type: TypeA, Monitor: "web",
			Addresses: []*Address{{Pos: Pos{Line: 6}, IP: netip.MustParseAddr("192.0.2.1"), Weight: 1}}}},
		ExplainFrom: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}
}

func TestFingerprint(t *testing.T) {
	a, b := sample(), sample()
	// Positions are not content.
	b.Pos.Line, b.Pools[0].Pos.Line, b.Monitors[0].Pos.Line = 40, 44, 42
	b.Warnings = []string{"unused"}
	b.Monitors[0].Props = Props{{"port", Pos{File: "Corefile", Line: 45}}}
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("same settings on other lines give another fingerprint")
	}
	for name, change := range map[string]func(c *Config){
		"address":    func(c *Config) { c.Pools[0].Addresses[0].IP = netip.MustParseAddr("192.0.2.2") },
		"regexp":     func(c *Config) { c.Monitors[0].BodyRegexp = regexp.MustCompile("fine") },
		"explain":    func(c *Config) { c.ExplainFrom[0] = netip.MustParsePrefix("10.0.0.0/8") },
		"interval":   func(c *Config) { c.Monitors[0].Interval = time.Minute },
		"mode":       func(c *Config) { c.Pools[0].Addresses[0].Mode = ModeDown },
		"zone":       func(c *Config) { c.Zones[0] = "example.net." },
		"nil regexp": func(c *Config) { c.Monitors[0].BodyRegexp = nil },
	} {
		c := sample()
		change(c)
		if c.Fingerprint() == a.Fingerprint() {
			t.Errorf("changing the %s keeps the fingerprint", name)
		}
	}
}

func TestProbeID(t *testing.T) {
	a, b := sample().Monitors[0], sample().Monitors[0]
	b.Name, b.Interval, b.Rise, b.Fall = "other", time.Minute, 5, 7
	if a.ProbeID() != b.ProbeID() {
		t.Error("name, interval, rise and fall changed the probe's identity")
	}
	if a.ScheduleID() == b.ScheduleID() {
		t.Error("interval, rise and fall did not change the schedule's identity")
	}
	b.Name = a.Name
	for name, change := range map[string]func(m *Monitor){
		"port":    func(m *Monitor) { m.Port = 9090 },
		"path":    func(m *Monitor) { m.Path = "/health" },
		"timeout": func(m *Monitor) { m.Timeout = time.Second },
		"expect":  func(m *Monitor) { m.Expect = []StatusRange{{200, 200}} },
		"header":  func(m *Monitor) { m.Headers = [][2]string{{"X-A", "1"}} },
	} {
		c := sample().Monitors[0]
		change(c)
		if c.ProbeID() == a.ProbeID() {
			t.Errorf("changing the %s keeps the probe's identity", name)
		}
	}
}

// The sum does not depend on the order of objects, and a change to one part
// updates it to what a whole computation gives.
func TestSumIsOrderFreeAndIncremental(t *testing.T) {
	a := sample()
	a.Pools = append(a.Pools, &Pool{Name: "b", Type: TypeA,
		Addresses: []*Address{{IP: netip.MustParseAddr("192.0.2.9"), Weight: 1}}})
	b := sample()
	b.Pools = append([]*Pool{{Name: "b", Type: TypeA,
		Addresses: []*Address{{IP: netip.MustParseAddr("192.0.2.9"), Weight: 1}}}}, b.Pools...)
	if a.Sum() != b.Sum() {
		t.Error("the order of pools changed the sum")
	}
	old := a.Pools[1]
	changed := *old
	changed.Addresses = append([]*Address{{IP: netip.MustParseAddr("192.0.2.10"), Weight: 1}}, old.Addresses...)
	inc := a.Sum().Sub(PartDigest(old)).Add(PartDigest(&changed))
	a.Pools[1] = &changed
	if inc != a.Sum() {
		t.Error("the sum updated for one pool differs from the whole sum")
	}
	if inc == b.Sum() {
		t.Error("adding an address kept the sum")
	}
}
