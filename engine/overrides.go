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
// does not hold: an address forced up or down, an instance pinned to one of
// its collections. They outlive health changes and changes of other
// objects, and are part of the snapshot they were compiled into, so an
// answer and its explanation agree. The zero value overrides nothing; a
// value is never changed once a snapshot holds it.
type Overrides struct {
	modes map[health.Key]config.Mode // by pool and address
	pins  map[string]config.Switch   // by instance name
}

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
	// Release ends the manual-failback hold of these instances: a rule
	// held on its secondary goes back to its primary if that is available.
	Release []string
}

// empty reports whether the change changes nothing.
func (c *Change) empty() bool {
	return c.Config == nil && len(c.Pools) == 0 && len(c.Modes) == 0 && len(c.Pins) == 0 && len(c.Release) == 0
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
	if len(c.Modes) == 0 && len(c.Pins) == 0 {
		return o
	}
	n := &Overrides{modes: o.Modes(), pins: o.Pins()}
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
	n := &Overrides{modes: o.Modes(), pins: o.pins}
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
	if len(c.Release) > 0 {
		parts = append(parts, "released "+strings.Join(slices.Sorted(slices.Values(c.Release)), ", "))
	}
	return strings.Join(parts, "; ")
}

// fit returns o without the overrides that no longer fit a configuration
// (instance and pool look its objects up): modes of addresses it does not
// have, pins of instances it does not have, and pins to the secondary of
// an instance with a rule that has none (it would answer the all-down
// answer however healthy its primary). A reload or a whole configuration
// applied keeps every override that still means what it meant.
func (o *Overrides) fit(instance func(string) *config.Instance, pool func(string) *config.Pool) *Overrides {
	if o == nil || len(o.modes) == 0 && len(o.pins) == 0 {
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
	return n
}
