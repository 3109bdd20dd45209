package gtm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/metrictest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
)

// Ready stays false until every address has had a first probe, however long
// that probe takes (bounded by its timeout).
func TestReadyAfterFirstRound(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0") // accepts, never speaks TLS: the probe runs to its timeout
	g := newGTM(t, fmt.Sprintf(`
monitor slow {
	protocol tcp
	port %d
	tls
	interval 5s
	timeout 400ms
}
pool a {
	monitor slow
	address 127.0.0.1
}
instance www {
	primary a
}`, port))
	if err := g.OnStartup(); err != nil {
		t.Fatal(err)
	}
	defer g.OnShutdown()
	if g.Ready() {
		t.Fatal("ready before the first probe finished")
	}
	// Until then the unprobed address counts as healthy.
	if m, _ := query(t, g, "www.example.org.", dns.TypeA, false); len(m.Answer) != 1 {
		t.Fatalf("before the first round, answer %v, want the unprobed address", m.Answer)
	}
	testkit.Eventually(t, "ready", 3*time.Second, g.Ready)
	// The probe timed out: the address is down, and says why.
	testkit.Eventually(t, "down event", time.Second, func() bool {
		for _, e := range g.Events() {
			if e.Object == "address a/127.0.0.1" && e.New == "unhealthy" && e.Reason == "timeout after 400ms" {
				return true
			}
		}
		return false
	})
}

func TestEventsAndMetrics(t *testing.T) {
	ln, port := testkit.ListenTCP(t, "127.0.0.1:0")
	g := newGTM(t, fmt.Sprintf(`
monitor check {
	protocol tcp
	port %d
	interval 100ms
	timeout 50ms
	rise 1
	fall 1
}
pool main {
	monitor check
	address 127.0.0.1
}
pool spare {
	address 192.0.2.99
}
instance www {
	primary main
	secondary spare
}`, port))
	if err := g.OnStartup(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "ready", 3*time.Second, g.Ready)
	for range 3 {
		query(t, g, "www.example.org.", dns.TypeA, false)
	}
	if n := metric(t, "answers_total", "www.example.org.", "main"); n != 3 {
		t.Errorf("answers_total for pool main = %v after 3 answers", n)
	}
	ln.Close()
	testkit.Eventually(t, "switch to secondary", 3*time.Second, func() bool { return state(g) == engine.StateSecondary })
	var addrEv, instEv *health.Event
	for _, e := range g.Events() {
		switch {
		case e.Object == "address main/127.0.0.1" && e.New == "unhealthy":
			addrEv = &e
		case e.Object == "instance www.example.org." && e.New == string(engine.StateSecondary):
			instEv = &e
		}
	}
	if addrEv == nil || addrEv.Reason != "tcp: connection refused" || addrEv.Old != "healthy" {
		t.Errorf("address event %+v, want healthy -> unhealthy because tcp: connection refused", addrEv)
	}
	if instEv == nil || instEv.Old != string(engine.StatePrimary) || instEv.Reason != "primary below its availability rule" {
		t.Errorf("instance event %+v, want primary -> secondary with its reason", instEv)
	}

	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "coredns_gtm_") {
			seen[mf.GetName()] = true
		}
	}
	for _, name := range []string{"coredns_gtm_probes_total", "coredns_gtm_probe_duration_seconds", "coredns_gtm_address_up",
		"coredns_gtm_pool_available", "coredns_gtm_collection_available", "coredns_gtm_active_collection", "coredns_gtm_switchovers_total"} {
		if !seen[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(gtmFamilies(mfs)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	// After shutdown with no other configuration live, its series are gone.
	g.OnShutdown()
	mfs, _ = prometheus.DefaultGatherer.Gather()
	for _, mf := range gtmFamilies(mfs) {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == "www.example.org." || l.GetValue() == "main" {
					t.Errorf("series %s %v survived shutdown", mf.GetName(), m.GetLabel())
				}
			}
		}
	}
}

func gtmFamilies(mfs []*dto.MetricFamily) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "coredns_gtm_") {
			out = append(out, mf)
		}
	}
	return out
}

// metric is the value of the series coredns_gtm_NAME with the given label
// values (in the order of the label names); 0 when it has none.
func metric(t *testing.T, name string, values ...string) float64 {
	t.Helper()
	v, _ := metrictest.Value(t, name, values...)
	return v
}
