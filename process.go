package gtm

import (
	"slices"
	"sync"

	"github.com/gtm-project/gtm/health"
)

// proc is what one CoreDNS process shares between every gtm handler, across
// server blocks and reloads: the health checks (each target probed once),
// the running engines, the event history, and the bookkeeping of a reload
// in progress.
var proc = struct {
	mu      sync.Mutex
	engines map[*engine]bool // started and not shut down
	// reloading is set while CoreDNS starts a new configuration: the
	// handlers that start then are pending until the old configuration
	// shuts down (success), or are shut down with the reload (failure).
	reloading bool
	pending   []*GTM

	health *health.Manager
	events *health.Events
}{
	engines: map[*engine]bool{},
	health:  &health.Manager{},
	events:  health.NewEvents(health.DefaultHistory),
}

// The hooks refer back to proc (events), so they are set after it.
func init() {
	h := proc.health
	h.Observe, h.OnVerdict, h.OnPanic = newProbeMetrics, verdict, panicked
}

func running(e *engine) bool {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return proc.engines[e]
}

// OnStartup starts the handler's engine, or joins a running one with the
// same configuration.
func (g *GTM) OnStartup() error {
	proc.mu.Lock()
	if g.started {
		proc.mu.Unlock()
		return nil
	}
	g.started = true
	if proc.reloading {
		proc.pending = append(proc.pending, g)
	}
	for e := range proc.engines {
		if e.key == g.engine.key {
			// Same configuration running: answer from it. Nothing is
			// probed twice, no series written twice, no health forgotten.
			e.handlers++
			g.engine = e
			proc.mu.Unlock()
			return nil
		}
	}
	e := g.engine
	e.handlers = 1
	var pred *engine
	for o := range proc.engines {
		if slices.Equal(o.cfg.Zones, e.cfg.Zones) && (pred == nil || o.writer) {
			pred = o
		}
	}
	proc.engines[e] = true
	proc.mu.Unlock()
	e.start(pred)
	return nil
}

// OnShutdown leaves the engine; the last handler to leave stops it and
// deletes the metric series no running configuration uses any more.
func (g *GTM) OnShutdown() error {
	proc.mu.Lock()
	if !g.started {
		proc.mu.Unlock()
		return nil
	}
	g.started = false
	if i := slices.Index(proc.pending, g); i >= 0 {
		proc.pending = slices.Delete(proc.pending, i, i+1)
	} else {
		// An old handler stops: the reload that replaced it succeeded.
		proc.reloading, proc.pending = false, nil
	}
	e := g.engine
	e.handlers--
	last := e.handlers == 0
	if last {
		delete(proc.engines, e)
	}
	proc.mu.Unlock()
	if last {
		e.shutdown()
	}
	return nil
}

// OnRestart marks the start of a reload: handlers started from now on
// belong to the new configuration until it is confirmed.
func (g *GTM) OnRestart() error {
	proc.mu.Lock()
	proc.reloading, proc.pending = true, nil
	proc.mu.Unlock()
	return nil
}

// OnRestartFailed shuts down every handler the failed reload started:
// CoreDNS throws the new configuration away without its shutdown hooks
// when, say, a new server block's port is taken after gtm has started.
func (g *GTM) OnRestartFailed() error {
	proc.mu.Lock()
	failed := proc.pending
	proc.reloading, proc.pending = false, nil
	proc.mu.Unlock()
	for _, p := range failed {
		p.OnShutdown()
	}
	return nil
}

// Ready implements the ready plugin's Readiness. The ready plugin counts one
// handler per plugin name, so each answers for every running gtm
// configuration in the process: true once every probed address of each has
// a verdict, from its first probe or carried over a reload.
func (g *GTM) Ready() bool {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if !g.started {
		return false
	}
	for e := range proc.engines {
		if !e.ready() {
			return false
		}
	}
	return true
}

// Events returns the process's recent state changes, oldest first.
func (g *GTM) Events() []health.Event { return proc.events.List() }
