package health

import (
	"sync"
	"time"
)

// Record is what is known of one address.
type Record struct {
	Status Status
	Last   Result // the most recent probe
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
		l.Vantage = "local"
	}
	return l
}

// Table holds the current status of every probed address. Probers write it;
// the plugin reads it when it compiles a snapshot, never per query.
type Table struct {
	mu sync.RWMutex
	m  map[Key]Record
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{m: make(map[Key]Record)} }

// Set stores the record of k.
func (t *Table) Set(k Key, r Record) {
	t.mu.Lock()
	t.m[k] = r
	t.mu.Unlock()
}

// Get returns the record of k.
func (t *Table) Get(k Key) (Record, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.m[k]
	return r, ok
}

// Latency returns the smoothed latency of k, and whether it was measured.
func (t *Table) Latency(k Key) (time.Duration, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	l := t.m[k].Latency
	return l.EWMA, l.Samples > 0
}

// Status implements View.
func (t *Table) Status(k Key) Status {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.m[k].Status
}
