// Package health holds the health state of addresses: what probes say of
// them, and how that combines with an address's administrative mode. The
// probers that drive it come in their own files; the plugin reads the state
// only when it compiles a new snapshot, never on the query path.
package health

import (
	"time"

	"github.com/gtm-project/gtm/config"
)

// Status is what health checks say of an address.
type Status uint8

const (
	Unknown   Status = iota // not probed yet, or no monitor
	Healthy                 // passed `rise` checks in a row
	Unhealthy               // failed `fall` checks in a row
)

func (s Status) String() string {
	return [...]string{"unknown", "healthy", "unhealthy"}[s]
}

// Usable reports whether an address may be answered: a forced mode wins over
// probes, and an address nobody has probed counts as healthy, so that a node
// answers with every configured address before its first probe round.
func Usable(m config.Mode, s Status) bool {
	switch m {
	case config.ModeUp:
		return true
	case config.ModeDown:
		return false
	}
	return s != Unhealthy
}

// Key names one address of one pool: the same IP in two pools can be probed
// by different monitors, so its state belongs to the pair.
type Key struct {
	Pool    string
	Address string
}

// View is a read-only picture of probe results at one moment.
type View interface {
	Status(Key) Status
	// Latency is the smoothed round trip to the address, if measured.
	Latency(Key) (time.Duration, bool)
}

// Static is a View from a plain map; addresses not in it are Unknown and
// unmeasured. It serves in tests.
type Static map[Key]Status

// Status implements View.
func (s Static) Status(k Key) Status { return s[k] }

// Latency implements View: a Static view measures nothing.
func (s Static) Latency(Key) (time.Duration, bool) { return 0, false }
