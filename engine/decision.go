package engine

import (
	"net/netip"
	"strings"

	"github.com/gtm-project/gtm/policy"
)

// Decision is why a query got its answer: the instance, the rule that
// matched, its answer state, the pools answered from and the client's
// subnet the decision used. Answer fills it when Query.Decision is set
// (the CoreDNS metadata plugin is in use), and only then, so that a server
// without it pays nothing.
type Decision struct {
	Instance string // "" when no instance answered (another name, NXDOMAIN, the apex)
	Rule     string // "default", "country DE AT"
	State    State  // the rule's answer state
	Client   netip.Prefix
	pools    [4]string // the first pools answered from, in answer order
	npools   int
}

// StateWord is the state as primary, secondary or all-down (what the rule
// answers when no collection is available: fail-open, fallback, NODATA or
// SERVFAIL); "" when no rule decided.
func (d *Decision) StateWord() string {
	if d.State == "" {
		return ""
	}
	return stateWord(d.State)
}

// Pools are the pools the answer came from, comma-separated ("" for none,
// "fallback" for all-down fallback addresses).
func (d *Decision) Pools() string { return strings.Join(d.pools[:d.npools], ",") }

// addPools records the pools of picks after those recorded (a dual-stack
// answer has two families), each once.
func (d *Decision) addPools(picks []*policy.Addr) {
	for _, a := range picks {
		name := a.Pool.Name
		seen := false
		for _, p := range d.pools[:d.npools] {
			seen = seen || p == name
		}
		if !seen && d.npools < len(d.pools) {
			d.pools[d.npools] = name
			d.npools++
		}
	}
}
