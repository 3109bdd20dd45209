package health

import (
	"time"
)

// Record is what is known of one address, from one vantage point.
type Record struct {
	Status Status
	// Vantage is where the verdict was reached: this node ("local") today;
	// a cluster merges the records of several nodes, each with its own.
	Vantage string
	// Since is when Status last changed (the first verdict counts as a
	// change): an operator asks how long an address has been down.
	Since time.Time
	Last  Result // the most recent probe
	// Latency is the smoothed round trip of passing probes as seen from
	// one vantage point. Today that is always this node (Vantage "local");
	// a later multi-node version merges records of several vantages.
	Latency Latency
}

// Latency is an exponentially weighted moving average of round-trip times.
type Latency struct {
	Vantage string
	EWMA    time.Duration
	Samples int
}

// LocalVantage names this node as the vantage of its own probes.
const LocalVantage = "local"

// LatencyAlpha weighs a new sample against the average: high enough to follow
// a real change within a few probes, low enough to ride out one slow probe.
const LatencyAlpha = 0.3

// Add folds one sample into the average.
func (l Latency) Add(rtt time.Duration) Latency {
	if l.Samples == 0 {
		l.EWMA = rtt
	} else {
		l.EWMA = time.Duration(LatencyAlpha*float64(rtt) + (1-LatencyAlpha)*float64(l.EWMA))
	}
	l.Samples++
	if l.Vantage == "" {
		l.Vantage = LocalVantage
	}
	return l
}
