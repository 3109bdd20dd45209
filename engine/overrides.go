package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
)

// Overrides are an operator's decisions at run time that the configuration
// does not hold: an address forced up or down, an instance or one of its
// rules pinned to one of its collections. They outlive health changes and
// changes of other objects, and are part of the snapshot they were compiled
// into, so an answer and its explanation agree. The zero value overrides
// nothing; a value is never changed once a snapshot holds it.
type Overrides struct {
	modes map[health.Key]config.Mode // by pool and address
	pins  map[string]config.Switch   // by instance name
	rules map[RuleKey]config.Switch  // by instance and rule name; wins over pins
}

// RuleKey names one rule of one instance: the instance's name as the
// configuration holds it ("www.example.org."), and the rule's Name()
// ("default", "country DE AT").
type RuleKey struct{ Instance, Rule string }

// Mode is the mode an address answers with: the override, else its own.
func (o *Overrides) Mode(pool string, a *config.Address) config.Mode {
	if o != nil && o.modes != nil {
		if m, ok := o.modes[health.Key{Pool: pool, Address: a.Value()}]; ok {
			return m
		}
	}
	return a.Mode
}

// Switch is the switch mode an instance answers with: the pin, else its own.
func (o *Overrides) Switch(in *config.Instance) config.Switch {
	if o != nil && o.pins != nil {
		if s, ok := o.pins[in.Name]; ok {
			return s
		}
	}
	return in.Switch
}

// ruleSwitch is the switch mode a rule answers with: its pin, else sw, the
// instance's.
func (o *Overrides) ruleSwitch(instance, rule string, sw config.Switch) config.Switch {
	if o != nil && len(o.rules) > 0 {
		if p, ok := o.rules[RuleKey{instance, rule}]; ok {
			return p
		}
	}
	return sw
}

// pin is the operator's pin a rule answers with, if any: the rule's own,
// else its instance's. scope says which ("rule", "instance").
func (o *Overrides) pin(instance, rule string) (sw config.Switch, scope string, ok bool) {
	if o == nil {
		return 0, "", false
	}
	if sw, ok := o.rules[RuleKey{instance, rule}]; ok {
		return sw, "rule", true
	}
	if sw, ok := o.pins[instance]; ok {
		return sw, "instance", true
	}
	return 0, "", false
}

// Modes lists the address modes overridden.
func (o *Overrides) Modes() map[health.Key]config.Mode {
	if o == nil {
		return nil
	}
	return maps.Clone(o.modes)
}

// Pins lists the instances pinned.
func (o *Overrides) Pins() map[string]config.Switch {
	if o == nil {
		return nil
	}
	return maps.Clone(o.pins)
}

// RulePins lists the rules pinned.
func (o *Overrides) RulePins() map[RuleKey]config.Switch {
	if o == nil {
		return nil
	}
	return maps.Clone(o.rules)
}

// Change is one change to a running engine, applied entirely or not at
// all by Engine.Apply.
type Change struct {
	// Config replaces the whole configuration: it is validated whole,
	// compiled whole (keeping the verdicts of probes that did not change,
	// manual-failback holds of unchanged rules, overrides and counters),
	// and the checks follow. It must keep the zones and the GeoIP file,
	// which belong to the server block. It cannot be combined with Pools.
	Config *config.Config
	// Pools replace the pools of the same name, or are added.
	Pools []*config.Pool
	// Modes override addresses' modes, by pool and address. An address
	// overridden to the mode it is configured with drops its override.
	Modes map[health.Key]config.Mode
	// Pins override instances' switch modes. An instance pinned to the
	// mode it is configured with drops its pin.
	Pins map[string]config.Switch
	// RulePins override one rule's switch mode, over its instance's pin.
	// A rule pinned to the mode its instance answers with (pinned or
	// configured, once Pins are in) drops its pin.
	RulePins map[RuleKey]config.Switch
	// Release ends the manual-failback hold of these instances: a rule
	// held on its secondary goes back to its primary if that is available.
	Release []string
}

// empty reports whether the change changes nothing.
func (c *Change) empty() bool {
	return c.Config == nil && len(c.Pools) == 0 && len(c.Modes) == 0 && len(c.Pins) == 0 && len(c.RulePins) == 0 && len(c.Release) == 0
}

// validateOverrides checks the override part of c against the
// configuration cfg will be once c's pools are in (pool looks pools up).
func validateOverrides(c *Change, instance func(string) *config.Instance, pool func(string) *config.Pool) error {
	for k, m := range c.Modes {
		where := k.Pool + "/" + k.Address
		p := pool(k.Pool)
		if p == nil {
			return fmt.Errorf("mode of %s: there is no pool '%s'", where, k.Pool)
		}
		if addressOf(p, k.Address) == nil {
			return fmt.Errorf("mode of %s: pool '%s' has no address %s", where, k.Pool, k.Address)
		}
		if m > config.ModeDown {
			return fmt.Errorf("mode of %s: unknown mode %d", where, m)
		}
	}
	for name, sw := range c.Pins {
		in := instance(name)
		if in == nil {
			return fmt.Errorf("pin of '%s': there is no such instance", name)
		}
		if sw > config.SwitchSecondary {
			return fmt.Errorf("pin of '%s': unknown switch mode %d", name, sw)
		}
		if sw != config.SwitchSecondary {
			continue
		}
		// As the validator asks of 'switch secondary' in a configuration.
		for _, r := range in.Rules {
			if r.Secondary == nil {
				return fmt.Errorf("pin of '%s' to its secondary: rule '%s' has no secondary collection", name, r.Name())
			}
		}
	}
	for k, sw := range c.RulePins {
		where := fmt.Sprintf("pin of rule '%s' of '%s'", k.Rule, k.Instance)
		in := instance(k.Instance)
		if in == nil {
			return fmt.Errorf("%s: there is no such instance", where)
		}
		r := ruleOf(in, k.Rule)
		if r == nil {
			return fmt.Errorf("%s: the instance has no such rule", where)
		}
		if sw > config.SwitchSecondary {
			return fmt.Errorf("%s: unknown switch mode %d", where, sw)
		}
		if sw == config.SwitchSecondary && r.Secondary == nil {
			return fmt.Errorf("%s to its secondary: the rule has no secondary collection", where)
		}
	}
	for _, name := range c.Release {
		in := instance(name)
		if in == nil {
			return fmt.Errorf("release of '%s': there is no such instance", name)
		}
		if in.Failback != config.Manual {
			return fmt.Errorf("release of '%s': the instance fails back by itself (failback auto): there is no hold to release", name)
		}
	}
	return nil
}

// ruleOf is the instance's rule of that Name(), or nil.
func ruleOf(in *config.Instance, name string) *config.Rule {
	for _, r := range in.Rules {
		if r.Name() == name {
			return r
		}
	}
	return nil
}

func addressOf(p *config.Pool, value string) *config.Address {
	for _, a := range p.Addresses {
		if a.Value() == value {
			return a
		}
	}
	return nil
}

// with returns o with c's overrides in, dropping those that say what the
// configuration says.
func (o *Overrides) with(c *Change, instance func(string) *config.Instance, pool func(string) *config.Pool) *Overrides {
	if len(c.Modes) == 0 && len(c.Pins) == 0 && len(c.RulePins) == 0 {
		return o
	}
	n := &Overrides{modes: o.Modes(), pins: o.Pins(), rules: o.RulePins()}
	for k, m := range c.Modes {
		if n.modes == nil {
			n.modes = map[health.Key]config.Mode{}
		}
		if addressOf(pool(k.Pool), k.Address).Mode == m {
			delete(n.modes, k)
		} else {
			n.modes[k] = m
		}
	}
	for name, sw := range c.Pins {
		if n.pins == nil {
			n.pins = map[string]config.Switch{}
		}
		if instance(name).Switch == sw {
			delete(n.pins, name)
		} else {
			n.pins[name] = sw
		}
	}
	// After the instances' pins: a rule pin says how the rule differs
	// from its instance as the change leaves it.
	for k, sw := range c.RulePins {
		if n.rules == nil {
			n.rules = map[RuleKey]config.Switch{}
		}
		if n.Switch(instance(k.Instance)) == sw {
			delete(n.rules, k)
		} else {
			n.rules[k] = sw
		}
	}
	return n
}

// prune drops the mode overrides of addresses that the replaced pools no
// longer have, so that an address added again later starts from its own.
func (o *Overrides) prune(pools map[string]*config.Pool) *Overrides {
	if o == nil || len(o.modes) == 0 || len(pools) == 0 {
		return o
	}
	var stale []health.Key
	for k := range o.modes {
		if p := pools[k.Pool]; p != nil && addressOf(p, k.Address) == nil {
			stale = append(stale, k)
		}
	}
	if len(stale) == 0 {
		return o
	}
	n := &Overrides{modes: o.Modes(), pins: o.pins, rules: o.rules}
	for _, k := range stale {
		delete(n.modes, k)
	}
	return n
}

// overridden reports whether an address's mode is an operator's.
func (o *Overrides) overridden(k health.Key) bool {
	if o == nil {
		return false
	}
	_, ok := o.modes[k]
	return ok
}

// describe names what a change touches, for its event.
func (c *Change) describe() string {
	var parts []string
	if c.Config != nil {
		parts = append(parts, "configuration "+c.Config.Fingerprint()[:12])
	}
	if len(c.Pools) > 0 {
		names := make([]string, len(c.Pools))
		for i, p := range c.Pools {
			names[i] = p.Name
		}
		slices.Sort(names)
		parts = append(parts, "pools "+strings.Join(names, ", "))
	}
	if len(c.Modes) > 0 {
		var ks []string
		for k, m := range c.Modes {
			ks = append(ks, k.Pool+"/"+k.Address+" mode "+m.String())
		}
		slices.Sort(ks)
		parts = append(parts, "addresses "+strings.Join(ks, ", "))
	}
	if len(c.Pins) > 0 {
		var ps []string
		for name, sw := range c.Pins {
			ps = append(ps, name+" switch "+sw.String())
		}
		slices.Sort(ps)
		parts = append(parts, "instances "+strings.Join(ps, ", "))
	}
	if len(c.RulePins) > 0 {
		var ps []string
		for k, sw := range c.RulePins {
			ps = append(ps, k.Rule+" of "+k.Instance+" switch "+sw.String())
		}
		slices.Sort(ps)
		parts = append(parts, "rules "+strings.Join(ps, ", "))
	}
	if len(c.Release) > 0 {
		parts = append(parts, "released "+strings.Join(slices.Sorted(slices.Values(c.Release)), ", "))
	}
	return strings.Join(parts, "; ")
}

// fit returns o without the overrides that no longer fit a configuration
// (instance and pool look its objects up): modes of addresses it does not
// have, pins of instances or rules it does not have, and pins to the
// secondary of an instance or rule without one (it would answer the
// all-down answer however healthy its primary). A reload or a whole
// configuration applied keeps every override that still means what it
// meant.
func (o *Overrides) fit(instance func(string) *config.Instance, pool func(string) *config.Pool) *Overrides {
	if o == nil || len(o.modes) == 0 && len(o.pins) == 0 && len(o.rules) == 0 {
		return o
	}
	n := &Overrides{}
	for k, m := range o.modes {
		if p := pool(k.Pool); p != nil && addressOf(p, k.Address) != nil {
			if n.modes == nil {
				n.modes = map[health.Key]config.Mode{}
			}
			n.modes[k] = m
		}
	}
	for name, sw := range o.pins {
		in := instance(name)
		if in == nil {
			continue
		}
		if sw == config.SwitchSecondary && slices.ContainsFunc(in.Rules, func(r *config.Rule) bool { return r.Secondary == nil }) {
			continue
		}
		if n.pins == nil {
			n.pins = map[string]config.Switch{}
		}
		n.pins[name] = sw
	}
	for k, sw := range o.rules {
		in := instance(k.Instance)
		if in == nil {
			continue
		}
		r := ruleOf(in, k.Rule)
		if r == nil || sw == config.SwitchSecondary && r.Secondary == nil {
			continue
		}
		if n.rules == nil {
			n.rules = map[RuleKey]config.Switch{}
		}
		n.rules[k] = sw
	}
	return n
}
