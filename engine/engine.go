package engine

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/dnssec"
	"github.com/gtm-project/gtm/geoip"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/policy"
	"github.com/prometheus/client_golang/prometheus"
)

var log = clog.NewWithPlugin("gtm")

// Engine is one running gtm configuration: its compiled snapshot, GeoIP
// database, the process's health checks it uses, and the goroutine that
// recompiles when their verdicts change. Server blocks whose gtm blocks say
// the same (plain DNS and DNS-over-TLS for one zone) share one engine, so
// they answer from the same verdicts and report once.
type Engine struct {
	key      string // the configuration's fingerprint
	cfg      *config.Config
	snap     lazySnapshot
	idx      *configIndex // of cfg, made once: it digests every object
	geo      atomic.Pointer[geoip.DB]
	signer   *dnssec.Signer            // nil when no zone is signed; set at setup
	asn      atomic.Pointer[geoip.ASN] // for asn rules; nil without 'asn FILE'
	revision atomic.Uint64             // the control API store's revision answered from, plus 1; 0: no API
	counting bool                      // set once started: compiled snapshots count answers

	// Set by start; changed by apply on the compile loop's goroutine.
	checks atomic.Pointer[kshards[health.Key, *health.Check]] // copied on write: ready reads it from elsewhere
	pred   *Engine                                            // the engine this one replaced in a reload while that one runs; under reportMu

	users int // handlers answering from it; under proc.mu

	// Rand picks among addresses; set before the engine answers.
	Rand policy.Rand
	// GeoCheck is how often the GeoIP file is checked for replacement;
	// set before the engine starts.
	GeoCheck time.Duration

	// writer says this engine owns the metric series and switch events of
	// its objects: during a reload the old and the new engine both run, and
	// only the newest may write. Under reportMu.
	writer   bool
	reported *snapshot // the last snapshot reported; under reportMu

	dirty chan struct{}
	// changed holds the checks with a new verdict since the last compile,
	// moved those whose latency average moved (latency instances follow
	// those once a second at most).
	changedMu      sync.Mutex
	changed, moved map[*health.Check]bool
	// changedPools are pools whose cluster verdicts changed (verdicts.go);
	// changedAll, every pool's.
	changedPools map[string]bool
	changedAll   bool
	verdicts     atomic.Pointer[verdictsBox] // the cluster's verdicts, if it answers from them
	probedCh     chan struct{}               // an own verdict changed (Probed)
	// noProbe: a resolution-only node ('probe off'), answering from the
	// others' verdicts; it starts no checks.
	noProbe bool
	vantage config.Vantage             // where this node probes from ('vantage')
	byCheck map[*health.Check][]string // the pools that use each check; set by start
	// keys holds the address strings of the checks' keys in shared chunks
	// (100,000 addresses: 100,000 strings fewer for the collector); used
	// by start, then only on the compile loop.
	keys             config.Arena
	applies          chan applyReq
	stop, done       chan struct{}
	geoStop, geoDone chan struct{}
	stopOnce         sync.Once
}

// New returns an engine for a validated configuration. Until it starts, it
// answers from a snapshot compiled with every address's health unknown (so
// usable unless forced down).
func New(cfg *config.Config) *Engine {
	e := &Engine{cfg: cfg, GeoCheck: geoCheckEvery, idx: newIndex(cfg), Rand: policy.DefaultRand,
		probedCh: make(chan struct{}, 1)}
	e.key = e.idx.sum.String() // the configuration's fingerprint
	if a := cfg.API; a != nil {
		// The digest leaves the API out, but the engine follows its
		// cluster settings: a reload that changes them must not keep
		// a running engine made with others.
		e.vantage, e.noProbe = a.Vantage, a.NoProbe
		if a.Etcd != nil {
			e.key += fmt.Sprintf(" cluster vantage %q %q %q", a.Vantage.Region, a.Vantage.Continent, a.Vantage.Country)
		}
		if a.NoProbe {
			e.key += " probe off"
		}
	}
	// A server compiles when it starts (with health carried over and
	// counting on); compiling here too would double the load time at
	// 100,000 instances. Handlers used before OnStartup (tests) compile on
	// first use.
	e.snap.init = func() *snapshot { return compileWith(cfg, e.idx, view{e}, nil, false) }
	return e
}

// lazySnapshot is the current snapshot, compiled on first use if nothing
// was stored before.
type lazySnapshot struct {
	p    atomic.Pointer[snapshot]
	once sync.Once
	init func() *snapshot
}

func (l *lazySnapshot) Load() *snapshot {
	if s := l.p.Load(); s != nil {
		return s
	}
	l.once.Do(func() { l.p.CompareAndSwap(nil, l.init()) })
	return l.p.Load()
}

func (l *lazySnapshot) Store(s *snapshot) { l.p.Store(s) }

func (e *Engine) check(k health.Key) *health.Check {
	if m := e.checks.Load(); m != nil {
		return m.get(k)
	}
	return nil
}

// Health is an address's verdict: the cluster's when live nodes vote on
// it, else from the check the engine probes it with. Before it starts,
// every address is unknown.
func (e *Engine) Health(k health.Key) health.Status {
	if st, ok := e.clusterVerdict(k); ok {
		return st
	}
	if c := e.check(k); c != nil {
		return c.Status()
	}
	return health.Unknown
}

// view is the engine's health (the cluster's verdicts, its own checks)
// and the other vantage points' latencies, as the health.View compiles
// read (the engine's own Status is the whole configuration's, for the
// control API).
type view struct{ *Engine }

// Status implements health.View.
func (v view) Status(k health.Key) health.Status { return v.Health(k) }

// Latency is an address's smoothed round trip, if measured.
func (e *Engine) Latency(k health.Key) (time.Duration, bool) {
	if c := e.check(k); c != nil {
		l := c.Record().Latency
		return l.EWMA, l.Samples > 0
	}
	return 0, false
}

// Get is what is known of an address, and whether it is probed.
func (e *Engine) Get(k health.Key) (health.Record, bool) {
	if c := e.check(k); c != nil {
		return c.Record(), true
	}
	return health.Record{}, false
}

// ready is true once every address the engine probes has a verdict (first
// probed or carried over a reload) that its answers are compiled from.
func (e *Engine) ready() bool {
	if e.checks.Load() == nil { // registered, not yet started
		return false
	}
	if e.clustered() {
		// A node of a cluster answers once it has read the others'
		// verdicts (the control API installs them when it starts).
		if b := e.verdicts.Load(); b == nil || !b.v.Ready() {
			return false
		}
	}
	// What answers is the snapshot: a verdict the compile loop has not
	// taken yet leaves its pool unsure there, and the engine not ready.
	ready := true
	e.snap.Load().pools.each(func(_ string, cp *cpool) {
		if cp.unsure {
			ready = false
		}
	})
	return ready
}

// useChecks makes checks the ones the engine answers from (all of them:
// at start, or when a whole configuration is applied).
func (e *Engine) useChecks(checks map[health.Key]*health.Check, carried int) {
	cm := newKShards[health.Key, *health.Check](len(checks), maphash.Comparable[health.Key])
	for k, c := range checks {
		cm.put(k, c)
	}
	e.checks.Store(cm)
	e.byCheck = grouped(len(checks), func(yield func(*health.Check, string)) {
		for k, c := range checks {
			yield(c, k.Pool)
		}
	})
	if carried > 0 {
		log.Infof("kept the health of %d probes whose settings changed only in interval, rise or fall", carried)
	}
}

// HealthChanged implements health.Owner.
func (e *Engine) HealthChanged(c *health.Check, verdict bool) {
	e.changedMu.Lock()
	if !verdict {
		e.moved[c] = true
		e.changedMu.Unlock()
		return
	}
	e.changed[c] = true
	e.changedMu.Unlock()
	select {
	case e.probedCh <- struct{}{}:
	default:
	}
	select {
	case e.dirty <- struct{}{}:
	default:
	}
}

// specs is what the engine probes: nothing on a resolution-only node.
func (e *Engine) specs(pools []*config.Pool, mons []*config.Monitor, intern func(string) string) []health.Spec {
	if e.noProbe {
		return nil
	}
	return specs(pools, mons, intern)
}

// specs lists what to probe: every address whose pool or own settings name
// a monitor, including forced-down addresses, so an operator sees their
// health before putting them back.
//
// intern, when not nil, keeps the address strings the checks will hold as
// their keys (nil: a copy each, for specs only compared).
func specs(pools []*config.Pool, mons []*config.Monitor, intern func(string) string) []health.Spec {
	monitors := make(map[string]*config.Monitor, len(mons))
	for _, m := range mons {
		monitors[m.Name] = m
	}
	var out []health.Spec
	for _, p := range pools {
		for _, a := range p.Addresses {
			name := a.Monitor
			if name == "" {
				name = p.Monitor
			}
			m := monitors[name]
			if m == nil {
				continue
			}
			// One string for the key and the host: 100,000 addresses
			// need not hold two copies of each.
			v := a.Value()
			if intern != nil {
				v = intern(v)
			}
			host := a.Probe
			if host == "" {
				host = strings.TrimSuffix(v, ".")
			}
			out = append(out, health.Spec{
				Key:     health.Key{Pool: p.Name, Address: v},
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
func (e *Engine) start(pred *Engine) {
	e.publish()
	e.counting = true
	e.dirty = make(chan struct{}, 1)
	e.applies = make(chan applyReq)
	e.changedMu.Lock()
	e.changed, e.moved, e.changedPools = map[*health.Check]bool{}, map[*health.Check]bool{}, map[string]bool{}
	e.changedMu.Unlock()
	e.stop, e.done = make(chan struct{}), make(chan struct{})
	all := e.specs(e.cfg.Pools, e.cfg.Monitors, e.keys.String)
	e.useChecks(proc.health.Acquire(e, all))
	var prev *snapshot
	if pred != nil {
		prev = pred.snap.Load()
	}
	e.snap.Store(compileWith(e.cfg, e.idx, view{e}, prev, true))
	reportMu.Lock()
	e.pred = pred
	if pred != nil && e.revision.Load() == 0 {
		// A reload answers from the same store until the API says otherwise.
		e.revision.Store(pred.revision.Load())
	}
	if pred != nil && pred.writer {
		// The reload's story continues from what the old configuration last
		// told: only switches that really happen are recorded.
		pred.writer = false
		e.reported = pred.reported
	}
	e.writer = true
	reportMu.Unlock()
	event(e.stamp(startEvent(e, pred)))
	go e.compileLoop()
	if e.geo.Load() != nil || e.asn.Load() != nil {
		e.geoStop, e.geoDone = make(chan struct{}), make(chan struct{})
		go e.watchGeo(e.GeoCheck, e.geoStop, e.geoDone)
	}
}

// shutdown stops the background work and gives the checks back. If the
// engine wrote the series and the one it replaced still runs (a reload that
// failed after this engine started), the old one writes them again.
func (e *Engine) shutdown() {
	e.stopOnce.Do(func() {
		close(e.stop)
		<-e.done
		if e.geoStop != nil {
			close(e.geoStop)
			<-e.geoDone
		}
		// What it acquired is what its configuration, with the changes
		// applied since, probes: no copy of it is kept meanwhile.
		cfg := e.snap.Load().cfg
		proc.health.Release(e, e.specs(cfg.Pools, cfg.Monitors, nil))
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
	ok, fail      prometheus.Counter
	duration, lag prometheus.Observer
}

// newProbeMetrics resolves a monitor's series once, since label lookups
// per probe cost measurable CPU at 10,000 targets, and keeps one set per
// monitor for every check it probes (100,000 checks need not hold 100,000
// copies). unpublish forgets a monitor whose series it deletes.
func newProbeMetrics(monitor string) health.Observer {
	probeObs.Lock()
	defer probeObs.Unlock()
	if pm := probeObs.m[monitor]; pm != nil {
		return pm
	}
	pm := &probeMetrics{
		ok:       probesTotal.WithLabelValues(monitor, "success"),
		fail:     probesTotal.WithLabelValues(monitor, "failure"),
		duration: probeDuration.WithLabelValues(monitor),
		lag:      probeLag.WithLabelValues(monitor),
	}
	probeObs.m[monitor] = pm
	return pm
}

var probeObs = struct {
	sync.Mutex
	m map[string]*probeMetrics
}{m: map[string]*probeMetrics{}}

func (pm *probeMetrics) Observe(r health.Result) {
	if r.OK {
		pm.ok.Inc()
	} else {
		pm.fail.Inc()
	}
	pm.duration.Observe(r.RTT.Seconds())
	pm.lag.Observe(r.Lag.Seconds())
}

// verdict records an address's change of health, once for the process
// however many pools and server blocks share the check.
func verdict(_ *health.Check, keys []health.Key, old, now health.Status, r health.Result) {
	reason := health.Reason(r)
	// An address an operator forced up or down keeps its place in the
	// answers whatever its probes say: the event says so, so that a
	// failing forced-up address is not mistaken for one taken out.
	switch forcedMode(keys) {
	case config.ModeUp:
		reason += "; mode up: still answered"
	case config.ModeDown:
		reason += "; mode down: not answered"
	}
	ev := addressEvent(keys, old, now, reason)
	if clusteredKeys(keys) {
		// The cluster's verdict is the address's; this is one vote.
		ev.Kind, ev.Object = health.KindProbe, "probe of "+ev.Object
	}
	event(ev)
}

// clusteredKeys reports whether a running engine that uses one of keys
// shares health with a cluster.
func clusteredKeys(keys []health.Key) bool {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	for e := range proc.engines {
		if !e.clustered() {
			continue
		}
		idx := e.snap.Load().idx
		for _, k := range keys {
			if idx.pools.get(k.Pool) != nil {
				return true
			}
		}
	}
	return false
}

// forcedMode is the mode the running configurations answer an address
// with, when every one that has it forces it the same way; ModeAuto
// otherwise.
func forcedMode(keys []health.Key) config.Mode {
	proc.mu.Lock()
	engines := make([]*Engine, 0, len(proc.engines))
	for e := range proc.engines {
		engines = append(engines, e)
	}
	proc.mu.Unlock()
	mode, seen := config.ModeAuto, false
	for _, e := range engines {
		s := e.snap.Load()
		for _, k := range keys {
			p := s.idx.pools.get(k.Pool)
			if p == nil {
				continue
			}
			a := addressOf(p, k.Address)
			if a == nil {
				continue
			}
			m := s.over.Mode(k.Pool, a)
			if seen && m != mode {
				return config.ModeAuto
			}
			mode, seen = m, true
		}
	}
	return mode
}

func panicked(c *health.Check, p any) {
	probePanics.WithLabelValues(c.Monitor().Name).Inc()
	log.Errorf("prober for %s (monitor %s) panicked: %v", c.Host(), c.Monitor().Name, p)
}

// compileLoop builds a new snapshot after health changes. Changes that
// arrive while it compiles are folded into the next build.
func (e *Engine) compileLoop() {
	defer close(e.done)
	// The first report sets every gauge (a second at 100,000 instances):
	// here, so the server answers without waiting for it.
	reportMu.Lock()
	if e.writer {
		e.reportLocked()
	}
	reportMu.Unlock()
	// Latency instances follow measured latency; a configuration applied
	// later may bring the first ones, so the ticker always runs (an empty
	// tick costs a lock).
	t := time.NewTicker(latencyRecompile)
	defer t.Stop()
	tick := t.C
	for {
		select {
		case <-e.stop:
			return
		case <-e.dirty:
			e.recompile(e.take(false))
		case req := <-e.applies:
			req.done <- e.apply(&req.change)
		case <-tick:
			if pools := e.take(true); len(pools) > 0 {
				e.recompile(pools)
			}
		}
	}
}

// take empties the set of changed checks (or of moved latencies) and
// returns the pools they touch; for latencies, only pools that latency
// instances use.
func (e *Engine) take(latency bool) map[string]bool {
	e.changedMu.Lock()
	set := e.changed
	var byName map[string]bool
	all := false
	if latency {
		set = e.moved
		e.moved = map[*health.Check]bool{}
	} else {
		e.changed = map[*health.Check]bool{}
		byName, all = e.changedPools, e.changedAll
		e.changedPools, e.changedAll = map[string]bool{}, false
	}
	e.changedMu.Unlock()
	pools := make(map[string]bool, len(byName))
	idx := e.snap.Load().idx
	if all {
		for _, p := range e.snap.Load().cfg.Pools {
			pools[p.Name] = true
		}
	}
	for p := range byName {
		if idx.pools.get(p) != nil {
			pools[p] = true
		}
	}
	for c := range set {
		for _, p := range e.byCheck[c] {
			if !latency || idx.latency[p] {
				pools[p] = true
			}
		}
	}
	return pools
}

// latencyRecompile is how often latency instances follow measured latency.
const latencyRecompile = time.Second

// recompile publishes a snapshot in which the given pools, and the
// instances that use them, follow the current health, and reports what
// changed. Only the compile loop calls it.
func (e *Engine) recompile(pools map[string]bool) {
	if len(pools) == 0 {
		return
	}
	next, changed := e.snap.Load().update(view{e}, pools, e.counting)
	e.snap.Store(next)
	reportMu.Lock()
	if e.writer {
		e.reportChanged(changed)
	}
	reportMu.Unlock()
	e.presign(changed)
}

// reportMu orders every engine's reports, so that an engine that has lost
// the series to its successor cannot write them after it.
var reportMu sync.Mutex

// reportLocked records a switch event for every rule whose answer state
// changed since the last report, and makes the current snapshot the one
// the state gauges show. reportMu is held.
func (e *Engine) reportLocked() {
	next := e.snap.Load()
	if e.reported == nil {
		// Nothing was told before: no switch to record.
		e.reported = next
		return
	}
	var all []*instance
	next.names.each(func(_ string, in *instance) { all = append(all, in) })
	e.reportChanged(all)
}

// reportChanged records the switches of the given instances (what a compile
// touched) and makes the current snapshot the one the state gauges show
// (they are read from it when scraped: stateCollector). reportMu is held.
func (e *Engine) reportChanged(instances []*instance) {
	prev, next := e.reported, e.snap.Load()
	e.reported = next
	if prev == nil {
		return
	}
	for _, in := range instances {
		was := prev.instance(in.name)
		for _, r := range in.rules {
			old := was.rule(r.name)
			if old == nil || sameStates(old, r) {
				continue
			}
			in.counts.switched(r.name, string(r.state))
			event(e.stamp(switchEvent(in, r, old.state)))
		}
	}
}

// sameStates reports whether a rule answers as it did: in the same state,
// and for a dual-stack rule each family in the same state too (with
// failover separate, a family can switch while the rule's state, its
// farther family's, stays).
func sameStates(old, r *rule) bool {
	if old.state != r.state {
		return false
	}
	if old.fam == nil || r.fam == nil {
		return old.fam == r.fam
	}
	return old.fam[0].state == r.fam[0].state && old.fam[1].state == r.fam[1].state
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

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type applyReq struct {
	change Change
	done   chan error
}

var errStopped = errors.New("gtm: the configuration is not running")

// Apply makes one change to the running configuration and its overrides,
// as a unit: everything it touches is validated against the configuration
// as it will be, then compiled (the pools it names or whose addresses it
// overrides, the instances it pins or releases, and every instance that
// uses a recompiled pool) and published in one snapshot, with the health
// checks following the pools; or it is refused with the rule it breaks, and
// nothing changes. It is the entry point for changes made at run time, and
// runs on the compile loop, so it never races a health change.
func (e *Engine) Apply(c Change) error {
	if !running(e) { // also orders this read of applies after start's write
		return errStopped
	}
	req := applyReq{change: c, done: make(chan error, 1)}
	select {
	case e.applies <- req:
		return <-req.done
	case <-e.stop:
		return errStopped
	}
}

func (e *Engine) apply(c *Change) error {
	if c.empty() {
		return nil
	}
	cur := e.snap.Load()
	if c.Config != nil {
		return e.applyConfig(c)
	}
	cfg, idx := cur.cfg, cur.idx
	if err := cfg.ValidatePools(c.Pools, idx.pools.get, idx.users.get); err != nil {
		return err
	}
	next := *cfg
	next.Pools = slices.Clone(cfg.Pools)
	nidx := *idx
	upd, pos, dig := map[string]*config.Pool{}, map[string]int{}, map[string]config.Digest{}
	dirty := map[string]bool{}
	var gone []*config.Pool
	for _, p := range c.Pools {
		d := config.PartDigest(p)
		if old := idx.pools.get(p.Name); old != nil {
			next.Pools[idx.pos.get(p.Name)] = p
			nidx.sum = nidx.sum.Sub(idx.digest.get(p.Name))
			gone = append(gone, old)
		} else {
			pos[p.Name] = len(next.Pools)
			next.Pools = append(next.Pools, p)
		}
		nidx.sum = nidx.sum.Add(d)
		upd[p.Name], dig[p.Name], dirty[p.Name] = p, d, true
	}
	if len(upd) > 0 {
		nidx.pools, nidx.digest, nidx.pos = idx.pools.with(upd), idx.digest.with(dig), idx.pos.with(pos)
	}
	instance := func(name string) *config.Instance {
		if in := cur.instance(name); in != nil {
			return in.src
		}
		return nil
	}
	if err := validateOverrides(c, instance, nidx.pools.get); err != nil {
		return err
	}
	over := cur.over.with(c, instance, nidx.pools.get).prune(upd)
	for k := range c.Modes {
		dirty[k.Pool] = true
	}
	instances, released := map[string]bool{}, map[string]bool{}
	for name := range c.Pins {
		instances[name] = true
	}
	for k := range c.RulePins {
		instances[k.Instance] = true
	}
	for _, name := range c.Release {
		instances[name], released[name] = true, true
	}

	// Health: take the new probes before giving back the old, so that an
	// address probed as before keeps its check and its verdict.
	added := e.specs(c.Pools, cfg.Monitors, e.keys.String)
	removed := e.specs(gone, cfg.Monitors, nil)
	got, _ := proc.health.Acquire(e, added)
	proc.health.Release(e, removed)
	dropped := make([]health.Key, 0, len(removed))
	for _, sp := range removed {
		dropped = append(dropped, sp.Key)
	}
	for _, sp := range removed {
		if c := e.check(sp.Key); c != nil {
			e.byCheck[c] = slices.DeleteFunc(e.byCheck[c], func(p string) bool { return p == sp.Key.Pool })
			if len(e.byCheck[c]) == 0 {
				delete(e.byCheck, c)
			}
		}
	}
	for _, sp := range added {
		c := got[sp.Key]
		e.byCheck[c] = append(e.byCheck[c], sp.Key.Pool)
	}
	if len(added) > 0 || len(dropped) > 0 {
		e.checks.Store(e.checks.Load().without(dropped).with(got))
	}

	base := *cur
	base.cfg, base.idx, base.serial, base.over = &next, &nidx, uint32(nidx.sum[0]), over
	s, changed := base.updateWith(view{e}, dirty, instances, released, e.counting)
	for _, z := range s.zones {
		z.serial.Store(s.serial)
	}
	e.snap.Store(s) // e.cfg stays what the engine started from
	reportMu.Lock()
	if e.writer {
		e.reportChanged(changed)
	}
	reportMu.Unlock()
	event(e.stamp(changeEvent(c, fmt.Sprintf("%d instances compiled again", len(changed)))))
	e.presign(changed)
	return nil
}

// applyConfig replaces the whole configuration (Change.Config), with the
// change's overrides on top. A whole configuration is compiled whole: the
// incremental path is for changes of objects.
func (e *Engine) applyConfig(c *Change) error {
	cur := e.snap.Load()
	next := c.Config
	if len(c.Pools) > 0 {
		return errors.New("a change replaces the whole configuration or some of its pools, not both")
	}
	if !slices.Equal(next.Zones, cur.cfg.Zones) {
		return fmt.Errorf("the zones %s are the server block's: change them in the Corefile, not in a running configuration", strings.Join(cur.cfg.Zones, " "))
	}
	if next.GeoIP != cur.cfg.GeoIP {
		return errors.New("the GeoIP database is the server block's: change it in the Corefile")
	}
	if next.ASN != cur.cfg.ASN {
		return errors.New("the ASN database is the server block's: change it in the Corefile")
	}
	if err := next.Validate(); err != nil {
		return err
	}
	if db := e.geo.Load(); db != nil {
		if err := next.NeedsCity(db.Path(), db.Kind(), db.City()); err != nil {
			return err
		}
	}
	idx := newIndex(next)
	instance := func(name string) *config.Instance { return next.Instance(name) }
	if err := validateOverrides(c, instance, idx.pools.get); err != nil {
		return err
	}
	// Health: the new probes first, so that those that did not change
	// keep their check and verdict, then the old ones go.
	added := e.specs(next.Pools, next.Monitors, e.keys.String)
	removed := e.specs(cur.cfg.Pools, cur.cfg.Monitors, nil)
	e.useChecks(proc.health.Acquire(e, added))
	proc.health.Release(e, removed)
	base := *cur
	// The overrides that still fit the new configuration, then the change's.
	base.over = cur.over.fit(instance, idx.pools.get).with(c, instance, idx.pools.get)
	s := compileWith(next, idx, view{e}, &base, e.counting)
	released := map[string]bool{}
	for _, name := range c.Release {
		released[name] = true
	}
	if len(released) > 0 {
		s, _ = s.updateWith(view{e}, nil, released, released, e.counting)
	}
	e.snap.Store(s)
	reportMu.Lock()
	if e.writer {
		e.reportLocked()
	}
	reportMu.Unlock()
	event(e.stamp(changeEvent(c, fmt.Sprintf("%d instances compiled", len(next.Instances)))))
	return nil
}

// Config is the configuration the engine answers from, with the changes
// applied since it started.
func (e *Engine) Config() *config.Config { return e.snap.Load().cfg }

// Check is the health check that probes an address, or nil if none does.
func (e *Engine) Check(k health.Key) *health.Check { return e.check(k) }

// GeoIP is the GeoIP database in use, or nil.
func (e *Engine) GeoIP() *geoip.DB { return e.geo.Load() }

// State is the answer state (StatePrimary…) of an instance's rule (its
// Name(): "default", "country DE AT"), or "" when there is no such rule.
func (e *Engine) State(instance, rule string) State {
	if r := e.snap.Load().instance(instance).rule(rule); r != nil {
		return r.state
	}
	return ""
}

// UseHealth compiles the whole configuration against view instead of the
// engine's probes, as a dry run does: what would it answer if health were
// so. A started engine's next health change compiles from its probes again.
func (e *Engine) UseHealth(view health.View) {
	cur := e.snap.Load()
	e.snap.Store(compile(cur.cfg, view, cur, e.counting))
}

// Overrides are the operators' overrides the engine answers with now.
func (e *Engine) Overrides() *Overrides { return e.snap.Load().over }

// SetRevision records the control API store's revision the engine answers
// from, for the config_info metric.
func (e *Engine) SetRevision(rev uint64) { e.revision.Store(rev + 1) }
