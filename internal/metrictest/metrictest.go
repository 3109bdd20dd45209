// Package metrictest reads gtm's metrics from the default Prometheus
// registry, as a scrape would see them.
package metrictest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Value is the value of the series coredns_gtm_NAME whose label values, in
// the order of their names, are values; 0 when it has no such series, as
// for a counter never incremented. ok says whether the series exists.
func Value(t testing.TB, name string, values ...string) (v float64, ok bool) {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "coredns_gtm_"+name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(values) {
				t.Fatalf("%s has %d labels, asked with %d", name, len(m.GetLabel()), len(values))
			}
			match := true
			for i, l := range m.GetLabel() {
				match = match && l.GetValue() == values[i]
			}
			if !match {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			}
		}
	}
	return 0, false
}
