// Package gtm is a CoreDNS plugin that answers for managed names with the
// addresses of healthy endpoints, chosen from primary and secondary
// collections of address pools. This package is the CoreDNS glue: the
// Corefile is read by package corefile, answers come from package engine.
package gtm

import (
	"context"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"
	"github.com/gtm-project/gtm/api"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/engine"
	"github.com/miekg/dns"
)

const pluginName = "gtm"

var log = clog.NewWithPlugin(pluginName)

// GTM is the plugin handler. What it answers from lives in its engine,
// which server blocks with the same configuration share once started.
type GTM struct {
	Next plugin.Handler
	Fall fall.F

	zones   []string
	engine  *engine.Engine
	api     *api.Service // the control API, nil when off
	started bool         // under reload.mu
	up      bool         // started, and its API serving; under reload.mu
	// metadata: the metadata plugin has asked for gtm's (see Metadata).
	metadata atomic.Bool
}

// New returns a handler for a validated configuration.
func New(cfg *config.Config) *GTM {
	return &GTM{zones: cfg.Zones, engine: engine.New(cfg)}
}

// Engine is what the handler answers from.
func (g *GTM) Engine() *engine.Engine { return g.engine }

// Name implements plugin.Handler.
func (g *GTM) Name() string { return pluginName }

// ServeDNS implements plugin.Handler. The engine answers from its current
// snapshot and GeoIP database and nothing else: no lock, no parsing, no I/O.
func (g *GTM) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	zname := plugin.Zones(g.zones).Matches(qname)
	// Only class IN is ours; CHAOS and the rest belong to other plugins.
	if zname == "" || state.QClass() != dns.ClassINET {
		if g.Next == nil {
			// Like file: an authoritative server refuses what it does not
			// serve, rather than failing (SERVFAIL makes resolvers retry).
			return dns.RcodeRefused, nil
		}
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	through := g.Fall.Through(qname)
	qtype := state.QType()
	// gtm is no secondary and takes no transfers or updates; under
	// fallthrough the plugin that holds the rest of the zone decides.
	if r.Opcode != dns.OpcodeQuery || qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		if through {
			return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
		}
		if r.Opcode == dns.OpcodeQuery {
			return dns.RcodeRefused, nil // as file does without transfer configured
		}
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNotImplemented)
		if o := r.IsEdns0(); o != nil {
			m.SetEdns0(o.UDPSize(), o.Do())
		}
		g.reply(w, r, m)
		return dns.RcodeSuccess, nil
	}
	out := g.answer(engine.Query{Req: r, Name: qname, Type: qtype, Zone: zname,
		Remote: w.RemoteAddr(), TCP: state.Proto() == "tcp", Through: through, Decision: g.decision(ctx)}, w, r)
	switch out {
	case engine.PassExists:
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, existsWriter{w}, r)
	case engine.Pass:
		return plugin.NextOrFailure(g.Name(), g.Next, ctx, w, r)
	}
	return dns.RcodeSuccess, nil
}

// existsWriter passes on the next plugin's reply for a name that exists in
// gtm, turning its NXDOMAIN (the next plugin does not know gtm's names) into
// NODATA with the next plugin's SOA, the zone's SOA under fallthrough.
type existsWriter struct{ dns.ResponseWriter }

func (e existsWriter) WriteMsg(m *dns.Msg) error {
	if m.Rcode == dns.RcodeNameError && len(m.Answer) == 0 {
		m = m.Copy()
		m.Rcode = dns.RcodeSuccess
	}
	return e.ResponseWriter.WriteMsg(m)
}

// reply writes m, which carries its own OPT record when the query had one.
// A reply that cannot be written is logged, counted and replaced by a bare
// SERVFAIL: the client learns that something failed instead of waiting for
// a reply that never comes.
func (g *GTM) reply(w dns.ResponseWriter, r, m *dns.Msg) {
	err := w.WriteMsg(m)
	if err == nil {
		return
	}
	replyErrors.Inc()
	replyErrLog.report(r, m, err)
	f := new(dns.Msg)
	f.SetRcode(r, dns.RcodeServerFailure)
	if o := r.IsEdns0(); o != nil {
		f.SetEdns0(o.UDPSize(), o.Do())
	}
	w.WriteMsg(f) // the bare reply packs; if the connection itself failed, so does this
}
