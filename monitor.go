package gtm

import (
	"fmt"
	"slices"
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

// monitoring is a GTM's background half: the probers, the health table,
// and the goroutine that compiles a new snapshot when health changes. It is
// started in OnStartup and stopped in OnShutdown.
type monitoring struct {
	g        *GTM
	targets  map[health.Key]*health.Target
	metrics  map[health.Key]probeMetrics // resolved once: label lookups cost per probe
	table    *health.Table
	sched    *health.Scheduler
	mu       sync.Mutex
	trackers map[health.Key]*health.Tracker
	dirty    chan struct{}
	// latencyMoved says a latency average changed since the last compile;
	// latency instances are recompiled for it once a second at most.
	latencyMoved atomic.Bool
	stop         chan struct{}
	done         chan struct{}
	once         sync.Once
}

// targets lists what to probe: every address whose pool or own settings name
// a monitor, including forced-down addresses, so an operator sees their
// health before putting them back.
func targets(cfg *config.Config) []*health.Target {
	monitors := make(map[string]*config.Monitor, len(cfg.Monitors))
	for _, m := range cfg.Monitors {
		monitors[m.Name] = m
	}
	var out []*health.Target
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
			domain := strings.TrimSuffix(a.Domain, ".")
			out = append(out, &health.Target{
				Key:     health.Key{Pool: p.Name, Address: a.Value()},
				Host:    host,
				Monitor: m,
				Prober:  health.NewProber(m, domain),
			})
		}
	}
	return out
}

func (g *GTM) startMonitoring() {
	ts := targets(g.cfg)
	mon := &monitoring{
		g:        g,
		table:    g.table,
		trackers: make(map[health.Key]*health.Tracker, len(ts)),
		dirty:    make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	mon.targets = make(map[health.Key]*health.Target, len(ts))
	mon.metrics = make(map[health.Key]probeMetrics, len(ts))
	prev := g.predecessor()
	carried := 0
	for _, t := range ts {
		mon.targets[t.Key] = t
		mon.metrics[t.Key] = probeMetrics{
			ok:       probesTotal.WithLabelValues(t.Monitor.Name, t.Key.Pool, "success"),
			fail:     probesTotal.WithLabelValues(t.Monitor.Name, t.Key.Pool, "failure"),
			duration: probeDuration.WithLabelValues(t.Monitor.Name, t.Key.Pool),
		}
		tr := &health.Tracker{Rise: t.Monitor.Rise, Fall: t.Monitor.Fall}
		mon.trackers[t.Key] = tr
		// A reload keeps what is known of an address probed the same way,
		// so that answers do not briefly include addresses known to be down.
		if prev != nil {
			if old := prev.targets[t.Key]; old != nil && sameProbe(old, t) {
				if rec, ok := prev.table.Get(t.Key); ok && rec.Status != health.Unknown {
					g.table.Set(t.Key, rec)
					tr.Seed(rec.Status)
					carried++
				}
			}
		}
	}
	if carried > 0 {
		g.recompile()
		log.Infof("kept the health of %d addresses across the reload", carried)
	}
	mon.sched = &health.Scheduler{OnResult: mon.result, OnPanic: mon.panicked}
	g.mon = mon
	go mon.compileLoop()
	mon.sched.Start(ts)
	go func() {
		select {
		case <-mon.sched.FirstRound():
			g.ready.Store(true)
			log.Infof("first round of %d probes complete: ready", len(ts))
		case <-mon.stop:
		}
	}()
}

type probeMetrics struct {
	ok, fail prometheus.Counter
	duration prometheus.Observer
}

// predecessor is the running configuration this one replaces (same zones),
// if any: during a reload the new instance starts before the old one stops.
func (g *GTM) predecessor() *monitoring {
	seriesMu.Lock()
	defer seriesMu.Unlock()
	for other := range live {
		if other != g && other.mon != nil && slices.Equal(other.zones, g.zones) {
			return other.mon
		}
	}
	return nil
}

// sameProbe reports whether two targets are probed identically, so that the
// old one's verdict holds for the new one.
func sameProbe(a, b *health.Target) bool {
	return a.Host == b.Host && monitorSig(a.Monitor) == monitorSig(b.Monitor)
}

func monitorSig(m *config.Monitor) string {
	c := *m
	c.Pos, c.Used, c.Name = config.Pos{}, false, ""
	re := ""
	if c.BodyRegexp != nil {
		re = c.BodyRegexp.String()
		c.BodyRegexp = nil
	}
	return fmt.Sprintf("%+v|%s", c, re)
}

func (g *GTM) stopMonitoring() {
	if g.mon == nil {
		return
	}
	g.mon.once.Do(func() {
		g.mon.sched.Stop()
		close(g.mon.stop)
		<-g.mon.done
	})
}

// result takes one probe result through hysteresis into the table.
func (m *monitoring) result(t *health.Target, r health.Result) {
	pm := m.metrics[t.Key]
	if r.OK {
		pm.ok.Inc()
	} else {
		pm.fail.Inc()
	}
	pm.duration.Observe(r.RTT.Seconds())
	probeLag.WithLabelValues(t.Monitor.Name).Observe(r.Lag.Seconds())

	m.mu.Lock()
	old, now, changed := m.trackers[t.Key].Observe(r.OK)
	rec, _ := m.table.Get(t.Key)
	rec.Status, rec.Last = now, r
	switch {
	case r.OK:
		rec.Latency = rec.Latency.Add(r.RTT)
		m.latencyMoved.Store(true)
	case r.RTT >= t.Monitor.Timeout:
		// A probe that timed out says the address is at least this slow,
		// long before fall marks it down.
		rec.Latency = rec.Latency.Add(t.Monitor.Timeout)
		m.latencyMoved.Store(true)
	}
	m.table.Set(t.Key, rec)
	m.mu.Unlock()
	if !changed {
		return
	}
	// A first verdict of healthy is the expected start, not news.
	if old != health.Unknown || now == health.Unhealthy {
		reason := "probe passed"
		if r.Err != nil {
			reason = r.Err.Error()
		}
		m.g.event(health.Event{Time: time.Now(), Object: "address " + t.Key.Pool + "/" + t.Key.Address,
			Old: old.String(), New: now.String(), Reason: reason})
	}
	select {
	case m.dirty <- struct{}{}:
	default:
	}
}

func (m *monitoring) panicked(t *health.Target, p any) {
	probePanics.WithLabelValues(t.Monitor.Name).Inc()
	log.Errorf("prober for %s/%s (monitor %s) panicked: %v", t.Key.Pool, t.Key.Address, t.Monitor.Name, p)
}

// compileLoop builds a new snapshot after health changes. Changes that
// arrive while it compiles are folded into the next build.
func (m *monitoring) compileLoop() {
	defer close(m.done)
	var tick <-chan time.Time
	if m.g.hasLatency() {
		t := time.NewTicker(latencyRecompile)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-m.stop:
			return
		case <-m.dirty:
			m.latencyMoved.Store(false)
			m.g.recompile()
		case <-tick:
			if m.latencyMoved.Swap(false) {
				m.g.recompile()
			}
		}
	}
}

// latencyRecompile is how often latency instances follow measured latency.
const latencyRecompile = time.Second

func (g *GTM) hasLatency() bool {
	for _, in := range g.cfg.Instances {
		if in.Policy == config.PolicyLatency {
			return true
		}
	}
	return false
}

// recompile publishes a snapshot for the current health and reports what
// changed. Only the compile loop (and start, before it runs) calls it.
func (g *GTM) recompile() {
	prev := g.snap.Load()
	next := compile(g.cfg, g.table, prev, g.counting)
	g.snap.Store(next)
	g.report(prev, next)
}

// report updates gauges and records a switch event for every instance whose
// answer state changed.
func (g *GTM) report(prev, next *snapshot) {
	for _, p := range g.cfg.Pools {
		for _, a := range p.Addresses {
			up := health.Usable(a.Mode, g.table.Status(health.Key{Pool: p.Name, Address: a.Value()}))
			addressUp.WithLabelValues(p.Name, a.Value()).Set(b2f(up))
		}
	}
	for _, p := range g.cfg.Pools {
		// Pools are compiled once per snapshot; any instance's copy will do,
		// but a pool no instance uses is compiled nowhere: recompute.
		poolAvailable.WithLabelValues(p.Name).Set(b2f(next.poolAvailable(p.Name)))
	}
	for name, in := range next.names {
		var was *instance
		if prev != nil {
			was = prev.names[name]
		}
		for i, r := range in.rules {
			collectionAvailable.WithLabelValues(name, r.name, statePrimary).Set(b2f(r.primary.Available))
			if r.secondary != nil {
				collectionAvailable.WithLabelValues(name, r.name, stateSecondary).Set(b2f(r.secondary.Available))
			}
			for _, st := range allStates {
				activeCollection.WithLabelValues(name, r.name, st).Set(b2f(st == r.state))
			}
			if was == nil || i >= len(was.rules) || was.rules[i].name != r.name || was.rules[i].state == r.state {
				continue
			}
			switchovers.WithLabelValues(name, r.name, r.state).Inc()
			object := "instance " + name
			if r.name != config.MatchDefault {
				object += " rule " + r.name
			}
			g.event(health.Event{Time: time.Now(), Object: object, Old: was.rules[i].state, New: r.state, Reason: r.why})
		}
	}
}

func (g *GTM) event(e health.Event) {
	g.events.Add(e)
	log.Info(e.String())
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
