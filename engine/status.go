package engine

import (
	"slices"
	"strings"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/health"
	"github.com/miekg/dns"
)

// The control API serves these types as they are: field names are
// written as the Corefile writes its keywords (lower case, hyphens), and
// every value is a word gtm already uses (modes, switch modes, states,
// health verdicts).

// Status is a running configuration's state: every instance with what
// its rules answer, and every pool with its addresses' modes and health.
// It is read from one snapshot, the one answers come from, so instances
// and pools agree with each other and with the answers.
type Status struct {
	// Serial is the zones' SOA serial: it follows the configuration.
	Serial    uint32           `json:"serial"`
	Instances []InstanceStatus `json:"instances"` // in configuration order
	Pools     []PoolStatus     `json:"pools"`     // in configuration order
}

// InstanceStatus is one managed name's state.
type InstanceStatus struct {
	Name   string `json:"name"`   // fully qualified: "www.example.org."
	Type   string `json:"type"`   // A, AAAA, CNAME, or A+AAAA (dual-stack)
	Policy string `json:"policy"` // geo or latency
	// Records are the types it answers with data: A, AAAA or CNAME, and
	// HTTPS and SVCB when it opted in.
	Records []string `json:"records"`
	// Failover is how a dual-stack instance's families fail over:
	// together or separate; empty for other instances.
	Failover string `json:"failover,omitempty"`
	// TTL is the TTL its answers carry now: the lowest of its rules'
	// (they differ only while some rules are degraded).
	TTL      uint32       `json:"ttl"`
	Switch   string       `json:"switch"`        // as configured: auto, primary or secondary
	Pin      string       `json:"pin,omitempty"` // an operator's pin of the whole instance
	Failback string       `json:"failback"`      // preemptive or manual
	AllDown  string       `json:"all-down"`      // what it answers when no collection is available
	Rules    []RuleStatus `json:"rules"`         // in configuration order
}

// RuleStatus is what one rule of an instance answers.
type RuleStatus struct {
	Name  string `json:"name"` // as written: "default", "country DE AT"
	State State  `json:"state"`
	// Families are what a dual-stack rule answers for A and for AAAA;
	// State is then the one farther from the primary.
	Families []FamilyStatus `json:"families,omitempty"`
	// ActiveCollection is what it answers from: primary, secondary,
	// fail-open (the addresses fail-open keeps) or fallback (the
	// instance's fallback addresses); empty for nodata and servfail.
	ActiveCollection string `json:"active-collection,omitempty"`
	Why              string `json:"why"`
	// Degraded: serving anything but the primary (unless pinned), or an
	// address it answers from is down or not yet probed; TTL is then the
	// degraded TTL.
	Degraded bool   `json:"degraded"`
	TTL      uint32 `json:"ttl"`
	// Pin is the operator's pin it answers with (its own, or its
	// instance's), if any.
	Pin *Pin `json:"pin,omitempty"`
	// FailbackHold: manual failback keeps the rule on its secondary
	// although its primary is available again, until an operator
	// releases the instance.
	FailbackHold bool `json:"failback-hold"`
}

// Pin is an operator's pin of a rule to a switch mode.
type Pin struct {
	Switch string `json:"switch"` // auto, primary or secondary
	Scope  string `json:"scope"`  // "rule" (the rule's own pin) or "instance" (its instance's)
	// Replaces is the switch mode the rule would have without the pin:
	// its instance's (pinned or configured) for a rule's pin, the
	// configured one for an instance's.
	Replaces string `json:"replaces"`
}

// PoolStatus is one pool's state.
type PoolStatus struct {
	Name         string `json:"name"`
	Type         string `json:"type"` // A, AAAA or CNAME
	Available    bool   `json:"available"`
	Method       string `json:"method"`
	MinAvailable string `json:"min-available"` // a count, or a share like "50%"
	Usable       int    `json:"usable"`        // addresses that may be answered
	Total        int    `json:"total"`
	Monitor      string `json:"monitor,omitempty"`
	// Latency is the mean smoothed round trip of its usable, measured
	// addresses, if any is measured.
	Latency *Duration `json:"latency,omitempty"`
	// LatencyFrom is the same mean as measured from the cluster's other
	// vantage points, for those that measured any: a latency instance
	// answers a client near one of them by these.
	LatencyFrom []VantageLatency `json:"latency-from,omitempty"`
	// Location is where the pool's site is (the nearest policy), and
	// Bias how its distances count.
	Location  *config.LocationJSON `json:"location,omitempty"`
	Bias      int                  `json:"bias,omitempty"`
	Addresses []AddressStatus      `json:"addresses"` // in configuration order
}

// AddressStatus is one address of a pool: its mode and its health.
type AddressStatus struct {
	Value  string `json:"value"` // as answered: an IP address or a name
	Weight int    `json:"weight"`
	Mode   string `json:"mode"` // as configured: auto, up or down
	// Override is the mode an operator set, if any; EffectiveMode is the
	// one answers follow.
	Override      string `json:"override,omitempty"`
	EffectiveMode string `json:"effective-mode"`
	// Usable: its mode and health let it be answered.
	Usable bool `json:"usable"`
	Probed bool `json:"probed"` // a monitor probes it
	// Health is the probes' verdict: healthy, unhealthy, or unknown (not
	// probed, or no verdict yet).
	Health string `json:"health"`
	// Since is when the verdict last changed.
	Since     time.Time      `json:"since,omitzero"`
	Vantage   string         `json:"vantage,omitempty"` // where the verdict was reached: "local", or "cluster" (the quorum of the nodes voting on it)
	LastProbe *ProbeStatus   `json:"last-probe,omitempty"`
	Latency   *LatencyStatus `json:"latency,omitempty"` // once a probe has measured it
	// LatencyFrom is its smoothed round trip as the other vantage points
	// measure it (the mean over the live nodes at each).
	LatencyFrom []VantageLatency `json:"latency-from,omitempty"`
}

// VantageLatency is a latency as measured from a vantage point.
type VantageLatency struct {
	config.Vantage
	Average Duration `json:"average"`
}

// sortVantageLatencies orders by region, so that status reads the same
// from one request to the next.
func sortVantageLatencies(l []VantageLatency) {
	slices.SortFunc(l, func(a, b VantageLatency) int { return strings.Compare(a.Region, b.Region) })
}

// ProbeStatus is the outcome of a probe.
type ProbeStatus struct {
	OK    bool      `json:"ok"`
	Time  time.Time `json:"time"` // when it started
	Error string    `json:"error,omitempty"`
	RTT   Duration  `json:"rtt"`
}

// LatencyStatus is an address's smoothed round trip.
type LatencyStatus struct {
	Average Duration `json:"average"` // exponentially weighted
	Samples int      `json:"samples"`
	Vantage string   `json:"vantage"`
}

// Duration is a time.Duration written as the Corefile writes one
// ("716us", "1.5s"), in ASCII.
type Duration time.Duration

func (d Duration) String() string { return ascii(time.Duration(d)) }

// MarshalText writes d as String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads what MarshalText writes (any time.ParseDuration form).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Status is the state of every instance and pool. It reads the current
// snapshot once and takes no lock, so it never holds up answers or
// compiles; at 100,000 instances it allocates in proportion.
//
// An address's health is the record the snapshot was compiled from when
// explain is on; otherwise it is read from its check as Status runs, and
// may be a verdict ahead of the pools' availability.
func (e *Engine) Status() Status {
	s := e.snap.Load()
	st := Status{Serial: s.serial, Instances: make([]InstanceStatus, 0, len(s.cfg.Instances)),
		Pools: make([]PoolStatus, 0, len(s.cfg.Pools))}
	for _, ci := range s.cfg.Instances {
		if in := s.instance(ci.Name); in != nil {
			st.Instances = append(st.Instances, instanceStatus(s, in))
		}
	}
	for _, p := range s.cfg.Pools {
		st.Pools = append(st.Pools, e.poolStatus(s, p))
	}
	return st
}

// InstanceStatus is one instance's state, by name ("www.example.org",
// with or without the final dot, any case).
func (e *Engine) InstanceStatus(name string) (InstanceStatus, bool) {
	s := e.snap.Load()
	in := s.instance(config.Fqdn(name))
	if in == nil {
		return InstanceStatus{}, false
	}
	return instanceStatus(s, in), true
}

// PoolStatus is one pool's state, by name.
func (e *Engine) PoolStatus(name string) (PoolStatus, bool) {
	s := e.snap.Load()
	p := s.idx.pools.get(name)
	if p == nil {
		return PoolStatus{}, false
	}
	return e.poolStatus(s, p), true
}

func instanceStatus(s *snapshot, in *instance) InstanceStatus {
	ci := in.src
	st := InstanceStatus{Name: in.name, Type: in.typeName(), Policy: ci.Policy.String(),
		Switch: ci.Switch.String(), Failback: ci.Failback.String(), AllDown: ci.AllDown.String(),
		Rules: make([]RuleStatus, len(in.rules))}
	if s.over != nil {
		if sw, ok := s.over.pins[in.name]; ok {
			st.Pin = sw.String()
		}
	}
	for i, r := range in.rules {
		if i == 0 || r.ttl < st.TTL {
			st.TTL = r.ttl
		}
		st.Rules[i] = RuleStatus{Name: r.name, State: r.state, ActiveCollection: activeCollection(r.state),
			Why: r.why, Degraded: r.degraded, TTL: r.ttl, Pin: s.over.pinOf(ci, r.name), FailbackHold: r.held,
			Families: families(r)}
	}
	if in.dual {
		st.Failover = ci.Failover.String()
	}
	st.Records = in.records()
	return st
}

// FamilyStatus is what a dual-stack rule answers for one address family.
type FamilyStatus struct {
	Type             string `json:"type"` // A or AAAA
	State            State  `json:"state"`
	ActiveCollection string `json:"active-collection,omitempty"`
	Why              string `json:"why"`
	Degraded         bool   `json:"degraded"`
	TTL              uint32 `json:"ttl"`
	// Pools are the pools of the family it answers from now; empty when
	// the active collection has none (the family gets NODATA).
	Pools []string `json:"pools"`
}

// families is the family status of a dual-stack rule, nil for others.
func families(r *rule) []FamilyStatus {
	if r.fam == nil {
		return nil
	}
	out := make([]FamilyStatus, len(r.fam))
	for i := range r.fam {
		f := &r.fam[i]
		out[i] = FamilyStatus{Type: dualTypes[i].String(), State: f.state, ActiveCollection: activeCollection(f.state),
			Why: f.why, Degraded: f.degraded, TTL: f.ttl, Pools: []string{}}
		if f.active != nil {
			for _, m := range f.active.Avail {
				out[i].Pools = append(out[i].Pools, m.Pool.Name)
			}
		}
	}
	return out
}

// records are the types the instance answers with data.
func (in *instance) records() []string {
	out := []string{typeName(in.qtype)}
	if in.dual {
		out = []string{"A", "AAAA"}
	}
	if in.svcFor(dns.TypeHTTPS) != nil {
		out = append(out, "HTTPS")
	}
	if in.svcFor(dns.TypeSVCB) != nil {
		out = append(out, "SVCB")
	}
	return out
}

// typeName is what the instance answers: A, AAAA, CNAME, or A+AAAA.
func (in *instance) typeName() string {
	if in.dual {
		return "A+AAAA"
	}
	return typeName(in.qtype)
}

// pinOf is the operator's pin a rule of in answers with, nil for none.
func (o *Overrides) pinOf(in *config.Instance, rule string) *Pin {
	sw, scope, ok := o.pin(in.Name, rule)
	if !ok {
		return nil
	}
	replaces := in.Switch
	if scope == "rule" {
		replaces = o.Switch(in)
	}
	return &Pin{Switch: sw.String(), Scope: scope, Replaces: replaces.String()}
}

// activeCollection names what a rule in state answers from.
func activeCollection(state State) string {
	switch state {
	case StatePrimary, StateSecondary, StateFailOpen, StateFallback:
		return string(state)
	}
	return ""
}

func typeName(qtype uint16) string {
	switch qtype {
	case qtypeOf(config.TypeAAAA):
		return config.TypeAAAA.String()
	case qtypeOf(config.TypeCNAME):
		return config.TypeCNAME.String()
	}
	return config.TypeA.String()
}

// poolStatus is p's state in s.
func (e *Engine) poolStatus(s *snapshot, p *config.Pool) PoolStatus {
	st := PoolStatus{Name: p.Name, Type: p.Type.String(), Method: p.Method.String(),
		MinAvailable: p.MinAvailable.String(), Total: len(p.Addresses), Monitor: p.Monitor, Bias: p.Bias}
	if l := p.Location; l != nil {
		st.Location = &config.LocationJSON{Lat: l.Lat, Lon: l.Lon}
	}
	cp := s.pools.get(p.Name)
	if cp != nil {
		st.Available, st.Usable = cp.pool.Available, cp.pool.Usable
		if cp.measured {
			d := Duration(cp.latency)
			st.Latency = &d
		}
		for v, d := range cp.far {
			st.LatencyFrom = append(st.LatencyFrom, VantageLatency{Vantage: v, Average: Duration(d)})
		}
		sortVantageLatencies(st.LatencyFrom)
	}
	st.Addresses = make([]AddressStatus, len(p.Addresses))
	for i, a := range p.Addresses {
		st.Addresses[i] = e.addressStatus(s, cp, p.Name, i, a)
	}
	return st
}

// addressStatus is the i-th address of pool as s answers it. Its record is
// the one s was compiled from, when s keeps them (explain on), so that an
// explanation describes the state that made the answer; else the check's.
func (e *Engine) addressStatus(s *snapshot, cp *cpool, pool string, i int, a *config.Address) AddressStatus {
	k := health.Key{Pool: pool, Address: a.Value()}
	var rec health.Record
	var probed bool
	if cp != nil && cp.records != nil {
		rec, probed = cp.records[i], cp.probed[i]
	} else {
		rec, probed = e.Get(k)
	}
	if v, ok := e.clusterVerdict(k); ok {
		// The answers follow the cluster (Health), and so does the
		// status: a probe-off node has no record of its own.
		if v != rec.Status {
			rec.Since = time.Time{}
		}
		rec.Status, rec.Vantage = v, "cluster"
	}
	mode := s.over.Mode(pool, a)
	st := AddressStatus{Value: k.Address, Weight: a.Weight, Mode: a.Mode.String(), EffectiveMode: mode.String(),
		Usable: health.Usable(mode, rec.Status), Probed: probed, Health: rec.Status.String(),
		Since: rec.Since, Vantage: rec.Vantage}
	if s.over.overridden(k) {
		st.Override = mode.String()
	}
	if probed && !rec.Last.Start.IsZero() {
		st.LastProbe = &ProbeStatus{OK: rec.Last.OK, Time: rec.Last.Start, RTT: Duration(rec.Last.RTT)}
		if !rec.Last.OK && rec.Last.Err != nil {
			st.LastProbe.Error = rec.Last.Err.Error()
		}
	}
	if rec.Latency.Samples > 0 {
		st.Latency = &LatencyStatus{Average: Duration(rec.Latency.EWMA), Samples: rec.Latency.Samples, Vantage: rec.Latency.Vantage}
	}
	if vl := (view{e}).vantages(); vl != nil {
		for _, v := range vl.Vantages() {
			if d, ok := vl.LatencyFrom(v, k); ok {
				st.LatencyFrom = append(st.LatencyFrom, VantageLatency{Vantage: v, Average: Duration(d)})
			}
		}
		sortVantageLatencies(st.LatencyFrom)
	}
	return st
}
