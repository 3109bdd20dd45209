package engine

import (
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/policy"
	"github.com/miekg/dns"
)

// A dual-stack instance holds IPv4 and IPv6 pools, and answers A from the
// first and AAAA from the second. Each of its rules keeps, besides the rule
// as a whole (what status, events and metrics show), one compiled rule per
// family, from which a query picks: fam[0] answers A, fam[1] AAAA. With
// failover together, both are the whole rule's decision, restricted to the
// family; with failover separate, each is decided on its own, over the
// collections' pools of its family.

// dualTypes are the families of a dual-stack rule, in the order of fam.
var dualTypes = [2]config.Type{config.TypeA, config.TypeAAAA}

// famIndex is the family of fam that answers qtype.
func famIndex(qtype uint16) int {
	if qtype == dns.TypeAAAA {
		return 1
	}
	return 0
}

// family is the compiled rule that answers qtype (A or AAAA) for r.
func (r *rule) family(qtype uint16) *rule {
	if r.fam == nil {
		return r
	}
	return &r.fam[famIndex(qtype)]
}

// compileFamilies compiles the families of a dual-stack rule r, which
// compileRule has decided as a whole. old is the rule it replaces (nil if
// none), whose families' manual-failback holds carry over.
func compileFamilies(r *rule, ci *config.Instance, sw config.Switch, cr *config.Rule, healthy,
	openPool func(string) *policy.Pool, old *rule, pools func(string) *config.Pool) {
	r.fam = new([2]rule)
	separate := ci.Failover == config.FailoverSeparate
	for i, t := range dualTypes {
		f := &r.fam[i]
		if separate {
			var prev State
			if old != nil && old.fam != nil {
				prev = old.fam[i].state
			}
			compileRule(f, familyInstance(ci, t), sw, familyRule(cr, t, pools), healthy, openPool, prev)
		} else {
			f.state, f.why, f.held = r.state, r.why, r.held
			f.primary = &f.cols[0]
			r.primary.FamilyInto(t, f.primary, f.mems[0:4:4])
			if r.secondary != nil {
				f.secondary = &f.cols[1]
				r.secondary.FamilyInto(t, f.secondary, f.mems[4:8:8])
			}
			if r.active != nil {
				f.active = &f.cols[2]
				r.active.FamilyInto(t, f.active, f.mems[8:12:12])
			}
		}
		f.name, f.src = r.name, cr
	}
	if separate {
		// The rule as a whole is as far from its primary as its farther
		// family, so that status and events show any switch.
		a, b := &r.fam[0], &r.fam[1]
		r.state, r.held = a.state, a.held || b.held
		if stateRank(b.state) > stateRank(a.state) {
			r.state = b.state
		}
		r.why = "A " + string(a.state) + ": " + a.why + "; AAAA " + string(b.state) + ": " + b.why
		r.active = nil // each family answers from its own

	}
}

// stateRank orders states by how far they are from the primary.
func stateRank(s State) int {
	switch s {
	case StatePrimary:
		return 0
	case StateSecondary:
		return 1
	case StateFailOpen:
		return 2
	case StateFallback:
		return 3
	case StateNoData:
		return 4
	}
	return 5
}

// familyRule is cr with its collections' pools of family t alone.
func familyRule(cr *config.Rule, t config.Type, pools func(string) *config.Pool) *config.Rule {
	out := *cr
	out.Primary = familyCollection(cr.Primary, t, pools)
	out.Secondary = familyCollection(cr.Secondary, t, pools)
	return &out
}

func familyCollection(c *config.Collection, t config.Type, pools func(string) *config.Pool) *config.Collection {
	if c == nil {
		return nil
	}
	out := *c
	out.Members = nil
	for _, m := range c.Members {
		if p := pools(m.Pool); p != nil && p.Type == t {
			out.Members = append(out.Members, m)
		}
	}
	if len(out.Members) == 0 {
		return nil
	}
	return &out
}

// familyInstance is ci with its fallback addresses of family t alone.
func familyInstance(ci *config.Instance, t config.Type) *config.Instance {
	out := *ci
	out.Fallbacks = nil
	for _, a := range ci.Fallbacks {
		if a.Type() == t {
			out.Fallbacks = append(out.Fallbacks, a)
		}
	}
	return &out
}

// fastestFamilies narrows each family's active collection of a latency
// instance to its fastest pools: per family, so that the faster family
// does not leave the other without an answer.
func (r *rule) fastestFamilies(latency func(*policy.Pool) (time.Duration, bool), pct int, tie time.Duration) {
	for i := range r.fam {
		if f := &r.fam[i]; f.active != nil && (f.state == StatePrimary || f.state == StateSecondary) {
			f.active = f.active.Fastest(latency, pct, tie)
		}
	}
}
