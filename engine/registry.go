package engine

import (
	"slices"
	"sync"

	"github.com/gtm-project/gtm/health"
)

// proc is what every engine in a process shares, across server blocks and
// reloads: the health checks (each target probed once), the running
// engines and the event history.
var proc = struct {
	mu      sync.Mutex
	engines map[*Engine]bool // started and not shut down

	health *health.Manager
	events *health.Events
}{
	engines: map[*Engine]bool{},
	health:  &health.Manager{},
	events:  health.NewEvents(health.DefaultHistory),
}

// The hooks refer back to proc (events), so they are set after it.
func init() {
	h := proc.health
	h.Observe, h.OnVerdict, h.OnPanic = newProbeMetrics, verdict, panicked
	proc.events.OnDrop = eventsDropped.Inc
}

func running(e *Engine) bool {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return proc.engines[e]
}

// Start runs e and returns it, or returns the running engine with the same
// configuration, which the caller then answers from: nothing is probed
// twice, no series written twice, no health forgotten. An engine that
// starts for zones another engine serves takes over from it (its verdicts,
// manual-failback holds, reported states and series).
func Start(e *Engine) *Engine {
	// writer is read under reportMu, taken before proc.mu as shutdown does.
	reportMu.Lock()
	proc.mu.Lock()
	for o := range proc.engines {
		if o.key == e.key {
			o.users++
			proc.mu.Unlock()
			reportMu.Unlock()
			return o
		}
	}
	e.users = 1
	var pred *Engine
	for o := range proc.engines {
		if slices.Equal(o.cfg.Zones, e.cfg.Zones) && (pred == nil || o.writer) {
			pred = o
		}
	}
	proc.engines[e] = true
	proc.mu.Unlock()
	reportMu.Unlock()
	e.start(pred)
	traffic.acquire()
	return e
}

// Stop leaves an engine that Start returned; the last user to leave stops
// it and deletes the metric series no running configuration uses any more.
func (e *Engine) Stop() {
	proc.mu.Lock()
	e.users--
	last := e.users == 0
	if last {
		delete(proc.engines, e)
	}
	proc.mu.Unlock()
	if last {
		e.shutdown()
		traffic.release()
	}
}

// Ready reports whether every running engine has a verdict for every
// address it probes, from a first probe or carried over a reload.
func Ready() bool {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	for e := range proc.engines {
		if !e.ready() {
			return false
		}
	}
	return true
}

// Checks is the number of health checks the process runs.
func Checks() int { return proc.health.Len() }
