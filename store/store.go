// Package store keeps what the control API changes at run time: the
// configuration objects created through it and the operators' overrides,
// as a chain of whole-state revisions. Every commit names the revision it
// builds on and fails if another commit came first (compare and swap), so
// two operators never silently overwrite each other; every revision keeps
// who made it, when, why and what it changed, so history can be listed and
// any kept revision restored. The interface is what an etcd-backed store of
// a cluster implements as well (etcd's revisions, transactions on a key's
// mod revision and watches map onto it); Bolt is the embedded default.
//
// Beside the revisions, a store keeps a bounded log of gtm's events
// (health changes, switchovers, configuration changes, overrides), so the
// API can list them after a restart.
package store

import (
	"context"
	"errors"
	"time"
)

// Revision is the whole stored state after one change, and the change.
type Revision struct {
	Rev     uint64    // 1 for the first commit; 0 means the store is empty
	Time    time.Time // when it was committed
	Who     string    // the API token's name that made it
	Comment string    // the operator's, optional
	Change  string    // what changed, for history: a description or a diff
	// Data is the whole state at this revision, opaque to the store (the
	// control API's JSON of its configuration layer and overrides).
	Data []byte
}

// Store is a revisioned, compare-and-swap store of one state, and the
// event log kept beside it. The log is part of Store rather than a store of
// its own because it needs what the revisions need: the same durability,
// and in a cluster the same shared place, so any node's API lists every
// node's events; the etcd store keeps events next to its revisions too.
type Store interface {
	EventLog
	// Current is the newest revision; Rev 0 and no data when empty.
	Current(ctx context.Context) (Revision, error)
	// Get is revision rev, or ErrNotFound when it was never written or
	// was pruned.
	Get(ctx context.Context, rev uint64) (Revision, error)
	// Commit stores r as the revision after expect, which must be the
	// current revision (0 for an empty store), and returns it with its Rev
	// and Time set; ErrConflict when another commit came first.
	Commit(ctx context.Context, expect uint64, r Revision) (Revision, error)
	// CommitMany is Commit of several revisions in order, all or none:
	// writes that arrive together share one sync.
	CommitMany(ctx context.Context, expect uint64, rs []Revision) ([]Revision, error)
	// History lists kept revisions older than before (0: from the
	// newest), newest first, at most limit, without their Data.
	History(ctx context.Context, before uint64, limit int) ([]Revision, error)
	// Watch delivers every revision committed after after, in order,
	// until ctx ends; the channel is then closed. A watcher that falls
	// too far behind is dropped (its channel closed early) rather than
	// holding commits back: it reads Current and watches again.
	Watch(ctx context.Context, after uint64) (<-chan Revision, error)
	// Close releases the store. Watch channels are closed.
	Close() error
}

var (
	// ErrConflict is a commit that did not build on the current revision.
	ErrConflict = errors.New("store: the revision changed meanwhile")
	// ErrNotFound is a revision the store does not hold.
	ErrNotFound = errors.New("store: no such revision")
	// ErrClosed is a call on a closed store.
	ErrClosed = errors.New("store: closed")
)

// Event is one thing that happened in gtm, as the event log keeps it. The
// store reads only Seq, Time and the fields a filter names; the rest is the
// caller's.
type Event struct {
	// Seq is assigned by the store on append: strictly increasing in the
	// order appends commit, never reused, even after pruning.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"` // the caller's; the time of the append if zero
	// Kind is what happened: "health", "switchover", "config", "override".
	Kind      string   `json:"kind,omitempty"`
	Object    string   `json:"object,omitempty"` // "address site-a/192.0.2.1", "instance www.example.org."
	Old       string   `json:"old,omitempty"`
	New       string   `json:"new,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Instances []string `json:"instances,omitempty"`
	Rule      string   `json:"rule,omitempty"`
	Pools     []string `json:"pools,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	Node      string   `json:"node,omitempty"` // the node it happened on
}

// EventFilter selects events; a zero field matches every event. Strings
// match exactly.
type EventFilter struct {
	Instance string // one of Event.Instances
	Pool     string // one of Event.Pools
	Address  string // one of Event.Addresses
	Kind     string // Event.Kind
	// Since and Until bound Event.Time: Since <= Time < Until. Events are
	// kept in Seq order, and callers' clocks are assumed to move forward
	// but for small disorder (events batched late, a clock stepped back):
	// a listing stops at the first event older than Since by more than
	// EventClockSlack, so an event out of order by more than that may be
	// left out of a Since listing.
	Since, Until time.Time
	After        uint64 // only events with Seq > After
	Before       uint64 // only events with Seq < Before: the next page
	// Limit is the most events listed: DefaultEventLimit if 0 or less,
	// MaxEventLimit at most.
	Limit int
}

// EventLog is a bounded log of events, the newest KeepEvents kept.
type EventLog interface {
	// AppendEvents stores events in one durable step and returns them
	// with their Seq (consecutive, in the order given) and Time set.
	AppendEvents(ctx context.Context, events []Event) ([]Event, error)
	// Events lists the kept events that match f, newest (highest Seq)
	// first, at most f's limit.
	Events(ctx context.Context, f EventFilter) ([]Event, error)
}

const (
	// KeepEvents is how many events a store keeps; older ones are pruned
	// as new ones are appended.
	KeepEvents = 10000
	// DefaultEventLimit and MaxEventLimit bound a listing.
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
	// EventClockSlack is how far out of time order events may be and
	// still be found by a Since filter.
	EventClockSlack = time.Minute
)

// Keep is how many revisions a store keeps at least; older ones are pruned
// as new ones are committed.
const Keep = 1000
