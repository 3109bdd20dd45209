package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/metrictest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// Item 10 of the hardening issue: while two configurations of the same zone
// run (a reload), only the newer one writes the series, whatever the older
// one compiles.
func TestOneWriterPerSeries(t *testing.T) {
	_, live := testkit.ListenTCP(t, "127.0.0.2:0")
	dead := testkit.DeadPort(t)
	old := started(t, testkit.FailoverBody(dead, live, ""))
	state := func(e *Engine) State { return e.State("www.example.org.", "default") }
	testkit.Eventually(t, "failover", 3*time.Second, func() bool { return state(old) == StateSecondary })
	// The new configuration forces the dead address up.
	e := Start(newEngine(t, strings.Replace(testkit.FailoverBody(dead, live, ""), "address 127.0.0.1", "address 127.0.0.1 mode up", 1)))
	up := func() float64 { v, _ := metrictest.Value(t, "address_answered", "127.0.0.1", "a"); return v }
	testkit.Eventually(t, "the new configuration's first report", 3*time.Second, func() bool { return up() == 1 })
	for range 5 {
		old.recompile(map[string]bool{"a": true, "b": true}) // what its compile loop does on a verdict
		if v := up(); v != 1 {
			t.Fatalf("the replaced configuration wrote address_answered %v over the new one's 1", v)
		}
	}
	// The new one goes away (its reload failed): the old one writes again.
	e.Stop()
	if v := up(); v != 0 {
		t.Fatalf("after the newer configuration stopped, address_answered is %v, want the running one's 0", v)
	}
}

// answers_total counts survive every recompile of their instance (health,
// an applied change) and are exported with the instance.
func TestAnswerCountsSurviveRecompiles(t *testing.T) {
	e := started(t, "pool a {\n address 192.0.2.1\n}\npool b {\n address 192.0.2.2\n}\ninstance www {\n primary a\n secondary b\n}")
	www := "www.example.org."
	count := func(pool string) float64 { v, _ := metrictest.Value(t, "answers_total", www, pool); return v }
	before := count("a")
	for range 3 {
		query(t, e, www, dns.TypeA)
	}
	if got := count("a"); got != before+3 {
		t.Fatalf("answers_total for a: %v after 3 answers from %v", got, before)
	}
	// Pool a goes down: the secondary answers, counted under b, a keeps its count.
	e.UseHealth(health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Unhealthy})
	query(t, e, www, dns.TypeA)
	if err := e.Apply(Change{Pools: []*config.Pool{poolOf("b", "", "192.0.2.2", "192.0.2.3")}}); err != nil {
		t.Fatal(err)
	}
	query(t, e, www, dns.TypeA)
	if a, b := count("a"), count("b"); a != before+3 || b < 2 {
		t.Errorf("after a failover and a change of b: answers_total a %v (want %v), b %v (want 2 or more)", a, before+3, b)
	}
}
