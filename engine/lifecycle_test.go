package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/metrictest"
)

// Item 10 of the hardening issue: while two configurations of the same zone
// run (a reload), only the newer one writes the series, whatever the older
// one compiles.
func TestOneWriterPerSeries(t *testing.T) {
	_, live := listenTCP(t, "127.0.0.2:0")
	dead := deadPort(t)
	old := started(t, failoverBody(dead, live, ""))
	state := func(e *Engine) string { return e.State("www.example.org.", "default") }
	eventually(t, "failover", 3*time.Second, func() bool { return state(old) == StateSecondary })
	// The new configuration forces the dead address up.
	e := Start(newEngine(t, strings.Replace(failoverBody(dead, live, ""), "address 127.0.0.1", "address 127.0.0.1 mode up", 1)))
	up := func() float64 { v, _ := metrictest.Value(t, "address_up", "127.0.0.1", "a"); return v }
	eventually(t, "the new configuration's first report", 3*time.Second, func() bool { return up() == 1 })
	for range 5 {
		old.recompile(map[string]bool{"a": true, "b": true}) // what its compile loop does on a verdict
		if v := up(); v != 1 {
			t.Fatalf("the replaced configuration wrote address_up %v over the new one's 1", v)
		}
	}
	// The new one goes away (its reload failed): the old one writes again.
	e.Stop()
	if v := up(); v != 0 {
		t.Fatalf("after the newer configuration stopped, address_up is %v, want the running one's 0", v)
	}
}
