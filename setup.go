package gtm

import (
	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/gtm-project/gtm/api"
	"github.com/gtm-project/gtm/corefile"
)

func init() { plugin.Register(pluginName, setup) }

// setup parses the block and adds the handler. It starts nothing: anything
// that runs in the background belongs in OnStartup, so that a reload which
// fails after setup leaves nothing behind.
func setup(c *caddy.Controller) error {
	cfg, fl, err := corefile.Parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	var svc *api.Service
	if cfg.API != nil {
		// The running configuration is the Corefile's and the store's.
		var err error
		if svc, cfg, err = api.New(cfg); err != nil {
			return plugin.Error(pluginName, err)
		}
	}
	// Warnings are of the whole configuration: the store's pools may use
	// a monitor the Corefile defines.
	for _, w := range cfg.Warnings {
		log.Warning(w)
	}
	g := New(cfg)
	g.Fall, g.api = fl, svc
	err = g.engine.LoadGeo()
	if err == nil {
		err = g.engine.LoadKeys()
	}
	if err != nil {
		if svc != nil {
			svc.Stop()
		}
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(g.OnStartup)
	c.OnShutdown(g.OnShutdown)
	c.OnRestart(g.OnRestart)
	c.OnRestartFailed(g.OnRestartFailed)
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		g.Next = next
		return g
	})
	return nil
}
