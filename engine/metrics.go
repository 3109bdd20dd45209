package engine

import (
	"strconv"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
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
	geoReloads = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "geoip_reloads_total",
		Help: "Counter of GeoIP database reloads after the file changed, by result (success, or failure: old database kept).",
	}, []string{"result"})
	geoMisses = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "geoip_misses_total",
		Help: "Counter of queries to an instance with geographic rules whose client the GeoIP database does not place (answered by the default rule).",
	}, []string{"instance"})
	eventsDropped = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "gtm", Name: "events_dropped_total",
		Help: "Counter of events not delivered to a subscriber whose buffer was full.",
	})
)

// live holds the configuration of every running engine, so that one that
// stops deletes only the series no running configuration still has.
var (
	seriesMu sync.Mutex
	live     = map[*Engine]bool{}
)

// objectVecs are the vectors whose series belong to configuration objects.
var objectVecs = []interface{ Reset() }{probesTotal, probeDuration, probeLag, probePanics, geoMisses}

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
		probeObs.Lock()
		clear(probeObs.m)
		probeObs.Unlock()
		return
	}
	instances, monitors := map[string]bool{}, map[string]bool{}
	for o := range live {
		cfg := o.snap.Load().cfg
		for _, in := range cfg.Instances {
			instances[in.Name] = true
		}
		for _, p := range cfg.Pools {
			for _, a := range p.Addresses {
				if m := monitorOf(p, a); m != "" {
					monitors[m] = true
				}
			}
		}
	}
	mine := e.snap.Load().cfg // with the changes applied since start
	for _, p := range mine.Pools {
		for _, a := range p.Addresses {
			if m := monitorOf(p, a); m != "" && !monitors[m] {
				probeObs.Lock()
				delete(probeObs.m, m)
				probeObs.Unlock()
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
		geoMisses.DeleteLabelValues(in.Name)
	}
}

// monitorOf is the monitor that probes a pool's address, or "".
func monitorOf(p *config.Pool, a *config.Address) string {
	if a.Monitor != "" {
		return a.Monitor
	}
	return p.Monitor
}

// The state gauges (address_up, pool_available, collection_available,
// active_collection), answers_total and switchovers_total are read from each writing engine's last reported
// snapshot when scraped, rather than kept as series: at 100,000 instances
// keeping 500,000 series cost about 275 MB and a second of CPU at start,
// and they vanish with the configuration that had them.
var (
	addressUpDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "address_up"),
		"Whether an address is up (1) or down (0) by its probes, whatever its mode (1 when not probed or not yet known), by pool and address.",
		[]string{"pool", "address"}, nil)
	addressAnsweredDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "address_answered"),
		"Whether an address may be answered (1) or not (0), from its probes and its mode (mode up: 1, mode down: 0), by pool and address.",
		[]string{"pool", "address"}, nil)
	poolAvailableDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "pool_available"),
		"Whether a pool meets its availability rule (1) or not (0).", []string{"pool"}, nil)
	collectionAvailableDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "collection_available"),
		"Whether an instance's primary or secondary collection meets its availability rule (1) or not (0).",
		[]string{"instance", "rule", "collection"}, nil)
	switchoversDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "switchovers_total"),
		"Counter of changes of an instance's answer state, by instance, rule and the state switched to.",
		[]string{"instance", "rule", "to"}, nil)
	answersTotalDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "answers_total"),
		"Counter of answers with data by instance and pool (pool is empty for all-down fallback addresses).",
		[]string{"instance", "pool"}, nil)
	ruleAnswersDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "rule_answers_total"),
		"Counter of queries an instance's rule decided, by instance, rule and its state then (primary, secondary, all-down).",
		[]string{"instance", "rule", "state"}, nil)
	configInfoDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "config_info"),
		"The configuration a gtm block answers from (value 1): its zones, the SOA serial and the content fingerprint (the same on every node with the same configuration), and the control API store's revision (empty without the API).",
		[]string{"zones", "serial", "fingerprint", "revision"}, nil)
	activeCollectionDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, "gtm", "active_collection"),
		"Which answer an instance's rule gives: one series of value 1 labelled with its current state (primary, secondary, fail-open, fallback, nodata, servfail).",
		[]string{"instance", "rule", "collection"}, nil)
)

type stateCollector struct{}

func init() { prometheus.MustRegister(stateCollector{}) }

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- addressUpDesc
	ch <- addressAnsweredDesc
	ch <- poolAvailableDesc
	ch <- collectionAvailableDesc
	ch <- activeCollectionDesc
	ch <- answersTotalDesc
	ch <- switchoversDesc
	ch <- ruleAnswersDesc
	ch <- configInfoDesc
}

func (stateCollector) Collect(ch chan<- prometheus.Metric) {
	reportMu.Lock()
	defer reportMu.Unlock()
	proc.mu.Lock()
	var writers []*Engine
	for e := range proc.engines {
		if e.writer && e.reported != nil {
			writers = append(writers, e)
		}
	}
	proc.mu.Unlock()
	// Two gtm blocks of other zones may share pool or instance names: the
	// first engine's series stands, as a registry refuses duplicates.
	var seen map[string]bool
	if len(writers) > 1 {
		seen = map[string]bool{}
	}
	first := func(kind byte, labels ...string) bool {
		if seen == nil {
			return true
		}
		k := string(kind) + strings.Join(labels, "\x00")
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	gauge := func(d *prometheus.Desc, v bool, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, b2f(v), labels...)
	}
	for _, e := range writers {
		s := e.reported
		rev := ""
		if n := e.revision.Load(); n != 0 {
			rev = strconv.FormatUint(n-1, 10)
		}
		ch <- prometheus.MustNewConstMetric(configInfoDesc, prometheus.GaugeValue, 1,
			strings.Join(s.cfg.Zones, " "), strconv.FormatUint(uint64(s.serial), 10), s.idx.sum.String(), rev)
		for _, p := range s.cfg.Pools {
			if first('p', p.Name) {
				gauge(poolAvailableDesc, s.poolAvailable(p.Name), p.Name)
			}
			for _, a := range p.Addresses {
				if first('a', p.Name, a.Value()) {
					st := e.Health(health.Key{Pool: p.Name, Address: a.Value()})
					gauge(addressUpDesc, st != health.Unhealthy, p.Name, a.Value())
					gauge(addressAnsweredDesc, health.Usable(s.over.Mode(p.Name, a), st), p.Name, a.Value())
				}
			}
		}
		for _, ci := range s.cfg.Instances {
			in := s.instance(ci.Name)
			if in == nil || !first('i', in.name) {
				continue
			}
			for _, r := range in.rules {
				gauge(collectionAvailableDesc, r.primary.Available, in.name, r.name, string(StatePrimary))
				if r.secondary != nil {
					gauge(collectionAvailableDesc, r.secondary.Available, in.name, r.name, string(StateSecondary))
				}
				gauge(activeCollectionDesc, true, in.name, r.name, string(r.state))
			}
			in.counts.each(func(pool string, n uint64) {
				ch <- prometheus.MustNewConstMetric(answersTotalDesc, prometheus.CounterValue, float64(n), in.name, pool)
			})
			in.counts.eachRule(func(rule, state string, n uint64) {
				ch <- prometheus.MustNewConstMetric(ruleAnswersDesc, prometheus.CounterValue, float64(n), in.name, rule, state)
			})
			in.counts.eachSwitch(func(rule, to string, n uint64) {
				ch <- prometheus.MustNewConstMetric(switchoversDesc, prometheus.CounterValue, float64(n), in.name, rule, to)
			})
		}
	}
}
