// Package store keeps what the control API changes at run time: the
// configuration objects created through it and the operators' overrides,
// as a chain of whole-state revisions. Every commit names the revision it
// builds on and fails if another commit came first (compare and swap), so
// two operators never silently overwrite each other; every revision keeps
// who made it, when, why and what it changed, so history can be listed and
// any kept revision restored. The interface is what an etcd-backed store of
// a cluster implements as well (etcd's revisions, transactions on a key's
// mod revision and watches map onto it); Bolt is the embedded default.
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

// Store is a revisioned, compare-and-swap store of one state.
type Store interface {
	// Current is the newest revision; Rev 0 and no data when empty.
	Current(ctx context.Context) (Revision, error)
	// Get is revision rev, or ErrNotFound when it was never written or
	// was pruned.
	Get(ctx context.Context, rev uint64) (Revision, error)
	// Commit stores r as the revision after expect, which must be the
	// current revision (0 for an empty store), and returns it with its Rev
	// and Time set; ErrConflict when another commit came first.
	Commit(ctx context.Context, expect uint64, r Revision) (Revision, error)
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

// Keep is how many revisions a store keeps at least; older ones are pruned
// as new ones are committed.
const Keep = 1000
