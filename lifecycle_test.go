package gtm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func newGTMZone(t *testing.T, zone, body string) *GTM {
	t.Helper()
	cfg, _, err := corefile.Parse(caddy.NewTestController("dns", "gtm "+zone+" {\nns ns1."+zone+" 192.0.2.53\n"+body+"\n}"))
	if err != nil {
		t.Fatal(err)
	}
	return New(cfg)
}

func started(t *testing.T, body string) *GTM {
	t.Helper()
	g := newGTM(t, body)
	if err := g.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.OnShutdown() })
	return g
}

func state(g *GTM) engine.State { return g.Engine().State("www.example.org.", "default") }

// instanceEvents are www's events recorded after Seq since (by Seq, not
// by place: the history drops its oldest once full).
func instanceEvents(since uint64) []health.Event {
	var out []health.Event
	for _, e := range engine.EventsSince(since) {
		if strings.HasPrefix(e.Object, "instance www.example.org.") {
			out = append(out, e)
		}
	}
	return out
}

// Item 14: a reload records the switches that really happen, no others, and
// keeps a manual-failback hold whose rule is unchanged.
func TestReloadTellsTheTruth(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	dead := testkit.DeadPort(t)
	g1 := started(t, testkit.FailoverBody(dead, live, ""))
	testkit.Eventually(t, "failover", 3*time.Second, func() bool { return state(g1) == engine.StateSecondary })
	toSecondary := metric(t, "switchovers_total", "www.example.org.", "default", string(engine.StateSecondary))
	toPrimary := metric(t, "switchovers_total", "www.example.org.", "default", string(engine.StatePrimary))
	var n uint64
	if evs := g1.Events(); len(evs) > 0 {
		n = evs[len(evs)-1].Seq
	}

	// A reload that adds an unrelated instance: no answer changes, so
	// nothing is recorded.
	g2 := started(t, testkit.FailoverBody(dead, live, "instance other {\n primary b\n}"))
	g1.OnShutdown()
	if st := state(g2); st != engine.StateSecondary {
		t.Fatalf("after a reload that did not touch www it answers from %s", st)
	}
	time.Sleep(200 * time.Millisecond)
	if ev := instanceEvents(n); len(ev) != 0 {
		t.Errorf("a reload that changed no answer recorded %v", ev)
	}
	if got := metric(t, "switchovers_total", "www.example.org.", "default", string(engine.StateSecondary)); got != toSecondary {
		t.Errorf("switchovers to secondary went from %v to %v with no switch", toSecondary, got)
	}

	// The primary's address forced up and the hold released: the reload
	// moves the answer back to the primary, and says so once.
	body := strings.Replace(testkit.FailoverBody(dead, live, ""), "address 127.0.0.1", "address 127.0.0.1 mode up", 1)
	g3 := started(t, strings.Replace(body, "failback manual", "failback preemptive", 1))
	g2.OnShutdown()
	if st := state(g3); st != engine.StatePrimary {
		t.Fatalf("with the primary forced up, www answers from %s", st)
	}
	testkit.Eventually(t, "the reload's event", 3*time.Second, func() bool { return len(instanceEvents(n)) > 0 })
	time.Sleep(100 * time.Millisecond) // room for a wrong second event
	ev := instanceEvents(n)
	if len(ev) != 1 || ev[0].Old != string(engine.StateSecondary) || ev[0].New != string(engine.StatePrimary) {
		t.Errorf("the reload back to the primary recorded %v, want one secondary -> primary", ev)
	}
	if got := metric(t, "switchovers_total", "www.example.org.", "default", string(engine.StatePrimary)); got != toPrimary+1 {
		t.Errorf("switchovers to primary went from %v to %v, want one more", toPrimary, got)
	}
}

// Items 11 and 12: a reload that changes only interval, rise or fall keeps
// every verdict, so the node stays ready and a known-dead address is never
// answered again.
func TestReloadKeepsVerdictsAndReadiness(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	dead := testkit.DeadPort(t)
	g1 := started(t, testkit.FailoverBody(dead, live, ""))
	testkit.Eventually(t, "ready", 3*time.Second, g1.Ready)
	testkit.Eventually(t, "failover", 3*time.Second, func() bool { return state(g1) == engine.StateSecondary })
	body := strings.ReplaceAll(testkit.FailoverBody(dead, live, ""), "interval 100ms", "interval 5s")
	body = strings.Replace(body, "rise 1", "rise 3", 1)
	g2 := started(t, body)
	if !g2.Ready() {
		t.Error("not ready right after a reload that kept every verdict")
	}
	if st := state(g2); st != engine.StateSecondary {
		t.Errorf("right after the reload www answers from %s: the dead primary's verdict was lost", st)
	}
	g1.OnShutdown()
	if !g2.Ready() {
		t.Error("not ready once the old configuration stopped")
	}
}

// Item 11: the ready plugin asks one gtm handler; it answers for every gtm
// configuration the process runs.
func TestReadyCoversEveryBlock(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	g1 := started(t, fmt.Sprintf("monitor m {\n protocol tcp\n port %d\n interval 100ms\n timeout 80ms\n}\npool a {\n monitor m\n address 127.0.0.2\n}\ninstance www {\n primary a\n}", live))
	testkit.Eventually(t, "first block ready", 3*time.Second, g1.Ready)
	// A second block whose only probe hangs until its 500ms timeout.
	_, slow := testkit.ListenTCP(t, "127.0.0.3:0")
	g2 := newGTMZone(t, "example.net", fmt.Sprintf("monitor s {\n protocol tcp\n port %d\n tls\n interval 5s\n timeout 500ms\n}\npool a {\n monitor s\n address 127.0.0.3\n}\ninstance www2 {\n primary a\n}", slow))
	if err := g2.OnStartup(); err != nil {
		t.Fatal(err)
	}
	defer g2.OnShutdown()
	if g1.Ready() {
		t.Error("the first block's handler says ready while the second block has no verdict yet")
	}
	testkit.Eventually(t, "both ready", 3*time.Second, func() bool { return g1.Ready() && g2.Ready() })
}

// Item 13: blocks that probe the same target with the same probe share one
// check, whatever their zones and pool names.
func TestOneCheckPerTarget(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	mon := fmt.Sprintf("monitor m {\n protocol tcp\n port %d\n interval 100ms\n timeout 80ms\n}\n", live)
	before := engine.Checks()
	g1 := started(t, mon+"pool a {\n monitor m\n address 127.0.0.2\n}\ninstance www {\n primary a\n}")
	// The same block again (say DNS-over-TLS beside plain DNS) joins the
	// running engine.
	g2 := started(t, mon+"pool a {\n monitor m\n address 127.0.0.2\n}\ninstance www {\n primary a\n}")
	if g1.Engine() != g2.Engine() {
		t.Error("two blocks with the same configuration run two engines")
	}
	// Another zone, another pool name, the same probe.
	g3 := newGTMZone(t, "example.net", strings.Replace(mon, "monitor m", "monitor other", 1)+"pool z {\n monitor other\n address 127.0.0.2\n}\ninstance www {\n primary z\n}")
	if err := g3.OnStartup(); err != nil {
		t.Fatal(err)
	}
	defer g3.OnShutdown()
	if n := engine.Checks() - before; n != 1 {
		t.Errorf("%d checks run for one target probed one way", n)
	}
	if g1.Engine().Check(health.Key{Pool: "a", Address: "127.0.0.2"}) != g3.Engine().Check(health.Key{Pool: "z", Address: "127.0.0.2"}) {
		t.Error("the two configurations do not share the check")
	}
}

// Item 15: an answer that depends on an address whose verdict is not in yet
// carries the degraded TTL, so resolvers do not keep a dead address long.
func TestUnknownHealthDegradedTTL(t *testing.T) {
	g := newGTM(t, "monitor m {\n protocol tcp\n port 9\n}\npool a {\n monitor m\n address 192.0.2.1\n}\npool b {\n address 192.0.2.2\n}\n"+
		"instance www {\n ttl 60\n degraded-ttl 4\n primary a\n}\ninstance plain {\n ttl 60\n primary b\n}")
	m, _ := query(t, g, "www.example.org.", dns.TypeA, false)
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 4 {
		t.Errorf("before the first probe: answer %v, want the address with the degraded TTL 4", m.Answer)
	}
	withHealth(g, health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Healthy})
	if m, _ := query(t, g, "www.example.org.", dns.TypeA, false); len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 60 {
		t.Errorf("once probed healthy: answer %v, want TTL 60", m.Answer)
	}
	// Nothing probed, nothing unknown: the full TTL from the start.
	if m, _ := query(t, g, "plain.example.org.", dns.TypeA, false); len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 60 {
		t.Errorf("unmonitored: answer %v, want TTL 60", m.Answer)
	}
}
