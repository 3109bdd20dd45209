package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bolt is the embedded store: one file, one writer at a time, every commit
// fsynced before it is acknowledged, so a commit survives kill -9 and a
// power cut, and a file cut short or corrupted is refused at Open.
type Bolt struct {
	db         *bolt.DB
	path       string
	keepEvents int

	mu      sync.Mutex
	signals map[chan struct{}]bool // one per watcher: "there is more"
	closed  chan struct{}
	once    sync.Once
}

var (
	bucketRevs = []byte("revisions")
	bucketMeta = []byte("meta")
	keyCurrent = []byte("current")
	keyFormat  = []byte("format")
)

// format is the layout of the file; a file of another layout is refused.
// The events bucket did not change it: it is an addition that Open makes
// to a file without one, and that gtm before it ignores, so a file still
// opens with either version.
const format = "gtm-store 1"

// record is a revision as stored.
type record struct {
	Time    time.Time `json:"time"`
	Who     string    `json:"who,omitempty"`
	Comment string    `json:"comment,omitempty"`
	Change  string    `json:"change,omitempty"`
	Data    []byte    `json:"data,omitempty"`
}

// OpenBolt opens the store in path, creating it if it does not exist. A
// file that is not a gtm store, is corrupt, or is locked by another process
// for more than a second is an error naming the file: it is never replaced.
func OpenBolt(path string, opts ...BoltOption) (*Bolt, error) {
	b := &Bolt{path: path, keepEvents: KeepEvents, signals: map[chan struct{}]bool{}, closed: make(chan struct{})}
	for _, o := range opts {
		o(b)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store %s: the file is locked by another process", path)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if tx.Bucket(bucketRevs) != nil || len(bucketNames(tx)) > 0 {
				return errors.New("not a gtm store (its buckets are not gtm's)")
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketRevs); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(bucketEvents); err != nil {
				return err
			}
			return meta.Put(keyFormat, []byte(format))
		}
		if f := string(meta.Get(keyFormat)); f != format {
			return fmt.Errorf("not a gtm store of this version (format %q, want %q)", f, format)
		}
		revs := tx.Bucket(bucketRevs)
		if revs == nil {
			return errors.New("its revisions are missing")
		}
		// The current revision must be there, whole: a store that says
		// otherwise was damaged outside gtm.
		if cur := meta.Get(keyCurrent); cur != nil {
			if len(cur) != 8 {
				return errors.New("its current revision is unreadable")
			}
			v := revs.Get(cur)
			var rec record
			if v == nil || json.Unmarshal(v, &rec) != nil {
				return fmt.Errorf("its current revision %d is missing or unreadable", binary.BigEndian.Uint64(cur))
			}
		}
		// A file from before the event log gets one. Should that fail,
		// the revisions are still served and the event log reports why
		// it cannot be used.
		tx.CreateBucketIfNotExists(bucketEvents) //nolint:errcheck // see above
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	b.db = db
	return b, nil
}

func bucketNames(tx *bolt.Tx) [][]byte {
	var names [][]byte
	tx.ForEach(func(name []byte, _ *bolt.Bucket) error { //nolint:errcheck // the callback returns none
		names = append(names, name)
		return nil
	})
	return names
}

func key(rev uint64) []byte { return binary.BigEndian.AppendUint64(nil, rev) }

func current(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(keyCurrent); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (b *Bolt) live() error {
	select {
	case <-b.closed:
		return ErrClosed
	default:
		return nil
	}
}

// Current implements Store.
func (b *Bolt) Current(ctx context.Context) (Revision, error) {
	if err := b.live(); err != nil {
		return Revision{}, err
	}
	var r Revision
	err := b.db.View(func(tx *bolt.Tx) error {
		cur := current(tx)
		if cur == 0 {
			return nil
		}
		var err error
		r, err = get(tx, cur, true)
		return err
	})
	return r, err
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, rev uint64) (Revision, error) {
	if err := b.live(); err != nil {
		return Revision{}, err
	}
	var r Revision
	err := b.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = get(tx, rev, true)
		return err
	})
	return r, err
}

func get(tx *bolt.Tx, rev uint64, data bool) (Revision, error) {
	v := tx.Bucket(bucketRevs).Get(key(rev))
	if v == nil {
		return Revision{}, ErrNotFound
	}
	return decode(rev, v, data)
}

func decode(rev uint64, v []byte, data bool) (Revision, error) {
	var rec record
	if err := json.Unmarshal(v, &rec); err != nil {
		return Revision{}, fmt.Errorf("store: revision %d is unreadable: %w", rev, err)
	}
	r := Revision{Rev: rev, Time: rec.Time, Who: rec.Who, Comment: rec.Comment, Change: rec.Change}
	if data {
		r.Data = rec.Data
	}
	return r, nil
}

// Commit implements Store. The revision is on disk when Commit returns.
func (b *Bolt) Commit(ctx context.Context, expect uint64, r Revision) (Revision, error) {
	out, err := b.CommitMany(ctx, expect, []Revision{r})
	if err != nil {
		return Revision{}, err
	}
	return out[0], nil
}

// CommitMany stores rs as the revisions after expect, in order, in one
// transaction: all or none, with one sync for all of them.
func (b *Bolt) CommitMany(ctx context.Context, expect uint64, rs []Revision) ([]Revision, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]Revision, len(rs))
	err := b.db.Update(func(tx *bolt.Tx) error {
		cur := current(tx)
		if cur != expect {
			return ErrConflict
		}
		now := time.Now().UTC()
		revs := tx.Bucket(bucketRevs)
		for i, r := range rs {
			r.Rev, r.Time = cur+1+uint64(i), now
			v, err := json.Marshal(record{Time: r.Time, Who: r.Who, Comment: r.Comment, Change: r.Change, Data: r.Data})
			if err != nil {
				return err
			}
			if err := revs.Put(key(r.Rev), v); err != nil {
				return err
			}
			out[i] = r
		}
		last := cur + uint64(len(rs))
		if err := tx.Bucket(bucketMeta).Put(keyCurrent, key(last)); err != nil {
			return err
		}
		// Keep the newest Keep revisions. Seek again after each delete:
		// a delete followed by Next can skip a key (etcd-io/bbolt#146).
		if last > Keep {
			c := revs.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= last-Keep; k, _ = c.First() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.signal()
	return out, nil
}

// History implements Store.
func (b *Bolt) History(ctx context.Context, before uint64, limit int) ([]Revision, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	var out []Revision
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRevs).Cursor()
		var k, v []byte
		if before == 0 {
			k, v = c.Last()
		} else {
			k, v = c.Seek(key(before))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			r, err := decode(binary.BigEndian.Uint64(k), v, false)
			if err != nil {
				return err
			}
			if before != 0 && r.Rev >= before {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}

// watchBuffer is how many revisions a watcher may have unread before it
// is dropped.
const watchBuffer = 64

// Watch implements Store. Each watcher reads revisions from the file in
// order, woken by commits, so it never sees them out of order or with a
// gap; one whose next revision was pruned, or whose reader stopped
// reading, is dropped.
func (b *Bolt) Watch(ctx context.Context, after uint64) (<-chan Revision, error) {
	if err := b.live(); err != nil {
		return nil, err
	}
	sig := make(chan struct{}, 1)
	sig <- struct{}{} // read what is there already
	b.mu.Lock()
	b.signals[sig] = true
	b.mu.Unlock()
	out := make(chan Revision, watchBuffer)
	go func() {
		defer close(out)
		defer func() {
			b.mu.Lock()
			delete(b.signals, sig)
			b.mu.Unlock()
		}()
		next := after + 1
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.closed:
				return
			case <-sig:
			}
			for {
				r, err := b.Get(ctx, next)
				if errors.Is(err, ErrNotFound) {
					cur, cerr := b.Current(ctx)
					if cerr != nil || cur.Rev >= next {
						return // pruned past this watcher: it must start again
					}
					break // nothing newer yet
				}
				if err != nil {
					return
				}
				select {
				case out <- r:
					next++
				default:
					return // the reader is too far behind
				}
			}
		}
	}()
	return out, nil
}

func (b *Bolt) signal() {
	b.mu.Lock()
	for s := range b.signals {
		select {
		case s <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
}

// Close implements Store.
func (b *Bolt) Close() error {
	var err error
	b.once.Do(func() {
		close(b.closed)
		err = b.db.Close()
	})
	return err
}

// Path is the store's file.
func (b *Bolt) Path() string { return b.path }
