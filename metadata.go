package gtm

import (
	"context"

	"github.com/coredns/coredns/plugin/metadata"
	"github.com/coredns/coredns/request"
	"github.com/gtm-project/gtm/engine"
)

// decisionKey holds a query's *engine.Decision in its context.
type decisionKey struct{}

// Metadata implements metadata.Provider: gtm/instance, gtm/rule,
// gtm/state (primary, secondary, all-down), gtm/pools and gtm/client (the
// subnet the decision used), so that log can record why a client got its
// answer ({/gtm/rule}). The metadata plugin calls it before the query is
// served: the values are functions that read the decision ServeDNS makes
// later, from a holder in the context. A server without the metadata
// plugin never calls it, and ServeDNS looks for the holder only after it
// has been (one atomic load).
func (g *GTM) Metadata(ctx context.Context, state request.Request) context.Context {
	g.metadata.Store(true)
	d := new(engine.Decision)
	metadata.SetValueFunc(ctx, "gtm/instance", func() string { return d.Instance })
	metadata.SetValueFunc(ctx, "gtm/rule", func() string { return d.Rule })
	metadata.SetValueFunc(ctx, "gtm/state", d.StateWord)
	metadata.SetValueFunc(ctx, "gtm/pools", d.Pools)
	metadata.SetValueFunc(ctx, "gtm/client", func() string {
		if !d.Client.IsValid() {
			return ""
		}
		return d.Client.String()
	})
	return context.WithValue(ctx, decisionKey{}, d)
}

// decision is the holder Metadata put in ctx, or nil.
func (g *GTM) decision(ctx context.Context) *engine.Decision {
	if !g.metadata.Load() {
		return nil
	}
	d, _ := ctx.Value(decisionKey{}).(*engine.Decision)
	return d
}

var _ metadata.Provider = (*GTM)(nil)
