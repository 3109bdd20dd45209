package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/health"
)

// state is what the store holds at each revision: the API's layer of the
// configuration and the operators' overrides. It is stored whole, so that a
// revision can be restored by itself.
type state struct {
	Config    config.Layer `json:"config"`
	Overrides Overrides    `json:"overrides"`
}

// Overrides are the operators' decisions in force: address modes and
// switch pins, each with who made it, when and why.
type Overrides struct {
	Addresses []AddressOverride `json:"addresses" nullable:"false"`
	Pins      []PinOverride     `json:"pins" nullable:"false"`
}

// AddressOverride sets an address's mode whatever its configuration says.
type AddressOverride struct {
	Pool    string    `json:"pool"`
	Address string    `json:"address"`
	Mode    string    `json:"mode" enum:"drain,force,auto" doc:"drain: answer as down; force: answer as up; auto: as health checks say"`
	Who     string    `json:"who"`
	Time    time.Time `json:"time"`
	Reason  string    `json:"reason,omitempty"`
}

// PinOverride holds an instance (or one of its rules) on a collection.
type PinOverride struct {
	Instance string    `json:"instance"`
	Rule     string    `json:"rule,omitempty" doc:"one rule, named as its match reads ('default', 'country DE AT'); empty for the whole instance"`
	Switch   string    `json:"switch" enum:"auto,primary,secondary"`
	Who      string    `json:"who"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason,omitempty"`
}

// lists is o with empty lists rather than nil ones, which JSON would
// write as null.
func (o Overrides) lists() Overrides {
	if o.Addresses == nil {
		o.Addresses = []AddressOverride{}
	}
	if o.Pins == nil {
		o.Pins = []PinOverride{}
	}
	return o
}

func decodeState(data []byte) (state, error) {
	var s state
	if len(data) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("the stored state is unreadable: %w", err)
	}
	return s, nil
}

func (s state) encode() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // the state is made of plain values
	}
	return b
}

// clone copies the lists a change edits.
func (s state) clone() state {
	return state{Config: s.Config.Clone(), Overrides: Overrides{
		Addresses: slices.Clone(s.Overrides.Addresses), Pins: slices.Clone(s.Overrides.Pins)}}
}

var modeOf = map[string]config.Mode{"drain": config.ModeDown, "force": config.ModeUp, "auto": config.ModeAuto}

func modeName(m config.Mode) string {
	for k, v := range modeOf {
		if v == m {
			return k
		}
	}
	return m.String()
}

// fit drops the overrides that no longer refer to anything in cfg, and
// returns the descriptions of those dropped.
func (o Overrides) fit(cfg *config.Config) (Overrides, []string) {
	var dropped []string
	out := Overrides{Addresses: []AddressOverride{}, Pins: []PinOverride{}}
	for _, a := range o.Addresses {
		p := cfg.Pool(a.Pool)
		if p == nil || addressIn(p, a.Address) == nil {
			dropped = append(dropped, fmt.Sprintf("override of %s/%s dropped: the address is gone", a.Pool, a.Address))
			continue
		}
		out.Addresses = append(out.Addresses, a)
	}
	for _, p := range o.Pins {
		in := cfg.Instance(p.Instance)
		if in == nil || (p.Rule != "" && ruleIn(in, p.Rule) == nil) {
			dropped = append(dropped, fmt.Sprintf("pin of %s dropped: it is gone", pinName(p)))
			continue
		}
		// As the engine asks: a pin to the secondary needs one in every
		// rule it pins.
		if p.Switch == config.SwitchSecondary.String() {
			if r := withoutSecondary(in, p.Rule); r != nil {
				dropped = append(dropped, fmt.Sprintf("pin of %s to its secondary dropped: rule '%s' has no secondary collection", pinName(p), r.Name()))
				continue
			}
		}
		out.Pins = append(out.Pins, p)
	}
	return out, dropped
}

// withoutSecondary is the first rule of in (or the rule named, if one is)
// that has no secondary collection.
func withoutSecondary(in *config.Instance, rule string) *config.Rule {
	for _, r := range in.Rules {
		if (rule == "" || r.Name() == rule) && r.Secondary == nil {
			return r
		}
	}
	return nil
}

func pinName(p PinOverride) string {
	if p.Rule != "" {
		return fmt.Sprintf("%s rule '%s'", p.Instance, p.Rule)
	}
	return p.Instance
}

func addressIn(p *config.Pool, value string) *config.Address {
	for _, a := range p.Addresses {
		if a.Value() == value {
			return a
		}
	}
	return nil
}

func ruleIn(in *config.Instance, name string) *config.Rule {
	for _, r := range in.Rules {
		if r.Name() == name {
			return r
		}
	}
	return nil
}

// change is the engine change that makes a running configuration answer
// with the overrides o: every override in o, and for those the engine
// holds that o no longer has, the configured mode (which drops them).
func (o Overrides) change(cfg *config.Config, running *engine.Overrides) engine.Change {
	c := engine.Change{Modes: map[health.Key]config.Mode{}, Pins: map[string]config.Switch{}, RulePins: map[engine.RuleKey]config.Switch{}}
	for k := range running.Modes() {
		if p := cfg.Pool(k.Pool); p != nil {
			if a := addressIn(p, k.Address); a != nil {
				c.Modes[k] = a.Mode
			}
		}
	}
	for name := range running.Pins() {
		if in := cfg.Instance(name); in != nil {
			c.Pins[name] = in.Switch
		}
	}
	// A rule pin goes by pinning the rule to what its instance answers
	// with: the instance's pin, else its configuration.
	instSwitch := func(in *config.Instance) config.Switch {
		for _, p := range o.Pins {
			if p.Instance == in.Name && p.Rule == "" {
				sw, _ := config.ParseSwitch(p.Switch)
				return sw
			}
		}
		return in.Switch
	}
	for k := range running.RulePins() {
		if in := cfg.Instance(k.Instance); in != nil && ruleIn(in, k.Rule) != nil {
			c.RulePins[k] = instSwitch(in)
		}
	}
	modes, pins, rules := running.Modes(), running.Pins(), running.RulePins()
	for _, a := range o.Addresses {
		k := health.Key{Pool: a.Pool, Address: a.Address}
		if m, ok := modes[k]; ok && m == modeOf[a.Mode] {
			delete(c.Modes, k) // in force already
			continue
		}
		c.Modes[k] = modeOf[a.Mode]
	}
	for _, p := range o.Pins {
		sw, _ := config.ParseSwitch(p.Switch)
		if p.Rule != "" {
			k := engine.RuleKey{Instance: p.Instance, Rule: p.Rule}
			if cur, ok := rules[k]; ok && cur == sw {
				delete(c.RulePins, k)
				continue
			}
			c.RulePins[k] = sw
		} else {
			if cur, ok := pins[p.Instance]; ok && cur == sw {
				delete(c.Pins, p.Instance)
				continue
			}
			c.Pins[p.Instance] = sw
		}
	}
	return c
}

// describe says what changed between two states, for history: the objects
// added, changed and removed, and the overrides set and cleared.
func describe(old, now state) string {
	var parts []string
	diff := func(kind string, before, after map[string][]byte) {
		for _, name := range sortedKeys(after) {
			if b, ok := before[name]; !ok {
				parts = append(parts, fmt.Sprintf("%s '%s' created", kind, name))
			} else if string(b) != string(after[name]) {
				parts = append(parts, fmt.Sprintf("%s '%s' changed", kind, name))
			}
		}
		for _, name := range sortedKeys(before) {
			if _, ok := after[name]; !ok {
				parts = append(parts, fmt.Sprintf("%s '%s' deleted", kind, name))
			}
		}
	}
	diff("monitor", docs(old.Config.Monitors, func(m config.MonitorJSON) string { return m.Name }), docs(now.Config.Monitors, func(m config.MonitorJSON) string { return m.Name }))
	diff("pool", docs(old.Config.Pools, func(p config.PoolJSON) string { return p.Name }), docs(now.Config.Pools, func(p config.PoolJSON) string { return p.Name }))
	diff("instance", docs(old.Config.Instances, func(i config.InstanceJSON) string { return i.Name }), docs(now.Config.Instances, func(i config.InstanceJSON) string { return i.Name }))
	diff("override", docs(old.Overrides.Addresses, func(a AddressOverride) string { return a.Pool + "/" + a.Address }), docs(now.Overrides.Addresses, func(a AddressOverride) string { return a.Pool + "/" + a.Address }))
	diff("pin", docs(old.Overrides.Pins, pinName), docs(now.Overrides.Pins, pinName))
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, "; ")
}

// ObjectChange is one object a revision created, changed or deleted, with
// its JSON before and after (absent when it did not exist).
type ObjectChange struct {
	Kind   string          `json:"kind" enum:"monitor,pool,instance,override,pin"`
	Name   string          `json:"name"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// changes lists the objects that differ between two states.
func changes(old, now state) []ObjectChange {
	out := []ObjectChange{}
	diff := func(kind string, before, after map[string][]byte) {
		for _, name := range sortedKeys(after) {
			if b, ok := before[name]; !ok || string(b) != string(after[name]) {
				out = append(out, ObjectChange{Kind: kind, Name: name, Before: b, After: after[name]})
			}
		}
		for _, name := range sortedKeys(before) {
			if _, ok := after[name]; !ok {
				out = append(out, ObjectChange{Kind: kind, Name: name, Before: before[name]})
			}
		}
	}
	diff("monitor", docs(old.Config.Monitors, func(m config.MonitorJSON) string { return m.Name }), docs(now.Config.Monitors, func(m config.MonitorJSON) string { return m.Name }))
	diff("pool", docs(old.Config.Pools, func(p config.PoolJSON) string { return p.Name }), docs(now.Config.Pools, func(p config.PoolJSON) string { return p.Name }))
	diff("instance", docs(old.Config.Instances, func(i config.InstanceJSON) string { return i.Name }), docs(now.Config.Instances, func(i config.InstanceJSON) string { return i.Name }))
	diff("override", docs(old.Overrides.Addresses, func(a AddressOverride) string { return a.Pool + "/" + a.Address }), docs(now.Overrides.Addresses, func(a AddressOverride) string { return a.Pool + "/" + a.Address }))
	diff("pin", docs(old.Overrides.Pins, pinName), docs(now.Overrides.Pins, pinName))
	return out
}

func docs[T any](list []T, name func(T) string) map[string][]byte {
	m := make(map[string][]byte, len(list))
	for _, v := range list {
		b, _ := json.Marshal(v)
		m[name(v)] = b
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
