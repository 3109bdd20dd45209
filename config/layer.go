package config

import (
	"fmt"
	"slices"
)

// Layer is the part of a configuration that the control API creates and
// keeps in its store: monitors, pools and instances, in their JSON form. The
// Corefile's block is the other layer; a running configuration is the
// Corefile's objects followed by the layer's (Merge), validated as a whole.
type Layer struct {
	Monitors  []MonitorJSON  `json:"monitors,omitempty"`
	Pools     []PoolJSON     `json:"pools,omitempty"`
	Instances []InstanceJSON `json:"instances,omitempty"`
}

// Empty reports whether the layer holds no object.
func (l *Layer) Empty() bool {
	return len(l.Monitors) == 0 && len(l.Pools) == 0 && len(l.Instances) == 0
}

// Clone is a copy of the layer whose lists can be changed without changing
// l's (the objects themselves are shared and never changed in place).
func (l Layer) Clone() Layer {
	return Layer{Monitors: slices.Clone(l.Monitors), Pools: slices.Clone(l.Pools), Instances: slices.Clone(l.Instances)}
}

// Where an object of the API layer is placed, so that an error names it the
// way the API's paths do: "pools/web.addresses[1]".
func layerPath(kind, name string) string { return kind + "/" + name }

// Merge returns base (a validated Corefile configuration) with the layer's
// objects after its own, validated as a whole: names must be unique across
// both layers, and every reference must resolve in their union. base is not
// changed.
func Merge(base *Config, l Layer) (*Config, error) {
	next := *base
	next.Warnings = nil
	next.Monitors = slices.Clip(base.Monitors)
	next.Pools = slices.Clip(base.Pools)
	next.Instances = slices.Clip(base.Instances)
	var arena Arena
	for i := range l.Monitors {
		next.Monitors = append(next.Monitors, MonitorFrom(&l.Monitors[i], layerPath("monitors", l.Monitors[i].Name)))
	}
	for i := range l.Pools {
		p, err := poolFrom(&arena, &l.Pools[i], layerPath("pools", l.Pools[i].Name))
		if err != nil {
			return nil, err
		}
		next.Pools = append(next.Pools, p)
	}
	for i := range l.Instances {
		in, err := instanceFrom(&arena, &l.Instances[i], layerPath("instances", Fqdn(l.Instances[i].Name)))
		if err != nil {
			return nil, err
		}
		next.Instances = append(next.Instances, in)
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	return &next, nil
}

// Owner says which layer an object of a merged configuration came from: the
// Corefile's (with its file and line) or the API's.
func Owner(p Pos) (corefile bool, where string) {
	if p.Line > 0 {
		return true, fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return false, ""
}

// Normalize returns the JSON form of an object as the configuration will
// hold it: names fully qualified, defaults the reader fills in left as
// given. It lets the API answer a write with what was stored.
func (l Layer) Normalize() Layer {
	out := l.Clone()
	for i := range out.Instances {
		out.Instances[i].Name = Fqdn(out.Instances[i].Name)
	}
	return out
}
