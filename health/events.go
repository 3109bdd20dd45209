package health

import (
	"fmt"
	"sync"
	"time"
)

// Event is one state change: of an address (healthy/unhealthy), or of an
// instance's active collection.
type Event struct {
	Time   time.Time
	Object string // "address site-a/192.0.2.1", "instance www.example.org."
	Old    string
	New    string
	Reason string // "http: status 503", "tcp: connection refused", "timeout after 2s", "forced down"
}

func (e Event) String() string {
	return fmt.Sprintf("%s: %s -> %s (%s)", e.Object, e.Old, e.New, e.Reason)
}

// Events is a bounded in-memory history, oldest dropped first.
type Events struct {
	mu   sync.Mutex
	buf  []Event
	next int
	full bool
}

// DefaultHistory is how many events a node keeps.
const DefaultHistory = 1000

// NewEvents keeps the last n events.
func NewEvents(n int) *Events { return &Events{buf: make([]Event, n)} }

// Add records e.
func (h *Events) Add(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf[h.next] = e
	h.next = (h.next + 1) % len(h.buf)
	if h.next == 0 {
		h.full = true
	}
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
