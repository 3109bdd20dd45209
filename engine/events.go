package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
)

// Events returns the process's recent state changes, oldest first.
func Events() []health.Event { return proc.events.List() }

// EventsSince returns the events of the process's history recorded after
// seq (an Event.Seq), oldest first; all it holds for 0. If the history has
// lost some of them already, the first one's Seq is above seq+1.
func EventsSince(seq uint64) []health.Event { return proc.events.Since(seq) }

// Subscribe delivers every event the process records from now on (as
// Events keeps them) to the subscription's channel, which holds buffer
// events. Recording never waits for a subscriber: one whose buffer is full
// loses the event, counted by its Dropped and by
// coredns_gtm_events_dropped_total. Close it when done.
//
// To resume a stream after Seq n without a gap: Subscribe, then
// EventsSince(n), then the channel, skipping what was already sent.
func Subscribe(buffer int) *health.Subscription { return proc.events.Subscribe(buffer) }

// event records e in the process's history, hands it to the subscribers
// and logs it.
func event(e health.Event) {
	e.Time = time.Now()
	log.Info(proc.events.Add(e).String())
}

// addressEvent is a check's change of verdict: keys are what every pool
// that uses it calls it.
func addressEvent(keys []health.Key, old, now health.Status, reason string) health.Event {
	ev := health.Event{Kind: health.KindAddress, Object: "address " + health.KeyNames(keys),
		Old: old.String(), New: now.String(), Reason: reason}
	for _, k := range keys {
		ev.Pools = append(ev.Pools, k.Pool)
		ev.Addresses = append(ev.Addresses, k.Address)
	}
	ev.Pools, ev.Addresses = sortedSet(ev.Pools), sortedSet(ev.Addresses)
	return ev
}

// ClusterVerdict records a change of the cluster's verdict on an address
// (the addresses keys name), as a node of a cluster sees it.
func ClusterVerdict(keys []health.Key, old, now health.Status, reason string) {
	event(addressEvent(keys, old, now, reason))
}

// NodeEvent records a change of how this node answers within its cluster
// (fallen back on its own probes, back on the cluster's verdicts).
func NodeEvent(node, old, now, reason string) {
	event(health.Event{Kind: health.KindNode, Object: "node " + node, Old: old, New: now, Reason: reason})
}

// switchEvent is a rule of in switching from state old to r's state. It
// concerns the pools of the rule's collections, whichever answers.
func switchEvent(in *instance, r *rule, old State) health.Event {
	// The name may live in the compiled instance's block: an event in the
	// history must not keep that alive.
	name := strings.Clone(in.name)
	object := "instance " + name
	if r.name != config.MatchDefault.String() {
		object += " rule " + r.name
	}
	ev := health.Event{Kind: health.KindSwitchover, Object: object, Instances: []string{name}, Rule: r.name,
		Old: string(old), New: string(r.state), Reason: r.why}
	if src := r.src; src != nil {
		for _, col := range []*config.Collection{src.Primary, src.Secondary} {
			if col == nil {
				continue
			}
			for _, m := range col.Members {
				ev.Pools = append(ev.Pools, m.Pool)
			}
		}
		ev.Pools = sortedSet(ev.Pools)
	}
	return ev
}

// changeEvent is c applied: a change of the configuration (a whole one,
// pools), or of the overrides alone.
func changeEvent(c *Change, reason string) health.Event {
	ev := health.Event{Kind: health.KindOverride, Object: c.describe(), New: "applied", Reason: reason}
	if c.Config != nil || len(c.Pools) > 0 {
		ev.Kind = health.KindConfig
	}
	for _, p := range c.Pools {
		ev.Pools = append(ev.Pools, p.Name)
	}
	for k := range c.Modes {
		ev.Pools = append(ev.Pools, k.Pool)
		ev.Addresses = append(ev.Addresses, k.Address)
	}
	for name := range c.Pins {
		ev.Instances = append(ev.Instances, name)
	}
	for k := range c.RulePins {
		ev.Instances = append(ev.Instances, k.Instance)
	}
	ev.Instances = append(ev.Instances, c.Release...)
	ev.Pools, ev.Addresses, ev.Instances = sortedSet(ev.Pools), sortedSet(ev.Addresses), sortedSet(ev.Instances)
	return ev
}

// stamp marks an event as e's configuration's.
func (e *Engine) stamp(ev health.Event) health.Event {
	ev.Zones = e.cfg.Zones
	return ev
}

// startEvent is e's configuration starting to answer, replacing pred's in
// a reload when pred is not nil.
func startEvent(e, pred *Engine) health.Event {
	ev := health.Event{Kind: health.KindConfig, Object: "configuration " + e.key[:12], New: "started",
		Reason: fmt.Sprintf("%d instances in %s", len(e.cfg.Instances), strings.Join(e.cfg.Zones, " "))}
	if pred != nil {
		// What pred answers from now: changes applied since it started
		// moved it from its key.
		ev.Reason = "reload, replacing configuration " + pred.snap.Load().idx.sum.String()[:12] + ": " + ev.Reason
	}
	return ev
}

// sortedSet sorts s and drops repeats; nil for none.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
