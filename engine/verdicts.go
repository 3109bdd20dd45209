package engine

import (
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
