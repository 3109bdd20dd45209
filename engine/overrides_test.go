package engine

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/metrictest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

const overrideBody = `
pool a {
	address 192.0.2.1 192.0.2.2
}
pool b {
	address 198.51.100.1
}
instance www {
	ttl 60
	degraded-ttl 5
	primary a
	secondary b
}
instance plain {
	primary b
}
`

// An operator forces an address down and back, pins an instance to its
// secondary and back: answers follow at once, explain says so, and what the
// change does not touch is not compiled again.
func TestOverrides(t *testing.T) {
	e := started(t, "explain\n"+overrideBody)
	www := "www.example.org."
	plain := e.snap.Load().instance("plain.example.org.")
	down := health.Key{Pool: "a", Address: "192.0.2.1"}

	if err := e.Apply(Change{Modes: map[health.Key]config.Mode{down: config.ModeDown}}); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Values(query(t, e, www, dns.TypeA)); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("with 192.0.2.1 forced down, www answers %v", got)
	}
	if e.snap.Load().instance("plain.example.org.") != plain {
		t.Error("an instance the override does not touch was compiled again")
	}
	if txt := explainText(t, e, www); !strings.Contains(txt, "address 192.0.2.1: mode down, health unknown (operator override; configured auto)") {
		t.Errorf("explain does not show the override:\n%s", txt)
	}
	if got := e.snap.Load().over.Modes(); len(got) != 1 || got[down] != config.ModeDown {
		t.Errorf("overrides %v", got)
	}

	// Pinned to the secondary: answered from b, with the full TTL (an
	// operator's choice is not a degradation).
	if err := e.Apply(Change{Pins: map[string]config.Switch{www: config.SwitchSecondary}}); err != nil {
		t.Fatal(err)
	}
	m := query(t, e, www, dns.TypeA)
	if got := testkit.Values(m); !slices.Equal(got, []string{"198.51.100.1"}) || m.Answer[0].Header().Ttl != 60 {
		t.Errorf("pinned to secondary, www answers %v (ttl %d)", got, m.Answer[0].Header().Ttl)
	}
	if s := e.State(www, "default"); s != StateSecondary {
		t.Errorf("state %q when pinned to the secondary", s)
	}
	if txt := explainText(t, e, www); !strings.Contains(txt, "state secondary: pinned to secondary\nswitch secondary: the instance is pinned by an operator (instead of auto)\n") {
		t.Errorf("explain does not say whose pin it is:\n%s", txt)
	}

	// Back to what the configuration says: both overrides go.
	if err := e.Apply(Change{Modes: map[health.Key]config.Mode{down: config.ModeAuto}, Pins: map[string]config.Switch{www: config.SwitchAuto}}); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Values(query(t, e, www, dns.TypeA)); len(got) != 2 {
		t.Errorf("after the overrides went, www answers %v", got)
	}
	if o := e.snap.Load().over; len(o.Modes()) != 0 || len(o.Pins()) != 0 {
		t.Errorf("overrides left: %v %v", o.Modes(), o.Pins())
	}
	var applied []string
	for _, ev := range Events() {
		if ev.New == "applied" {
			applied = append(applied, ev.Object)
		}
	}
	if !slices.Contains(applied, "addresses a/192.0.2.1 mode down") || !slices.Contains(applied, "instances www.example.org. switch secondary") {
		t.Errorf("events of the changes: %q", applied)
	}
}

// A change that breaks a rule is refused whole, with the rule, and nothing
// changes: not even the valid parts of it.
func TestOverridesRefused(t *testing.T) {
	e := started(t, overrideBody+"instance solo {\n primary a\n failback manual\n}")
	before := e.snap.Load()
	for _, tc := range []struct {
		change Change
		err    string
	}{
		{Change{Modes: map[health.Key]config.Mode{{Pool: "nope", Address: "192.0.2.1"}: config.ModeDown}}, "mode of nope/192.0.2.1: there is no pool 'nope'"},
		{Change{Modes: map[health.Key]config.Mode{{Pool: "a", Address: "192.0.2.9"}: config.ModeDown}}, "mode of a/192.0.2.9: pool 'a' has no address 192.0.2.9"},
		{Change{Pins: map[string]config.Switch{"nope.example.org.": config.SwitchPrimary}}, "pin of 'nope.example.org.': there is no such instance"},
		{Change{Pins: map[string]config.Switch{"solo.example.org.": config.SwitchSecondary}}, "pin of 'solo.example.org.' to its secondary: rule 'default' has no secondary collection"},
		{Change{Release: []string{"www.example.org."}}, "release of 'www.example.org.': the instance fails back by itself"},
		// The valid pin does not go in with the bad mode.
		{Change{Pins: map[string]config.Switch{"www.example.org.": config.SwitchSecondary},
			Modes: map[health.Key]config.Mode{{Pool: "b", Address: "192.0.2.1"}: config.ModeUp}}, "pool 'b' has no address 192.0.2.1"},
	} {
		err := e.Apply(tc.change)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", tc.change.describe(), err, tc.err)
		}
		if e.snap.Load() != before {
			t.Fatalf("%s: a refused change replaced the snapshot", tc.change.describe())
		}
	}
}

// A manual-failback hold keeps the instance on its secondary after the
// primary recovers, until an operator releases it.
func TestReleaseManualFailback(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	dead := testkit.DeadPort(t)
	e := started(t, testkit.FailoverBody(dead, live, ""))
	www := "www.example.org."
	testkit.Eventually(t, "failover", 3*time.Second, func() bool { return e.State(www, "default") == StateSecondary })
	// The primary comes back: the hold keeps the secondary.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", dead))
	if err != nil {
		t.Skipf("the primary's port was taken meanwhile: %v", err)
	}
	defer ln.Close()
	testkit.Eventually(t, "primary healthy", 3*time.Second, func() bool {
		return e.Health(health.Key{Pool: "a", Address: "127.0.0.1"}) == health.Healthy
	})
	time.Sleep(150 * time.Millisecond) // a compile after the verdict
	if s := e.State(www, "default"); s != StateSecondary {
		t.Fatalf("manual failback: state %q once the primary is back, want it held on the secondary", s)
	}
	if err := e.Apply(Change{Release: []string{www}}); err != nil {
		t.Fatal(err)
	}
	if s := e.State(www, "default"); s != StatePrimary {
		t.Fatalf("after the release, state %q", s)
	}
	if got := testkit.Values(query(t, e, www, dns.TypeA)); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("after the release www answers %v", got)
	}
}

func explainText(t *testing.T, e *Engine, name string) string {
	t.Helper()
	r := new(dns.Msg)
	r.SetQuestion(explainLabel+name, dns.TypeTXT)
	m, _ := e.Answer(Query{Req: r, Name: explainLabel + name, Type: dns.TypeTXT, Zone: "example.org.", TCP: true,
		Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
	var lines []string
	for _, rr := range m.Answer {
		lines = append(lines, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return strings.Join(lines, "\n")
}

// Issue 15 item 3: every string of a full explain answer is printable
// ASCII within the TXT limit; sub-millisecond times are written "us", and
// one rule is "1 rule".
func TestExplainIsASCII(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	e := started(t, "explain\nmonitor m {\n protocol tcp\n port "+itoa(live)+"\n interval 100ms\n timeout 80ms\n}\n"+
		"pool a {\n monitor m\n address 127.0.0.2\n}\npool b {\n address 192.0.2.9\n}\n"+
		"instance www {\n policy latency\n primary a b\n}")
	testkit.Eventually(t, "a latency measured", 3*time.Second, func() bool {
		return strings.Contains(explainText(t, e, "www.example.org."), "latency ")
	})
	time.Sleep(150 * time.Millisecond) // a compile with the latency in
	r := new(dns.Msg)
	r.SetQuestion(explainLabel+"www.example.org.", dns.TypeTXT)
	m, _ := e.Answer(Query{Req: r, Name: explainLabel + "www.example.org.", Type: dns.TypeTXT, Zone: "example.org.", TCP: true,
		Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
	var all []string
	for _, rr := range m.Answer {
		for _, s := range rr.(*dns.TXT).Txt {
			if len(s) > 255 {
				t.Errorf("a TXT string of %d bytes", len(s))
			}
			for i := 0; i < len(s); i++ {
				if s[i] < 0x20 || s[i] > 0x7e {
					t.Errorf("byte %#x at %d is not printable ASCII: %q", s[i], i, s)
					break
				}
			}
			all = append(all, s)
		}
	}
	text := strings.Join(all, "\n")
	if !strings.Contains(text, "policy latency, 1 rule\n") {
		t.Errorf("the rule count:\n%s", text)
	}
	if !regexp.MustCompile(`last probe passed in [0-9.]+(us|ms|s), `).MatchString(text) {
		t.Errorf("no probe time written in ASCII units:\n%s", text)
	}
	if got := printable("pool caf\u00e9\t1"); got != `pool caf\u00e9\u00091` {
		t.Errorf("printable = %q", got)
	}
}

// Issue 15 item 1: with no collection available, fail-open answers what is
// still usable, below the availability rule, and every address not forced
// down only when nothing is usable; explain says which.
func TestFailOpenAnswersUsableFirst(t *testing.T) {
	e := newEngine(t, "explain\npool p {\n address 192.0.2.1 192.0.2.2 192.0.2.3\n min-available 2\n}\n"+
		"pool s {\n address 198.51.100.1 198.51.100.2\n min-available 2\n}\n"+
		"instance www {\n ttl 60\n degraded-ttl 5\n primary p\n secondary s\n}\n"+
		"pool q {\n address 192.0.2.11 192.0.2.12\n address 192.0.2.13 mode down\n}\ninstance pinned {\n switch primary\n primary q\n}")
	down := func(keys ...string) health.Static {
		v := health.Static{}
		for _, k := range keys {
			pool, addr, _ := strings.Cut(k, "/")
			v[health.Key{Pool: pool, Address: addr}] = health.Unhealthy
		}
		return v
	}
	www, pinned := "www.example.org.", "pinned.example.org."
	answer := func(name string) ([]string, uint32) {
		m := query(t, e, name, dns.TypeA)
		got := testkit.Values(m)
		slices.Sort(got)
		ttl := uint32(0)
		if len(m.Answer) > 0 {
			ttl = m.Answer[0].Header().Ttl
		}
		return got, ttl
	}

	// Two of p's three down, s below its rule too: p's healthy address.
	e.UseHealth(down("p/192.0.2.1", "p/192.0.2.2", "s/198.51.100.1"))
	if got, ttl := answer(www); !slices.Equal(got, []string{"192.0.2.3"}) || ttl != 5 {
		t.Errorf("fail-open with one usable primary address answers %v ttl %d", got, ttl)
	}
	if txt := explainText(t, e, www); !strings.Contains(txt, "fail-open: the usable addresses of the primary collection") {
		t.Errorf("explain:\n%s", txt)
	}
	// All of p down: the secondary's usable address, not p's dead ones.
	e.UseHealth(down("p/192.0.2.1", "p/192.0.2.2", "p/192.0.2.3", "s/198.51.100.1"))
	if got, _ := answer(www); !slices.Equal(got, []string{"198.51.100.2"}) {
		t.Errorf("fail-open with only a secondary address usable answers %v", got)
	}
	// Nothing usable anywhere: every address of the primary.
	e.UseHealth(down("p/192.0.2.1", "p/192.0.2.2", "p/192.0.2.3", "s/198.51.100.1", "s/198.51.100.2"))
	if got, _ := answer(www); len(got) != 3 {
		t.Errorf("fail-open with nothing usable answers %v, want p's three", got)
	}
	if txt := explainText(t, e, www); !strings.Contains(txt, "no address usable; fail-open: every address of the primary collection not in mode down") {
		t.Errorf("explain:\n%s", txt)
	}
	// Pinned, nothing usable: every address not in mode down.
	e.UseHealth(down("q/192.0.2.11", "q/192.0.2.12"))
	if got, _ := answer(pinned); !slices.Equal(got, []string{"192.0.2.11", "192.0.2.12"}) {
		t.Errorf("a pinned instance with nothing usable answers %v", got)
	}
}

// Issue 15 item 2: a forced-up address whose probes fail is still
// answered, but with the degraded TTL, its failure is an event that says
// it is still answered, and address_up shows the probes' verdict while
// address_answered shows that it is answered. The same for mode down.
func TestForcedUpShowsItsFailure(t *testing.T) {
	dead := testkit.DeadPort(t)
	e := started(t, "monitor m {\n protocol tcp\n port "+itoa(dead)+"\n interval 100ms\n timeout 80ms\n fall 1\n}\n"+
		"pool a {\n monitor m\n address 127.0.0.1 mode up\n address 127.0.0.3 mode down\n}\n"+
		"instance www {\n ttl 60\n degraded-ttl 5\n primary a\n}")
	www := "www.example.org."
	testkit.Eventually(t, "the forced-up address's failure", 3*time.Second, func() bool {
		return e.Health(health.Key{Pool: "a", Address: "127.0.0.1"}) == health.Unhealthy &&
			e.Health(health.Key{Pool: "a", Address: "127.0.0.3"}) == health.Unhealthy
	})
	time.Sleep(150 * time.Millisecond) // the compile after the verdicts
	m := query(t, e, www, dns.TypeA)
	if got := testkit.Values(m); !slices.Equal(got, []string{"127.0.0.1"}) || m.Answer[0].Header().Ttl != 5 {
		t.Errorf("a failing forced-up address: answered %v ttl %d, want it with the degraded TTL", got, m.Answer[0].Header().Ttl)
	}
	var up, down bool
	for _, ev := range Events() {
		up = up || ev.Object == "address a/127.0.0.1" && ev.New == "unhealthy" && strings.HasSuffix(ev.Reason, "; mode up: still answered")
		down = down || ev.Object == "address a/127.0.0.3" && ev.New == "unhealthy" && strings.HasSuffix(ev.Reason, "; mode down: not answered")
	}
	if !up || !down {
		t.Errorf("events of the forced addresses' failures: mode up %v, mode down %v", up, down)
	}
	for _, tc := range []struct {
		addr         string
		up, answered float64
	}{{"127.0.0.1", 0, 1}, {"127.0.0.3", 0, 0}} {
		u, _ := metrictest.Value(t, "address_up", tc.addr, "a")
		a, _ := metrictest.Value(t, "address_answered", tc.addr, "a")
		if u != tc.up || a != tc.answered {
			t.Errorf("%s: address_up %v (want %v), address_answered %v (want %v)", tc.addr, u, tc.up, a, tc.answered)
		}
	}
}

// Overrides that no longer fit the configuration go with it, whether a
// whole configuration is applied or a reload replaces the engine: a pin
// to a secondary the instance no longer has would answer SERVFAIL for a
// healthy instance, and a mode would come back with an address added
// again.
func TestOverridesThatNoLongerFit(t *testing.T) {
	const both = "pool a {\n address 192.0.2.1 192.0.2.2\n}\npool b {\n address 198.51.100.1\n}\n" +
		"instance www {\n all-down servfail\n primary a\n secondary b\n}"
	const noSecondary = "pool a {\n address 192.0.2.1\n}\ninstance www {\n all-down servfail\n primary a\n}"
	www := "www.example.org."
	e := started(t, both)
	if err := e.Apply(Change{Pins: map[string]config.Switch{www: config.SwitchSecondary},
		Modes: map[health.Key]config.Mode{{Pool: "a", Address: "192.0.2.2"}: config.ModeDown}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(Change{Config: parseConfig(t, noSecondary)}); err != nil {
		t.Fatal(err)
	}
	if m := query(t, e, www, dns.TypeA); m.Rcode != dns.RcodeSuccess || !slices.Equal(testkit.Values(m), []string{"192.0.2.1"}) {
		t.Errorf("after the secondary went, www answers %s %v", dns.RcodeToString[m.Rcode], testkit.Values(m))
	}
	if err := e.Apply(Change{Config: parseConfig(t, both)}); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Values(query(t, e, www, dns.TypeA)); len(got) != 2 {
		t.Errorf("192.0.2.2 came back with its old mode: www answers %v", got)
	}

	// Across a reload: the new engine takes the overrides that still fit.
	if err := e.Apply(Change{Pins: map[string]config.Switch{www: config.SwitchSecondary}}); err != nil {
		t.Fatal(err)
	}
	next := Start(newEngine(t, noSecondary))
	defer next.Stop()
	if m := query(t, next, www, dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("after a reload without the secondary, www answers %s %v", dns.RcodeToString[m.Rcode], testkit.Values(m))
	}
}

// A whole configuration is held to what the running GeoIP database can
// do, as at load: subdivision rules need a City database.
func TestApplyConfigChecksTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	geotest.Write(t, path, "GeoIP2-Country", geotest.Fixture)
	e := newEngine(t, "geoip "+path+"\npool a {\n address 192.0.2.1\n}\ninstance www {\n rule country DE {\n  primary a\n }\n rule default {\n  primary a\n }\n}")
	if err := e.LoadGeo(); err != nil {
		t.Fatal(err)
	}
	Start(e)
	defer e.Stop()
	next := parseConfig(t, "geoip "+path+"\npool a {\n address 192.0.2.1\n}\ninstance www {\n rule subdivision DE-BY {\n  primary a\n }\n rule default {\n  primary a\n }\n}")
	if err := e.Apply(Change{Config: next}); err == nil || !strings.Contains(err.Error(), "subdivision rules need a City database") {
		t.Errorf("subdivision rules over a Country database: %v", err)
	}
}

// rulePinBody is an instance of two rules over two probed pools (a on
// 127.0.0.2, b on 127.0.0.3): clients in 10.0.0.0/8 get the CIDR rule,
// everyone else the default one. solo's CIDR rule has no secondary.
func rulePinBody(t *testing.T) string {
	_, pa := testkit.ListenTCP(t, "127.0.0.2:0")
	_, pb := testkit.ListenTCP(t, "127.0.0.3:0")
	return "explain 127.0.0.0/8 10.0.0.0/8\n" +
		"monitor ma {\n protocol tcp\n port " + itoa(pa) + "\n interval 100ms\n timeout 80ms\n}\n" +
		"monitor mb {\n protocol tcp\n port " + itoa(pb) + "\n interval 100ms\n timeout 80ms\n}\n" +
		"pool a {\n monitor ma\n address 127.0.0.2\n}\npool b {\n monitor mb\n address 127.0.0.3\n}\n" +
		"instance www {\n ttl 60\n degraded-ttl 5\n rule cidr 10.0.0.0/8 {\n  primary a\n  secondary b\n }\n rule default {\n  primary a\n  secondary b\n }\n}\n" +
		"instance solo {\n rule cidr 10.0.0.0/8 {\n  primary a\n }\n rule default {\n  primary a\n  secondary b\n }\n}\n"
}

// queryFrom is query from another source address.
func queryFrom(t testing.TB, e *Engine, name string, src string) *dns.Msg {
	t.Helper()
	r := new(dns.Msg)
	r.SetQuestion(name, dns.TypeA)
	m, out := e.Answer(Query{Req: r, Name: name, Type: dns.TypeA, Zone: "example.org.",
		Remote: &net.UDPAddr{IP: net.ParseIP(src), Port: 53}})
	if out != Reply {
		t.Fatalf("%s from %s: the engine passed the query on", name, src)
	}
	return m
}

// An operator pins one rule of a two-rule instance to its secondary: only
// that rule's clients move, with the full TTL, explain says whose pin it
// is, and the pin outranks its instance's.
func TestRulePins(t *testing.T) {
	e := started(t, rulePinBody(t))
	www, cidr := "www.example.org.", RuleKey{"www.example.org.", "cidr 10.0.0.0/8"}
	testkit.Eventually(t, "both pools healthy", 3*time.Second, func() bool {
		return e.Health(health.Key{Pool: "a", Address: "127.0.0.2"}) == health.Healthy &&
			e.Health(health.Key{Pool: "b", Address: "127.0.0.3"}) == health.Healthy
	})
	testkit.Eventually(t, "answers from the healthy primary", 3*time.Second, func() bool {
		m := queryFrom(t, e, www, "10.1.2.3")
		return len(m.Answer) == 1 && m.Answer[0].Header().Ttl == 60
	})
	answer := func(src string) (string, uint32) {
		m := queryFrom(t, e, www, src)
		if len(m.Answer) != 1 {
			t.Fatalf("from %s: %v", src, testkit.Values(m))
		}
		return testkit.Values(m)[0], m.Answer[0].Header().Ttl
	}
	if got, _ := answer("10.1.2.3"); got != "127.0.0.2" {
		t.Fatalf("before any pin, the CIDR rule answers %s", got)
	}

	if err := e.Apply(Change{RulePins: map[RuleKey]config.Switch{cidr: config.SwitchSecondary}}); err != nil {
		t.Fatal(err)
	}
	if got, ttl := answer("10.1.2.3"); got != "127.0.0.3" || ttl != 60 {
		t.Errorf("pinned to its secondary, the CIDR rule answers %s ttl %d, want 127.0.0.3 ttl 60", got, ttl)
	}
	if got, ttl := answer("127.0.0.1"); got != "127.0.0.2" || ttl != 60 {
		t.Errorf("the default rule, not pinned, answers %s ttl %d, want 127.0.0.2 ttl 60", got, ttl)
	}
	if s, d := e.State(www, cidr.Rule), e.State(www, "default"); s != StateSecondary || d != StatePrimary {
		t.Errorf("states %q and %q, want secondary for the pinned rule and primary for the other", s, d)
	}
	if got := e.snap.Load().over.RulePins(); len(got) != 1 || got[cidr] != config.SwitchSecondary {
		t.Errorf("rule pins %v", got)
	}
	// Over DNS, from a client of the rule and from one of the other.
	r := new(dns.Msg)
	r.SetQuestion(explainLabel+www, dns.TypeTXT)
	m, _ := e.Answer(Query{Req: r, Name: explainLabel + www, Type: dns.TypeTXT, Zone: "example.org.", TCP: true,
		Remote: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 53}})
	var txt []string
	for _, rr := range m.Answer {
		txt = append(txt, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	if all := strings.Join(txt, "\n"); !strings.Contains(all, "rule cidr 10.0.0.0/8\nstate secondary: pinned to secondary\nswitch secondary: the rule is pinned by an operator (instead of auto)\nttl 60,") {
		t.Errorf("explain for the pinned rule:\n%s", all)
	}
	if txt := explainText(t, e, www); strings.Contains(txt, "pinned") {
		t.Errorf("explain for the rule not pinned speaks of a pin:\n%s", txt)
	}

	// The instance pinned to its secondary: the rule pinned to auto keeps
	// its own way, the other follows the instance.
	if err := e.Apply(Change{Pins: map[string]config.Switch{www: config.SwitchSecondary},
		RulePins: map[RuleKey]config.Switch{cidr: config.SwitchAuto}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := answer("10.1.2.3"); got != "127.0.0.2" {
		t.Errorf("a rule pinned to auto under an instance pinned to its secondary answers %s", got)
	}
	if got, _ := answer("127.0.0.1"); got != "127.0.0.3" {
		t.Errorf("the other rule of an instance pinned to its secondary answers %s", got)
	}
	x, err := e.Explain(www, netip.MustParsePrefix("10.9.9.9/32"))
	if err != nil {
		t.Fatal(err)
	}
	if x.Pin == nil || *x.Pin != (Pin{Switch: "auto", Scope: "rule", Replaces: "secondary"}) {
		t.Errorf("Explain's pin for the rule pinned under a pinned instance: %+v", x.Pin)
	}
	// Pinning a rule to what its instance answers with drops the pin.
	if err := e.Apply(Change{Pins: map[string]config.Switch{www: config.SwitchAuto},
		RulePins: map[RuleKey]config.Switch{cidr: config.SwitchAuto}}); err != nil {
		t.Fatal(err)
	}
	if o := e.snap.Load().over; len(o.RulePins()) != 0 || len(o.Pins()) != 0 {
		t.Errorf("pins left after pinning to what the configuration says: %v %v", o.Pins(), o.RulePins())
	}
	var applied []string
	for _, ev := range Events() {
		if ev.New == "applied" {
			applied = append(applied, ev.Object)
		}
	}
	if !slices.Contains(applied, "rules cidr 10.0.0.0/8 of www.example.org. switch secondary") {
		t.Errorf("events of the changes: %q", applied)
	}
}

// A rule pin that breaks a rule is refused whole, with the rule, and
// nothing changes: not even the valid parts of the change.
func TestRulePinsRefused(t *testing.T) {
	e := started(t, rulePinBody(t))
	before := e.snap.Load()
	ok := map[RuleKey]config.Switch{{"www.example.org.", "default"}: config.SwitchSecondary}
	for _, tc := range []struct {
		pins map[RuleKey]config.Switch
		err  string
	}{
		{map[RuleKey]config.Switch{{"nope.example.org.", "default"}: config.SwitchPrimary},
			"pin of rule 'default' of 'nope.example.org.': there is no such instance"},
		{map[RuleKey]config.Switch{{"www.example.org.", "country DE"}: config.SwitchPrimary},
			"pin of rule 'country DE' of 'www.example.org.': the instance has no such rule"},
		{map[RuleKey]config.Switch{{"solo.example.org.", "cidr 10.0.0.0/8"}: config.SwitchSecondary},
			"pin of rule 'cidr 10.0.0.0/8' of 'solo.example.org.' to its secondary: the rule has no secondary collection"},
		{map[RuleKey]config.Switch{{"www.example.org.", "default"}: 7}, "unknown switch mode 7"},
		// The valid pin does not go in with the bad one.
		{map[RuleKey]config.Switch{{"www.example.org.", "default"}: config.SwitchSecondary,
			{"solo.example.org.", "cidr 10.0.0.0/8"}: config.SwitchSecondary}, "the rule has no secondary collection"},
	} {
		c := Change{RulePins: tc.pins}
		err := e.Apply(c)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want %q", c.describe(), err, tc.err)
		}
		if e.snap.Load() != before {
			t.Fatalf("%s: a refused change replaced the snapshot", c.describe())
		}
	}
	// The other rule of solo has a secondary: its pin is fine.
	if err := e.Apply(Change{RulePins: map[RuleKey]config.Switch{{"solo.example.org.", "default"}: config.SwitchSecondary}}); err != nil {
		t.Errorf("pinning solo's default rule, which has a secondary: %v", err)
	}
	if err := e.Apply(Change{RulePins: ok}); err != nil {
		t.Fatal(err)
	}
}

// Rule pins that no longer fit a new configuration go with it; those that
// still fit stay, across a whole configuration applied and a reload.
func TestRulePinsThatNoLongerFit(t *testing.T) {
	const both = "pool a {\n address 192.0.2.1\n}\npool b {\n address 198.51.100.1\n}\n" +
		"instance www {\n all-down servfail\n rule cidr 10.0.0.0/8 {\n  primary a\n  secondary b\n }\n rule default {\n  primary a\n  secondary b\n }\n}"
	const noSecondary = "pool a {\n address 192.0.2.1\n}\npool b {\n address 198.51.100.1\n}\n" +
		"instance www {\n all-down servfail\n rule cidr 10.0.0.0/8 {\n  primary a\n }\n rule default {\n  primary a\n  secondary b\n }\n}"
	const renamed = "pool a {\n address 192.0.2.1\n}\npool b {\n address 198.51.100.1\n}\n" +
		"instance www {\n all-down servfail\n rule cidr 10.0.0.0/16 {\n  primary a\n  secondary b\n }\n rule default {\n  primary a\n  secondary b\n }\n}"
	www := "www.example.org."
	cidr, def := RuleKey{www, "cidr 10.0.0.0/8"}, RuleKey{www, "default"}
	e := started(t, both)
	if err := e.Apply(Change{RulePins: map[RuleKey]config.Switch{cidr: config.SwitchSecondary, def: config.SwitchSecondary}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(Change{Config: parseConfig(t, noSecondary)}); err != nil {
		t.Fatal(err)
	}
	if got := e.snap.Load().over.RulePins(); len(got) != 1 || got[def] != config.SwitchSecondary {
		t.Errorf("after the CIDR rule lost its secondary, rule pins %v, want only the default rule's", got)
	}
	if m := queryFrom(t, e, www, "10.1.2.3"); m.Rcode != dns.RcodeSuccess || !slices.Equal(testkit.Values(m), []string{"192.0.2.1"}) {
		t.Errorf("the CIDR rule answers %s %v, want its primary", dns.RcodeToString[m.Rcode], testkit.Values(m))
	}
	if got := testkit.Values(queryFrom(t, e, www, "127.0.0.1")); !slices.Equal(got, []string{"198.51.100.1"}) {
		t.Errorf("the default rule, still pinned, answers %v", got)
	}
	// A reload that renames the CIDR rule: its pin cannot follow, the
	// default rule's does.
	if err := e.Apply(Change{Config: parseConfig(t, both)}); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(Change{RulePins: map[RuleKey]config.Switch{cidr: config.SwitchSecondary}}); err != nil {
		t.Fatal(err)
	}
	next := Start(newEngine(t, renamed))
	defer next.Stop()
	if got := next.snap.Load().over.RulePins(); len(got) != 1 || got[def] != config.SwitchSecondary {
		t.Errorf("after a reload that renamed the CIDR rule, rule pins %v", got)
	}
	if got := testkit.Values(queryFrom(t, next, www, "10.0.2.3")); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("the renamed rule answers %v, want its primary", got)
	}
}
