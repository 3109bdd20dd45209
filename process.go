package gtm

import (
	"slices"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/health"
)

// reload is CoreDNS's reload in progress, if any: the handlers that start
// while CoreDNS starts a new configuration are pending until the old
// configuration shuts down (success), or are shut down with the reload
// (failure).
var reload = struct {
	mu        sync.Mutex
	reloading bool
	pending   []*GTM
	announced bool // the build was logged
}{}

// OnStartup starts the handler's engine, or joins a running one with the
// same configuration.
func (g *GTM) OnStartup() error {
	reload.mu.Lock()
	if g.started {
		reload.mu.Unlock()
		return nil
	}
	g.started = true
	if !reload.announced {
		// Once per process, like CoreDNS's own version line.
		reload.announced = true
		log.Infof("%s", build)
	}
	if reload.reloading {
		reload.pending = append(reload.pending, g)
	}
	reload.mu.Unlock()
	workersUp()
	g.engine = engine.Start(g.engine)
	if g.api != nil {
		if err := g.api.Start(g.engine); err != nil {
			return plugin.Error(pluginName, err)
		}
	}
	reload.mu.Lock()
	g.up = g.started
	reload.mu.Unlock()
	return nil
}

// OnShutdown leaves the engine; the last handler to leave stops it.
func (g *GTM) OnShutdown() error {
	reload.mu.Lock()
	if !g.started {
		reload.mu.Unlock()
		return nil
	}
	g.started, g.up = false, false
	if i := slices.Index(reload.pending, g); i >= 0 {
		reload.pending = slices.Delete(reload.pending, i, i+1)
	} else {
		// An old handler stops: the reload that replaced it succeeded.
		reload.reloading, reload.pending = false, nil
	}
	reload.mu.Unlock()
	if g.api != nil {
		g.api.Stop()
	}
	g.engine.Stop()
	workersDown()
	return nil
}

// OnRestart marks the start of a reload: handlers started from now on
// belong to the new configuration until it is confirmed.
func (g *GTM) OnRestart() error {
	reload.mu.Lock()
	reload.reloading, reload.pending = true, nil
	reload.mu.Unlock()
	// Like the health plugin: free the API's address for the new
	// configuration, and take it back if the reload fails.
	if g.api != nil {
		g.api.Pause()
	}
	return nil
}

// OnRestartFailed shuts down every handler the failed reload started:
// CoreDNS throws the new configuration away without its shutdown hooks
// when, say, a new server block's port is taken after gtm has started.
func (g *GTM) OnRestartFailed() error {
	reload.mu.Lock()
	failed := reload.pending
	reload.reloading, reload.pending = false, nil
	reload.mu.Unlock()
	for _, p := range failed {
		p.OnShutdown()
	}
	reload.mu.Lock()
	started := g.started
	reload.mu.Unlock()
	if g.api != nil && started {
		if err := g.api.Resume(); err != nil {
			log.Errorf("api: after a failed reload: %v", err)
		}
	}
	return nil
}

// Ready implements the ready plugin's Readiness. The ready plugin counts one
// handler per plugin name, so each answers for every running gtm
// configuration in the process: true once every probed address of each has
// a verdict, from its first probe or carried over a reload.
func (g *GTM) Ready() bool {
	reload.mu.Lock()
	up := g.up
	reload.mu.Unlock()
	return up && engine.Ready()
}

// Events returns the process's recent state changes, oldest first.
func (g *GTM) Events() []health.Event { return engine.Events() }
