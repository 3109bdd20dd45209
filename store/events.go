package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	// bucketEvents holds the events by Seq, 8 bytes big-endian, so a
	// cursor walks them in Seq order.
	bucketEvents = []byte("events")
	// keyEventSeq, in the meta bucket, is the last Seq assigned. It lives
	// outside the events bucket so that it survives the bucket's loss.
	keyEventSeq = []byte("event-seq")
)

// Bolt keeps the event log beside its revisions.
var _ Store = (*Bolt)(nil)

// errNoEventLog is an events bucket that Open could not create.
var errNoEventLog = errors.New("store: the event log is missing")

// BoltOption changes how OpenBolt opens a store.
type BoltOption func(*Bolt)

// WithKeepEvents keeps the newest n events instead of KeepEvents; n < 1
// keeps KeepEvents. A store opened with fewer than it holds prunes the
// excess on the next append.
func WithKeepEvents(n int) BoltOption {
	return func(b *Bolt) {
		if n >= 1 {
			b.keepEvents = n
		}
	}
}

// eventDamage turns a panic of bbolt's, which is how it meets a corrupt
// page, into an error, so a damaged events bucket fails the event log's
// calls and not the process. The revisions live in other pages.
func eventDamage(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("store: the event log is damaged: %v", p)
	}
}

// AppendEvents implements EventLog: one transaction however many events
// (bbolt's commit, whose two fdatasyncs, of the pages and then of the meta
// page, are nearly all its cost), so callers batch; the oldest events beyond
// the store's bound are pruned in it.
func (b *Bolt) AppendEvents(ctx context.Context, events []Event) ([]Event, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	out := slices.Clone(events)
	now := time.Now().UTC()
	for i := range out {
		if out[i].Time.IsZero() {
			out[i].Time = now
		}
		// What is returned is what a listing will read back: no
		// monotonic clock reading.
		out[i].Time = out[i].Time.Round(0)
	}
	err := b.db.Update(func(tx *bolt.Tx) (err error) {
		defer eventDamage(&err)
		evs := tx.Bucket(bucketEvents)
		if evs == nil {
			return errNoEventLog
		}
		meta := tx.Bucket(bucketMeta)
		seq := lastSeq(meta, evs)
		for i := range out {
			seq++
			out[i].Seq = seq
			// Marshalled inside the transaction because Seq is part of
			// the value; an event is a few hundred bytes.
			v, err := json.Marshal(out[i])
			if err != nil {
				return err
			}
			if err := evs.Put(key(seq), v); err != nil {
				return err
			}
		}
		if err := meta.Put(keyEventSeq, key(seq)); err != nil {
			return err
		}
		return prune(evs, seq, uint64(b.keepEvents))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lastSeq is the last Seq assigned: the counter in meta, or the newest
// event's if that is higher (a counter damaged or rolled back must not
// make Seqs repeat).
func lastSeq(meta, evs *bolt.Bucket) uint64 {
	var seq uint64
	if v := meta.Get(keyEventSeq); len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	c := evs.Cursor()
	for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
		if len(k) == 8 { // past keys gtm did not write
			return max(seq, binary.BigEndian.Uint64(k))
		}
	}
	return seq
}

// prune deletes the events older than the newest keep (newest being
// seq), and anything in the bucket that is not an event gtm wrote. It
// seeks the first key again after each delete: a bbolt cursor that
// deletes and then moves on can skip a key (etcd-io/bbolt#146).
func prune(evs *bolt.Bucket, seq, keep uint64) error {
	if seq <= keep {
		return nil
	}
	oldest := seq - keep + 1
	c := evs.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		if len(k) == 8 && binary.BigEndian.Uint64(k) >= oldest {
			return nil
		}
		var err error
		if v == nil { // a bucket, not an event
			err = evs.DeleteBucket(k)
		} else {
			err = c.Delete()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Events implements EventLog. It walks the events newest first and stops
// at the limit, at After, or, with Since, once events are older than Since
// by more than EventClockSlack. An event whose record is unreadable (the
// file was damaged outside gtm) is left out rather than hiding the rest.
func (b *Bolt) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit, stop, needles := f.walk()
	var out []Event
	err := b.db.View(func(tx *bolt.Tx) (err error) {
		defer eventDamage(&err)
		evs := tx.Bucket(bucketEvents)
		if evs == nil {
			return errNoEventLog
		}
		c := evs.Cursor()
		var k, v []byte
		if f.Before == 0 {
			k, v = c.Last()
		} else if k, _ = c.Seek(key(f.Before)); k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			if len(k) != 8 || v == nil {
				continue // not an event gtm wrote
			}
			seq := binary.BigEndian.Uint64(k)
			if seq <= f.After {
				break
			}
			if !containsAll(v, needles) {
				continue
			}
			var e Event
			if json.Unmarshal(v, &e) != nil {
				continue
			}
			e.Seq = seq
			if !f.Since.IsZero() && e.Time.Before(f.Since) {
				if e.Time.Before(stop) {
					break
				}
				continue
			}
			if f.matches(&e) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walk is how a listing walks the log, newest first: how many events it
// returns at most, the time older than which it stops (zero: none), and
// what a matching record must contain.
func (f *EventFilter) walk() (limit int, stop time.Time, needles [][]byte) {
	limit = f.Limit
	if limit <= 0 {
		limit = DefaultEventLimit
	}
	limit = min(limit, MaxEventLimit)
	if !f.Since.IsZero() {
		stop = f.Since.Add(-EventClockSlack)
	}
	return limit, stop, f.needles()
}

// needles are what the JSON of a matching event must contain, as
// json.Marshal writes it, so that most events that cannot match are passed
// over without decoding them: decoding is most of a listing's cost.
func (f *EventFilter) needles() [][]byte {
	var n [][]byte
	for _, c := range []struct{ field, value string }{
		{"kind", f.Kind}, {"", f.Instance}, {"", f.Address}, {"", f.Pool},
	} {
		if c.value == "" {
			continue
		}
		q, _ := json.Marshal(c.value) //nolint:errcheck // a string always marshals
		if c.field != "" {
			q = append([]byte(`"`+c.field+`":`), q...)
		}
		n = append(n, q)
	}
	return n
}

func containsAll(v []byte, needles [][]byte) bool {
	for _, n := range needles {
		if !bytes.Contains(v, n) {
			return false
		}
	}
	return true
}

// matches is every condition of f but Since, After and Before, which the
// walk handles.
func (f *EventFilter) matches(e *Event) bool {
	return (f.Kind == "" || e.Kind == f.Kind) &&
		(f.Instance == "" || slices.Contains(e.Instances, f.Instance)) &&
		(f.Address == "" || slices.Contains(e.Addresses, f.Address)) &&
		(f.Pool == "" || slices.Contains(e.Pools, f.Pool)) &&
		(f.Until.IsZero() || e.Time.Before(f.Until))
}
