package engine

import (
	"errors"
	"slices"
	"strings"

	"github.com/gtm-project/gtm/config"
)

// Effect is how a change alters what one rule of an instance answers.
type Effect struct {
	Instance string `json:"instance"`
	Rule     string `json:"rule,omitempty"`
	Before   string `json:"before" doc:"state and the addresses the rule could answer, before the change; empty if it did not exist"`
	After    string `json:"after" doc:"the same after the change; empty if it goes"`
}

// Preview says what c would change in the answers, from the verdicts the
// engine has now, without applying it: c is validated as Apply validates
// it, compiled aside, and each rule whose state or answerable addresses
// differ is listed. Addresses the change adds have no verdict yet and
// count as usable, as they will until their first probe.
func (e *Engine) Preview(c Change) ([]Effect, error) {
	cur := e.snap.Load()
	cfg, idx := cur.cfg, cur.idx
	if c.Config != nil {
		if len(c.Pools) > 0 {
			return nil, errors.New("a change replaces the whole configuration or some of its pools, not both")
		}
		if !slices.Equal(c.Config.Zones, cur.cfg.Zones) || c.Config.GeoIP != cur.cfg.GeoIP || c.Config.ASN != cur.cfg.ASN {
			return nil, errors.New("the zones and the GeoIP and ASN databases are the server block's: change them in the Corefile")
		}
		if err := c.Config.Validate(); err != nil {
			return nil, err
		}
		if db := e.geo.Load(); db != nil {
			if err := c.Config.NeedsCity(db.Path(), db.Kind(), db.City()); err != nil {
				return nil, err
			}
		}
		cfg, idx = c.Config, newIndex(c.Config)
	} else if len(c.Pools) > 0 {
		return nil, errors.New("preview takes a whole configuration, not pools")
	}
	instance := func(name string) *config.Instance { return cfg.Instance(name) }
	if err := validateOverrides(&c, instance, idx.pools.get); err != nil {
		return nil, err
	}
	base := *cur
	base.over = cur.over.fit(instance, idx.pools.get).with(&c, instance, idx.pools.get)
	next := compileWith(cfg, idx, view{e}, &base, false)
	if len(c.Release) > 0 {
		released := map[string]bool{}
		for _, name := range c.Release {
			released[name] = true
		}
		next, _ = next.updateWith(view{e}, nil, released, released, false)
	}
	before, after := answers(cur), answers(next)
	var out []Effect
	for _, k := range sortedRuleKeys(before, after) {
		if before[k] != after[k] {
			out = append(out, Effect{Instance: k.Instance, Rule: k.Rule, Before: before[k], After: after[k]})
		}
	}
	return out, nil
}

// answers describes each rule of a snapshot: its state and the addresses
// its active collection may answer.
func answers(s *snapshot) map[ruleRef]string {
	out := map[ruleRef]string{}
	s.names.each(func(name string, in *instance) {
		for _, r := range in.rules {
			out[ruleRef{Instance: in.src.Name, Rule: r.name}] = describeRule(r)
		}
	})
	return out
}

func describeRule(r *rule) string {
	if r.fam != nil {
		// A dual-stack rule answers each family from its own decision.
		return "A " + describeRule(&r.fam[0]) + "; AAAA " + describeRule(&r.fam[1])
	}
	var b strings.Builder
	b.WriteString(string(r.state))
	if r.active == nil {
		return b.String()
	}
	b.WriteByte(':')
	for _, m := range r.active.Avail {
		for i := range m.Pool.Avail {
			a := &m.Pool.Avail[i]
			b.WriteByte(' ')
			if a.Target != "" {
				b.WriteString(a.Target)
			} else {
				b.WriteString(a.IP.String())
			}
		}
	}
	return b.String()
}

func sortedRuleKeys(maps ...map[ruleRef]string) []ruleRef {
	seen := map[ruleRef]bool{}
	var keys []ruleRef
	for _, m := range maps {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(a, b ruleRef) int {
		if c := strings.Compare(a.Instance, b.Instance); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return keys
}

// ruleRef names a rule of an instance in a preview.
type ruleRef struct{ Instance, Rule string }
