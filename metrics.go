package gtm

import (
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Labels come from configuration only (monitor, pool, address, instance
// names and fixed state words), never from clients.
var (
	probesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "probes_total",
		Help: "Counter of health-check probes by monitor, pool and result (success or failure).",
	}, []string{"monitor", "pool", "result"})
	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "probe_duration_seconds",
		Help:    "Histogram of the time health-check probes take, by monitor and pool.",
		Buckets: plugin.TimeBuckets,
	}, []string{"monitor", "pool"})
	probeLag = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "probe_lag_seconds",
		Help:    "Histogram of how late health-check probes start after they fall due, by monitor.",
		Buckets: plugin.TimeBuckets,
	}, []string{"monitor"})
	probePanics = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "probe_panics_total",
		Help: "Counter of probes that panicked (recovered and counted as failures), by monitor.",
	}, []string{"monitor"})
	addressUp = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "address_up",
		Help: "Whether an address may be answered (1) or not (0), from its health and mode, by pool and address.",
	}, []string{"pool", "address"})
	poolAvailable = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "pool_available",
		Help: "Whether a pool meets its availability rule (1) or not (0).",
	}, []string{"pool"})
	collectionAvailable = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "collection_available",
		Help: "Whether an instance's primary or secondary collection meets its availability rule (1) or not (0).",
	}, []string{"instance", "rule", "collection"})
	activeCollection = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "active_collection",
		Help: "Which answer an instance's rule gives: 1 for its current state (primary, secondary, fail-open, fallback, nodata, servfail), 0 for the others.",
	}, []string{"instance", "rule", "collection"})
	switchovers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "switchovers_total",
		Help: "Counter of changes of an instance's answer state, by instance, rule and the state switched to.",
	}, []string{"instance", "rule", "to"})
	geoReloads = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "geoip_reloads_total",
		Help: "Counter of GeoIP database reloads after the file changed, by result (success, or failure: old database kept).",
	}, []string{"result"})
	geoMisses = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "geoip_misses_total",
		Help: "Counter of queries to an instance with geographic rules whose client the GeoIP database does not place (answered by the default rule).",
	}, []string{"instance"})
	answersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "answers_total",
		Help: "Counter of answers with data by instance and pool (pool is empty for all-down fallback addresses).",
	}, []string{"instance", "pool"})
)

var allStates = []string{statePrimary, stateSecondary, stateFailOpen, stateFallback, stateNoData, stateServFail}

// series names every label set one plugin instance publishes, so that a
// reload can delete what the new configuration no longer has.
type series map[*prometheus.MetricVec][][]string

var (
	seriesMu sync.Mutex
	live     = map[*engine]series{}
)

// vecs are the metric vectors whose series belong to configuration objects.
func vec(c prometheus.Collector) *prometheus.MetricVec {
	switch v := c.(type) {
	case *prometheus.CounterVec:
		return v.MetricVec
	case *prometheus.GaugeVec:
		return v.MetricVec
	case *prometheus.HistogramVec:
		return v.MetricVec
	}
	panic("unknown collector")
}

// publish records the label sets e uses.
func (e *engine) publish() {
	s := series{}
	add := func(c prometheus.Collector, labels ...string) { s[vec(c)] = append(s[vec(c)], labels) }
	monitorOf := func(poolMon, addrMon string) string {
		if addrMon != "" {
			return addrMon
		}
		return poolMon
	}
	for _, p := range e.cfg.Pools {
		add(poolAvailable, p.Name)
		for _, a := range p.Addresses {
			add(addressUp, p.Name, a.Value())
			if m := monitorOf(p.Monitor, a.Monitor); m != "" {
				add(probesTotal, m, p.Name, "success")
				add(probesTotal, m, p.Name, "failure")
				add(probeDuration, m, p.Name)
				add(probePanics, m)
				add(probeLag, m)
			}
		}
	}
	for _, in := range e.cfg.Instances {
		for _, r := range in.Rules {
			for _, c := range []string{statePrimary, stateSecondary} {
				add(collectionAvailable, in.Name, r.Name(), c)
			}
			for _, st := range allStates {
				add(activeCollection, in.Name, r.Name(), st)
				add(switchovers, in.Name, r.Name(), st)
			}
		}
		add(answersTotal, in.Name, "")
		add(geoMisses, in.Name)
		for _, p := range in.PoolNames() {
			add(answersTotal, in.Name, p)
		}
	}
	seriesMu.Lock()
	live[e] = s
	seriesMu.Unlock()
}

// unpublish deletes e's series that no other live instance uses.
func (e *engine) unpublish() {
	seriesMu.Lock()
	defer seriesMu.Unlock()
	mine := live[e]
	delete(live, e)
	keep := map[*prometheus.MetricVec]map[string]bool{}
	for _, s := range live {
		for v, sets := range s {
			if keep[v] == nil {
				keep[v] = map[string]bool{}
			}
			for _, l := range sets {
				keep[v][key(l)] = true
			}
		}
	}
	for v, sets := range mine {
		for _, l := range sets {
			if !keep[v][key(l)] {
				v.DeleteLabelValues(l...)
			}
		}
	}
}

func key(labels []string) string {
	k := ""
	for _, l := range labels {
		k += l + "\x00"
	}
	return k
}

// replyErrors has no labels: what failed is in the (rate-limited) log.
var replyErrors = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: plugin.Namespace, Subsystem: "gtm", Name: "reply_errors_total",
	Help: "Counter of replies that could not be packed or written; each is answered with SERVFAIL where the connection allows.",
})
