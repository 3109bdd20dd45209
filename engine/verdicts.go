package engine

import (
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
)

// Verdicts is health as a cluster of nodes sees it: for each address, what
// a quorum of the live nodes that probe it says. An engine given one
// answers from it, and from its own probes only for the addresses it has
// no verdict on.
type Verdicts interface {
	// Verdict is the cluster's verdict on k; false when it has none (no
	// live node probes k, or this node has fallen back on its own probes).
	Verdict(k health.Key) (health.Status, bool)
	// Ready reports whether the verdicts were read from the cluster once,
	// so that a node starting does not answer from a partial picture.
	Ready() bool
}

type verdictsBox struct{ v Verdicts }

// UseVerdicts makes the engine answer from v (nil: from its own probes
// alone) and recompiles every pool with it.
func (e *Engine) UseVerdicts(v Verdicts) {
	if v == nil {
		e.verdicts.Store(nil)
	} else {
		e.verdicts.Store(&verdictsBox{v})
	}
	e.VerdictsChanged(nil)
}

// VerdictsChanged tells the engine that the verdicts on these pools'
// addresses changed (nil: any pool's); the compile loop follows.
func (e *Engine) VerdictsChanged(pools []string) {
	e.changedMu.Lock()
	if e.changedPools == nil {
		e.changedMu.Unlock()
		return // not started: the first compile reads them
	}
	if pools == nil {
		e.changedAll = true
	}
	for _, p := range pools {
		e.changedPools[p] = true
	}
	e.changedMu.Unlock()
	select {
	case e.dirty <- struct{}{}:
	default:
	}
}

// clusterVerdict is v's verdict on k, if the engine answers from a
// cluster's and it has one.
func (e *Engine) clusterVerdict(k health.Key) (health.Status, bool) {
	if b := e.verdicts.Load(); b != nil {
		return b.v.Verdict(k)
	}
	return health.Unknown, false
}

// clustered reports whether the engine's configuration shares health with
// other nodes, so that it answers only once it has their verdicts.
func (e *Engine) clustered() bool {
	a := e.cfg.API
	return a != nil && a.Etcd != nil
}

// Probed calls yield with the verdict of each address the engine probes
// itself (Unknown until its first verdict), for a node that publishes
// them to the others.
func (e *Engine) Probed(yield func(health.Key, health.Status)) {
	m := e.checks.Load()
	if m == nil {
		return
	}
	m.each(func(k health.Key, c *health.Check) { yield(k, c.Status()) })
}

// ProbedChanged is signalled (without waiting) when one of the engine's
// own verdicts changes.
func (e *Engine) ProbedChanged() <-chan struct{} { return e.probedCh }

// VantageLatencies is what Verdicts that also carry the other nodes'
// latency measurements give: a latency instance answers a client from
// the pools fastest from the vantage point nearest to it.
type VantageLatencies interface {
	// Vantages are the vantage points, other than this node's, that
	// measured latencies; the slice is not changed after it is returned.
	Vantages() []config.Vantage
	// LatencyFrom is k's smoothed round trip as measured from v (the mean
	// over the live nodes there), if any.
	LatencyFrom(v config.Vantage, k health.Key) (time.Duration, bool)
}

// vantages is the engine's VantageLatencies, if its verdicts carry them.
func (v view) vantages() VantageLatencies {
	if b := v.verdicts.Load(); b != nil {
		if vl, ok := b.v.(VantageLatencies); ok {
			return vl
		}
	}
	return nil
}

// vantagesOf is view's VantageLatencies, if it is an engine's that has
// them.
func vantagesOf(view health.View) VantageLatencies {
	if v, ok := view.(interface{ vantages() VantageLatencies }); ok {
		return v.vantages()
	}
	return nil
}

// ProbedLatency calls yield with the smoothed round trip of each address
// the engine probes itself for a latency instance, for a node that
// publishes them with its vantage.
func (e *Engine) ProbedLatency(yield func(health.Key, time.Duration)) {
	m := e.checks.Load()
	if m == nil {
		return
	}
	idx := e.snap.Load().idx
	m.each(func(k health.Key, c *health.Check) {
		if !idx.latency[k.Pool] {
			return
		}
		if l := c.Record().Latency; l.Samples > 0 {
			yield(k, l.EWMA)
		}
	})
}

// farRule is a rule as answered to clients nearest to another vantage
// point: its active collection is the pools fastest from there.
type farRule struct {
	continent, country string
	r                  *rule
}

// fromVantage returns r, or the copy of it for the vantage point nearest
// to the client (same country, then same continent; this node's own
// vantage first), and the scope of that choice.
func (e *Engine) fromVantage(r *rule, c clientAddr, scope int) (*rule, int) {
	db := e.geo.Load()
	if db == nil {
		return r, scope
	}
	loc, bits, found := db.Lookup(c.addr)
	scope = max(scope, bits)
	if !found {
		return r, scope
	}
	own := e.vantage
	if own.Country != "" && own.Country == loc.Country {
		return r, scope
	}
	for _, f := range r.far {
		if f.country != "" && f.country == loc.Country {
			return f.r, scope
		}
	}
	if own.Continent != "" && own.Continent == loc.Continent {
		return r, scope
	}
	for _, f := range r.far {
		if f.continent != "" && f.continent == loc.Continent {
			return f.r, scope
		}
	}
	return r, scope
}
