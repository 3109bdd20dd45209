package engine

import (
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/gtm-project/gtm/config"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Labels come from configuration only (monitor, pool, address, instance
// names and fixed state words), never from clients.
var (
	probesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "probes_total",
		Help: "Counter of health-check probes by monitor and result (success or failure).",
	}, []string{"monitor", "result"})
	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "probe_duration_seconds",
		Help:    "Histogram of the time health-check probes take, by monitor.",
		Buckets: plugin.TimeBuckets,
	}, []string{"monitor"})
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
		Help: "Which answer an instance's rule gives: one series of value 1 labelled with its current state (primary, secondary, fail-open, fallback, nodata, servfail).",
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

var allStates = []string{StatePrimary, StateSecondary, StateFailOpen, StateFallback, StateNoData, StateServFail}

// live holds the configuration of every running engine, so that one that
// stops deletes only the series no running configuration still has.
var (
	seriesMu sync.Mutex
	live     = map[*Engine]bool{}
)

// objectVecs are the vectors whose series belong to configuration objects.
var objectVecs = []interface{ Reset() }{probesTotal, probeDuration, probeLag, probePanics, addressUp, poolAvailable,
	collectionAvailable, activeCollection, switchovers, geoMisses, answersTotal}

// publish records that e's objects have series.
func (e *Engine) publish() {
	seriesMu.Lock()
	live[e] = true
	seriesMu.Unlock()
}

// unpublish deletes the series of e's objects that no other running
// configuration has: those a reload removed, or all at the last shutdown.
func (e *Engine) unpublish() {
	seriesMu.Lock()
	defer seriesMu.Unlock()
	delete(live, e)
	if len(live) == 0 {
		for _, v := range objectVecs {
			v.Reset()
		}
		return
	}
	instances, pools, addrs, monitors := map[string]bool{}, map[string]bool{}, map[[2]string]bool{}, map[string]bool{}
	for o := range live {
		cfg := o.snap.Load().cfg
		for _, in := range cfg.Instances {
			instances[in.Name] = true
		}
		for _, p := range cfg.Pools {
			pools[p.Name] = true
			for _, a := range p.Addresses {
				addrs[[2]string{p.Name, a.Value()}] = true
				if m := monitorOf(p, a); m != "" {
					monitors[m] = true
				}
			}
		}
	}
	mine := e.snap.Load().cfg // with the changes applied since start
	for _, p := range mine.Pools {
		if !pools[p.Name] {
			poolAvailable.DeleteLabelValues(p.Name)
		}
		for _, a := range p.Addresses {
			if !addrs[[2]string{p.Name, a.Value()}] {
				addressUp.DeleteLabelValues(p.Name, a.Value())
			}
			if m := monitorOf(p, a); m != "" && !monitors[m] {
				probesTotal.DeleteLabelValues(m, "success")
				probesTotal.DeleteLabelValues(m, "failure")
				probeDuration.DeleteLabelValues(m)
				probeLag.DeleteLabelValues(m)
				probePanics.DeleteLabelValues(m)
			}
		}
	}
	for _, in := range mine.Instances {
		if instances[in.Name] {
			continue
		}
		for _, r := range in.Rules {
			for _, st := range allStates {
				activeCollection.DeleteLabelValues(in.Name, r.Name(), st)
				switchovers.DeleteLabelValues(in.Name, r.Name(), st)
			}
			collectionAvailable.DeleteLabelValues(in.Name, r.Name(), StatePrimary)
			collectionAvailable.DeleteLabelValues(in.Name, r.Name(), StateSecondary)
		}
		geoMisses.DeleteLabelValues(in.Name)
		answersTotal.DeleteLabelValues(in.Name, "")
		for _, p := range in.PoolNames() {
			answersTotal.DeleteLabelValues(in.Name, p)
		}
	}
}

// monitorOf is the monitor that probes a pool's address, or "".
func monitorOf(p *config.Pool, a *config.Address) string {
	if a.Monitor != "" {
		return a.Monitor
	}
	return p.Monitor
}
