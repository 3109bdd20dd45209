package gtm

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/prometheus/client_golang/prometheus"
)

var log = clog.NewWithPlugin(pluginName)

// engine is one running gtm configuration: its compiled snapshot, GeoIP
// database, the process's health checks it uses, and the goroutine that
// recompiles when their verdicts change. Server blocks whose gtm blocks say
// the same (plain DNS and DNS-over-TLS for one zone) share one engine, so
// they answer from the same verdicts and report once.
type engine struct {
	key      string // the configuration's fingerprint
	cfg      *config.Config
	snap     atomic.Pointer[snapshot]
	geo      atomic.Pointer[geoDB]
	geoEvery time.Duration // how often the GeoIP file is checked
	counting bool          // set once started: compiled snapshots count answers

	// Set by start, then read-only.
	specs  []health.Spec
	checks map[health.Key]*health.Check
	pred   *engine // the engine this one replaced in a reload while that one runs; under reportMu

	handlers int // GTMs answering from it; under proc.mu

	// writer says this engine owns the metric series and switch events of
	// its objects: during a reload the old and the new engine both run, and
	// only the newest may write. Under reportMu.
	writer   bool
	reported *snapshot // the last snapshot reported; under reportMu

	dirty chan struct{}
	// latencyMoved says a latency average changed since the last compile;
	// latency instances are recompiled for it once a second at most.
	latencyMoved     atomic.Bool
	stop, done       chan struct{}
	geoStop, geoDone chan struct{}
	stopOnce         sync.Once
}

func newEngine(cfg *config.Config) *engine {
	e := &engine{key: cfg.Fingerprint(), cfg: cfg, geoEvery: geoCheckEvery}
	e.snap.Store(compile(cfg, e, nil, false))
	return e
}

// Status implements health.View from the checks the engine uses. Before it
// starts, every address is unknown.
func (e *engine) Status(k health.Key) health.Status {
	if c := e.checks[k]; c != nil {
		return c.Status()
	}
	return health.Unknown
}

// Latency implements health.View.
func (e *engine) Latency(k health.Key) (time.Duration, bool) {
	if c := e.checks[k]; c != nil {
		l := c.Record().Latency
		return l.EWMA, l.Samples > 0
	}
	return 0, false
}

// Get is what is known of an address, and whether it is probed.
func (e *engine) Get(k health.Key) (health.Record, bool) {
	if c := e.checks[k]; c != nil {
		return c.Record(), true
	}
	return health.Record{}, false
}

// ready is true once every address the engine probes has a verdict, first
// probed or carried over a reload.
func (e *engine) ready() bool {
	for _, c := range e.checks {
		if c.Status() == health.Unknown {
			return false
		}
	}
	return true
}

// HealthChanged implements health.Owner.
func (e *engine) HealthChanged(_ *health.Check, verdict bool) {
	if !verdict {
		e.latencyMoved.Store(true)
		return
	}
	select {
	case e.dirty <- struct{}{}:
	default:
	}
}

// specs lists what to probe: every address whose pool or own settings name
// a monitor, including forced-down addresses, so an operator sees their
// health before putting them back.
func specs(cfg *config.Config) []health.Spec {
	monitors := make(map[string]*config.Monitor, len(cfg.Monitors))
	for _, m := range cfg.Monitors {
		monitors[m.Name] = m
	}
	var out []health.Spec
	for _, p := range cfg.Pools {
		for _, a := range p.Addresses {
			name := a.Monitor
			if name == "" {
				name = p.Monitor
			}
			m := monitors[name]
			if m == nil {
				continue
			}
			host := a.Probe
			if host == "" {
				host = strings.TrimSuffix(a.Value(), ".")
			}
			out = append(out, health.Spec{
				Key:     health.Key{Pool: p.Name, Address: a.Value()},
				Host:    host,
				Domain:  strings.TrimSuffix(a.Domain, "."),
				Monitor: m,
			})
		}
	}
	return out
}

// start brings the engine up: series, checks, the first compile and the
// background goroutines. pred is the running engine it replaces, if any.
func (e *engine) start(pred *engine) {
	e.publish()
	e.counting = true
	e.dirty = make(chan struct{}, 1)
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	e.specs = specs(e.cfg)
	checks, carried := proc.health.Acquire(e, e.specs)
	e.checks = checks
	if carried > 0 {
		log.Infof("kept the health of %d probes whose settings changed only in interval, rise or fall", carried)
	}
	var prev *snapshot
	if pred != nil {
		prev = pred.snap.Load()
	}
	e.snap.Store(compile(e.cfg, e, prev, true))
	reportMu.Lock()
	e.pred = pred
	if pred != nil && pred.writer {
		// The reload's story continues from what the old configuration last
		// told: only switches that really happen are recorded.
		pred.writer = false
		e.reported = pred.reported
	}
	e.writer = true
	e.reportLocked()
	reportMu.Unlock()
	go e.compileLoop()
	if e.geo.Load() != nil {
		e.geoStop, e.geoDone = make(chan struct{}), make(chan struct{})
		go e.watchGeo(e.geoEvery, e.geoStop, e.geoDone)
	}
}

// shutdown stops the background work and gives the checks back. If the
// engine wrote the series and the one it replaced still runs (a reload that
// failed after this engine started), the old one writes them again.
func (e *engine) shutdown() {
	e.stopOnce.Do(func() {
		close(e.stop)
		<-e.done
		if e.geoStop != nil {
			close(e.geoStop)
			<-e.geoDone
		}
		proc.health.Release(e, e.specs)
		reportMu.Lock()
		if e.writer {
			e.writer = false
			if p := e.pred; p != nil && running(p) {
				p.writer = true
				p.reportLocked()
			}
		}
		// Successors forget this engine, so that a chain of reloads does
		// not keep every old configuration in memory.
		proc.mu.Lock()
		for o := range proc.engines {
			if o.pred == e {
				o.pred = nil
			}
		}
		proc.mu.Unlock()
		e.pred = nil
		reportMu.Unlock()
		e.unpublish()
	})
}

type probeMetrics struct {
	ok, fail prometheus.Counter
	duration prometheus.Observer
}

// newProbeMetrics resolves a (monitor, pool) label set once, since label
// lookups per probe cost measurable CPU at 10,000 targets.
func newProbeMetrics(monitor, pool string) health.Observer {
	return &probeMetrics{
		ok:       probesTotal.WithLabelValues(monitor, pool, "success"),
		fail:     probesTotal.WithLabelValues(monitor, pool, "failure"),
		duration: probeDuration.WithLabelValues(monitor, pool),
	}
}

func (pm *probeMetrics) Observe(r health.Result) {
	if r.OK {
		pm.ok.Inc()
	} else {
		pm.fail.Inc()
	}
	pm.duration.Observe(r.RTT.Seconds())
}

// probed observes how late a probe started, once per probe however many
// pools share its check.
func probed(c *health.Check, r health.Result) {
	probeLag.WithLabelValues(c.Monitor().Name).Observe(r.Lag.Seconds())
}

// verdict records an address's change of health, once for the process
// however many pools and server blocks share the check.
func verdict(_ *health.Check, keys []health.Key, old, now health.Status, r health.Result) {
	event(health.Event{Time: time.Now(), Object: "address " + health.KeyNames(keys),
		Old: old.String(), New: now.String(), Reason: health.Reason(r)})
}

func panicked(c *health.Check, p any) {
	probePanics.WithLabelValues(c.Monitor().Name).Inc()
	log.Errorf("prober for %s (monitor %s) panicked: %v", c.Host(), c.Monitor().Name, p)
}

// compileLoop builds a new snapshot after health changes. Changes that
// arrive while it compiles are folded into the next build.
func (e *engine) compileLoop() {
	defer close(e.done)
	var tick <-chan time.Time
	if e.hasLatency() {
		t := time.NewTicker(latencyRecompile)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-e.stop:
			return
		case <-e.dirty:
			e.latencyMoved.Store(false)
			e.recompile()
		case <-tick:
			if e.latencyMoved.Swap(false) {
				e.recompile()
			}
		}
	}
}

// latencyRecompile is how often latency instances follow measured latency.
const latencyRecompile = time.Second

func (e *engine) hasLatency() bool {
	for _, in := range e.cfg.Instances {
		if in.Policy == config.PolicyLatency {
			return true
		}
	}
	return false
}

// recompile publishes a snapshot for the current health and reports what
// changed. Only the compile loop (and start, before it runs) calls it.
func (e *engine) recompile() {
	next := compile(e.cfg, e, e.snap.Load(), e.counting)
	e.snap.Store(next)
	reportMu.Lock()
	if e.writer {
		e.reportLocked()
	}
	reportMu.Unlock()
}

// reportMu orders every engine's reports, so that an engine that has lost
// the series to its successor cannot write them after it.
var reportMu sync.Mutex

// reportLocked updates gauges and records a switch event for every rule
// whose answer state changed since the last report. reportMu is held.
func (e *engine) reportLocked() {
	prev, next := e.reported, e.snap.Load()
	e.reported = next
	for _, p := range e.cfg.Pools {
		for _, a := range p.Addresses {
			up := health.Usable(a.Mode, e.Status(health.Key{Pool: p.Name, Address: a.Value()}))
			addressUp.WithLabelValues(p.Name, a.Value()).Set(b2f(up))
		}
		poolAvailable.WithLabelValues(p.Name).Set(b2f(next.poolAvailable(p.Name)))
	}
	for name, in := range next.names {
		var was *instance
		if prev != nil {
			was = prev.names[name]
		}
		for _, r := range in.rules {
			collectionAvailable.WithLabelValues(name, r.name, statePrimary).Set(b2f(r.primary.Available))
			if r.secondary != nil {
				collectionAvailable.WithLabelValues(name, r.name, stateSecondary).Set(b2f(r.secondary.Available))
			}
			for _, st := range allStates {
				activeCollection.WithLabelValues(name, r.name, st).Set(b2f(st == r.state))
			}
			old := was.rule(r.name)
			if old == nil || old.state == r.state {
				continue
			}
			switchovers.WithLabelValues(name, r.name, r.state).Inc()
			object := "instance " + name
			if r.name != config.MatchDefault.String() {
				object += " rule " + r.name
			}
			event(health.Event{Time: time.Now(), Object: object, Old: old.state, New: r.state, Reason: r.why})
		}
	}
}

// rule finds a compiled rule by name; nil for a nil instance.
func (in *instance) rule(name string) *rule {
	if in == nil {
		return nil
	}
	for _, r := range in.rules {
		if r.name == name {
			return r
		}
	}
	return nil
}

func event(e health.Event) {
	proc.events.Add(e)
	log.Info(e.String())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
