package health

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The kinds of event.
const (
	// KindAddress: an address's verdict changed (healthy, unhealthy).
	KindAddress = "address"
	// KindSwitchover: an instance rule's answer state, and with it its
	// active collection, changed.
	KindSwitchover = "switchover"
	// KindConfig: a configuration started (a start, a reload) or a change
	// of it was applied (a whole configuration, pools).
	KindConfig = "config"
	// KindOverride: an operator's override was applied alone: address
	// modes, instance pins, manual-failback releases.
	KindOverride = "override"
	// KindProbe: this node's own probes changed their verdict on an
	// address while it answers from a cluster's verdicts (KindAddress is
	// then the cluster's verdict, recorded once for the cluster).
	KindProbe = "probe"
	// KindNode: this node lost the cluster's verdicts and fell back on its
	// own probes, or got them back.
	KindNode = "node"
)

// Event is one state change: of an address (healthy/unhealthy), of an
// instance's active collection, of the configuration or of its overrides.
//
// Object, Old, New and Reason say it in words (String, the log line);
// the other fields say what it concerns, so that events can be filtered
// and routed. The objects are lists because one event can concern several:
// a verdict concerns every pool that uses the probed address, and a change
// can pin several instances or set the modes of several addresses. A
// filter by pool, instance or address looks in one list each.
type Event struct {
	// Seq is the event's place in the process's history, from 1, given
	// when it is recorded: a stream resumes after the last Seq it saw.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind string    `json:"kind"` // KindAddress…
	// Object names what changed: "address site-a/192.0.2.1",
	// "instance www.example.org.", "instance www.example.org. rule
	// country DE", "configuration 3fa2c0d1e4b5", "addresses a/192.0.2.1
	// mode down".
	Object string `json:"object"`
	// Instances are the instances concerned: the one that switched, those
	// a change pinned or released.
	Instances []string `json:"instances,omitempty"`
	// Rule is the rule that switched ("default", "country DE AT").
	Rule string `json:"rule,omitempty"`
	// Pools are the pools concerned, sorted: every pool that uses an
	// address whose verdict changed, the pools of the collections an
	// instance switched from and to, the pools a change replaced or added
	// or whose addresses' modes it set. Empty for a whole configuration.
	Pools []string `json:"pools,omitempty"`
	// Addresses are the addresses concerned, as their pools name them:
	// the probed one, those whose modes a change set.
	Addresses []string `json:"addresses,omitempty"`
	// Zones are the zones of the configuration the event belongs to:
	// set for configuration, override and switchover events, so that
	// each gtm block's API keeps its own; empty for a verdict, which
	// every configuration probing the address shares.
	Zones  []string `json:"zones,omitempty"`
	Old    string   `json:"old"`
	New    string   `json:"new"`
	Reason string   `json:"reason"` // "http: status 503", "tcp: connection refused", "timeout after 2s", "forced down"
}

func (e Event) String() string {
	return fmt.Sprintf("%s: %s -> %s (%s)", e.Object, e.Old, e.New, e.Reason)
}

// Events is a bounded in-memory history, oldest dropped first, that also
// hands every event to its subscribers.
type Events struct {
	// OnDrop is told of every event a subscriber lost to a full buffer.
	// Set before the first Add.
	OnDrop func()

	mu   sync.Mutex
	buf  []Event
	next int
	full bool
	seq  uint64
	subs []*Subscription
}

// DefaultHistory is how many events a node keeps.
const DefaultHistory = 1000

// NewEvents keeps the last n events.
func NewEvents(n int) *Events { return &Events{buf: make([]Event, n)} }

// Add records e with the next Seq, gives it to every subscriber whose
// buffer has room, and returns it as recorded. It never waits for a
// subscriber: its callers are probe results, the compile loop and changes,
// which a slow reader must not hold up.
func (h *Events) Add(e Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e.Seq = h.seq
	h.buf[h.next] = e
	h.next = (h.next + 1) % len(h.buf)
	if h.next == 0 {
		h.full = true
	}
	// Under the lock, so that every subscriber sees the events in Seq
	// order and none is sent to after Close.
	for _, s := range h.subs {
		select {
		case s.c <- e:
		default:
			s.dropped.Add(1)
			if h.OnDrop != nil {
				h.OnDrop()
			}
		}
	}
	return e
}

// List returns the history, oldest first.
func (h *Events) List() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.full {
		return append([]Event(nil), h.buf[:h.next]...)
	}
	return append(append([]Event(nil), h.buf[h.next:]...), h.buf[:h.next]...)
}

// Since returns the events of the history recorded after seq, oldest
// first: all it holds for 0. When the history no longer holds the event
// after seq, the first one returned has a Seq above seq+1, which tells the
// reader that events were lost.
func (h *Events) Since(seq uint64) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if seq >= h.seq {
		return nil
	}
	held := h.next
	if h.full {
		held = len(h.buf)
	}
	n := min(int(h.seq-seq), held)
	out := make([]Event, n)
	// The newest n, oldest first: they end just before next.
	for i := range n {
		out[i] = h.buf[(h.next-n+i+len(h.buf))%len(h.buf)]
	}
	return out
}

// Subscription receives the events recorded after it was made, in Seq
// order, until it is closed.
//
// To resume a stream without a gap: subscribe first, then read Since(the
// last Seq seen), then read C skipping events whose Seq is not above the
// last one sent.
type Subscription struct {
	// C delivers the events; it is closed by Close.
	C <-chan Event

	c       chan Event
	h       *Events
	dropped atomic.Uint64
	closed  bool // under h.mu
}

// Subscribe returns a subscription with room for buffer events (at least
// one). A subscriber that does not keep up loses the events that find its
// buffer full, and Dropped counts them.
func (h *Events) Subscribe(buffer int) *Subscription {
	c := make(chan Event, max(buffer, 1))
	s := &Subscription{C: c, c: c, h: h}
	h.mu.Lock()
	h.subs = append(h.subs, s)
	h.mu.Unlock()
	return s
}

// Dropped is how many events the subscription lost to a full buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes C (the events still buffered can
// be read first). It may be called more than once.
func (s *Subscription) Close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if i := slices.Index(h.subs, s); i >= 0 {
		h.subs = slices.Delete(h.subs, i, i+1) // clears the freed cell: s can go
	}
	close(s.c)
}
