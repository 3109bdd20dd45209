package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openWith(t *testing.T, path string, opts ...BoltOption) *Bolt {
	t.Helper()
	b, err := OpenBolt(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func appendEvents(t testing.TB, b EventLog, evs ...Event) []Event {
	t.Helper()
	out, err := b.AppendEvents(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func list(t *testing.T, b EventLog, f EventFilter) []Event {
	t.Helper()
	out, err := b.Events(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func seqs(evs []Event) []uint64 {
	s := make([]uint64, len(evs))
	for i, e := range evs {
		s[i] = e.Seq
	}
	return s
}

// allSeqs pages through the whole log, newest first.
func allSeqs(t *testing.T, b EventLog) []uint64 {
	t.Helper()
	var all []uint64
	var before uint64
	for {
		page := list(t, b, EventFilter{Before: before, Limit: MaxEventLimit})
		if len(page) == 0 {
			return all
		}
		if before != 0 && page[0].Seq >= before {
			t.Fatalf("a page before %d starts at %d", before, page[0].Seq)
		}
		all = append(all, seqs(page)...)
		before = page[len(page)-1].Seq
	}
}

// seqRange is from, from-1, …, to: newest first.
func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q >= to && q > 0; q-- {
		s = append(s, q)
	}
	return s
}

// Appended events get consecutive Seqs and a Time when they have none,
// and are listed newest first with every field as it was given.
func TestAppendEvents(t *testing.T) { forEach(t, testAppendEvents) }

func testAppendEvents(t *testing.T, p place) {
	ctx := context.Background()
	b := p.open(t, 0)
	if got, err := b.AppendEvents(ctx, nil); err != nil || got != nil {
		t.Fatalf("appending nothing: %v %v", got, err)
	}
	if got := list(t, b, EventFilter{}); len(got) != 0 {
		t.Fatalf("an empty log lists %v", got)
	}
	in := []Event{
		{Time: t0, Kind: "health", Object: "address site-a/192.0.2.1", Old: "up", New: "down", Reason: "tcp: connection refused",
			Addresses: []string{"192.0.2.1"}, Pools: []string{"site-a", "all"}, Node: "n1"},
		{Time: t0.Add(time.Second), Kind: "switchover", Object: "instance www.example.org.", Old: "primary", New: "backup",
			Reason: "pool site-a down", Instances: []string{"www.example.org."}, Rule: "default", Pools: []string{"site-a"}, Node: "n1"},
		{Kind: "config", Reason: "pool b added"}, // no Time: the store's
	}
	before := time.Now()
	got := appendEvents(t, b, in...)
	after := time.Now()
	if !slices.Equal(seqs(got), []uint64{1, 2, 3}) {
		t.Fatalf("Seqs %v, want 1 2 3", seqs(got))
	}
	if in[0].Seq != 0 || !in[2].Time.IsZero() {
		t.Error("AppendEvents changed its argument")
	}
	if got[2].Time.Before(before.Add(-time.Second)) || got[2].Time.After(after.Add(time.Second)) {
		t.Errorf("an event without a time got %v, appended between %v and %v", got[2].Time, before, after)
	}
	if !got[0].Time.Equal(t0) {
		t.Errorf("a caller's time became %v", got[0].Time)
	}
	listed := list(t, b, EventFilter{})
	if want := []Event{got[2], got[1], got[0]}; !reflect.DeepEqual(listed, want) {
		t.Fatalf("listed\n%+v\nwant\n%+v", listed, want)
	}
	more := appendEvents(t, b, Event{Kind: "override"})
	if more[0].Seq != 4 {
		t.Errorf("the next append's Seq is %d, want 4", more[0].Seq)
	}
}

// Each filter field selects what it says, alone and together.
func TestEventFilters(t *testing.T) { forEach(t, testEventFilters) }

func testEventFilters(t *testing.T, p place) {
	b := p.open(t, 0)
	// Seq i+1 at t0 + i minutes.
	evs := []Event{
		{Kind: "health", Addresses: []string{"192.0.2.1"}, Pools: []string{"a"}},
		{Kind: "health", Addresses: []string{"192.0.2.2"}, Pools: []string{"a", "b"}},
		{Kind: "switchover", Instances: []string{"www.example.org."}, Pools: []string{"a"}},
		{Kind: "config", Object: "b"}, // not pool b, though its JSON holds "b"
		{Kind: "override", Addresses: []string{"192.0.2.1"}, Pools: []string{"b"}},
		{Kind: "switchover", Instances: []string{"api.example.org."}, Pools: []string{"b"}},
		{Kind: "health", Addresses: []string{"192.0.2.1"}, Pools: []string{"a", "b"}},
		{Kind: "override", Instances: []string{"www.example.org."}},
		// Values JSON escapes, and another field that holds the text of
		// a match: only the field itself counts.
		{Kind: `odd "kind" <&>`, Instances: []string{"é\u2028"}, Addresses: []string{`"192.0.2.1"`}, Pools: []string{`"b"`},
			Reason: `"kind":"health","address":"192.0.2.1","pools":["b"]`, Object: "a"},
	}
	for i := range evs {
		evs[i].Time = t0.Add(time.Duration(i) * time.Minute)
	}
	appendEvents(t, b, evs[:3]...)
	appendEvents(t, b, evs[3:]...)
	for _, tc := range []struct {
		name string
		f    EventFilter
		want []uint64
	}{
		// positive
		{"none", EventFilter{}, []uint64{9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"kind", EventFilter{Kind: "health"}, []uint64{7, 2, 1}},
		{"escaped values", EventFilter{Kind: `odd "kind" <&>`, Instance: "é\u2028", Address: `"192.0.2.1"`, Pool: `"b"`}, []uint64{9}},
		{"instance", EventFilter{Instance: "www.example.org."}, []uint64{8, 3}},
		{"address", EventFilter{Address: "192.0.2.1"}, []uint64{7, 5, 1}},
		{"pool, first of several", EventFilter{Pool: "a"}, []uint64{7, 3, 2, 1}},
		{"pool, second of several", EventFilter{Pool: "b"}, []uint64{7, 6, 5, 2}},
		{"since, inclusive", EventFilter{Since: t0.Add(5 * time.Minute)}, []uint64{9, 8, 7, 6}},
		{"until, exclusive", EventFilter{Until: t0.Add(2 * time.Minute)}, []uint64{2, 1}},
		{"since and until", EventFilter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, []uint64{4, 3}},
		{"after", EventFilter{After: 5}, []uint64{9, 8, 7, 6}},
		{"before", EventFilter{Before: 3}, []uint64{2, 1}},
		{"before past the newest", EventFilter{Before: 100}, []uint64{9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"after and before", EventFilter{After: 2, Before: 5}, []uint64{4, 3}},
		{"kind and pool", EventFilter{Kind: "health", Pool: "b"}, []uint64{7, 2}},
		{"address, kind and since", EventFilter{Address: "192.0.2.1", Kind: "override", Since: t0.Add(time.Minute)}, []uint64{5}},
		{"limit keeps the newest", EventFilter{Pool: "b", Limit: 2}, []uint64{7, 6}},
		// negative
		{"kind of none", EventFilter{Kind: "nothing"}, nil},
		{"instance without its dot", EventFilter{Instance: "www.example.org"}, nil},
		{"pool of none", EventFilter{Pool: "c"}, nil},
		{"since after the newest", EventFilter{Since: t0.Add(time.Hour)}, nil},
		{"until before the oldest", EventFilter{Until: t0}, nil},
		{"after the newest", EventFilter{After: 9}, nil},
		{"before the oldest", EventFilter{Before: 1}, nil},
		{"kind and instance that never meet", EventFilter{Kind: "health", Instance: "www.example.org."}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := seqs(list(t, b, tc.f)); !slices.Equal(got, tc.want) {
				t.Errorf("%+v listed %v, want %v", tc.f, got, tc.want)
			}
		})
	}
}

// A Since listing finds events out of time order by less than
// EventClockSlack, and stops at the first event older than that, as
// documented.
func TestEventsSinceClockDisorder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		middle time.Duration // the second event's time, from Since
		want   []uint64
	}{
		{"within the slack", -EventClockSlack / 2, []uint64{3, 1}},
		{"beyond the slack", -2 * EventClockSlack, []uint64{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, p place) {
				b := p.open(t, 0)
				// Seq 1 from a clock an hour ahead; 2 just before Since; 3 after.
				appendEvents(t, b, Event{Time: t0.Add(time.Hour)}, Event{Time: t0.Add(tc.middle)}, Event{Time: t0.Add(time.Second)})
				if got := seqs(list(t, b, EventFilter{Since: t0})); !slices.Equal(got, tc.want) {
					t.Errorf("since listed %v, want %v", got, tc.want)
				}
				// Without Since the walk does not stop.
				if got := seqs(list(t, b, EventFilter{})); !slices.Equal(got, []uint64{3, 2, 1}) {
					t.Errorf("listed %v", got)
				}
			})
		})
	}
}

// A listing is at most its limit: 100 by default, 1000 at most; Before
// pages through all of them.
func TestEventLimits(t *testing.T) { forEach(t, testEventLimits) }

func testEventLimits(t *testing.T, p place) {
	b := p.open(t, 0)
	const n = MaxEventLimit + 500
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Kind: "health", Time: t0.Add(time.Duration(i) * time.Second)}
	}
	appendEvents(t, b, evs...)
	for _, tc := range []struct {
		limit int
		want  int
	}{{0, DefaultEventLimit}, {-1, DefaultEventLimit}, {1, 1}, {7, 7}, {MaxEventLimit, MaxEventLimit}, {10 * MaxEventLimit, MaxEventLimit}} {
		got := list(t, b, EventFilter{Limit: tc.limit})
		if !slices.Equal(seqs(got), seqRange(n, uint64(n-tc.want+1))) {
			t.Errorf("limit %d listed %d events, want the newest %d", tc.limit, len(got), tc.want)
		}
	}
	if got := allSeqs(t, b); !slices.Equal(got, seqRange(n, 1)) {
		t.Errorf("paging listed %d events, want %d in order", len(got), n)
	}
}

// Pruning keeps exactly the newest N, whether an append adds one event or
// many pages of them, and Seqs go on increasing across reopening,
// pruning and a smaller bound.
func TestEventPruning(t *testing.T) { forEach(t, testEventPruning) }

func testEventPruning(t *testing.T, p place) {
	b := p.open(t, 10)
	var last uint64
	for _, n := range []int{3, 3, 3, 1, 1, 3, 7} {
		evs := appendEvents(t, b, make([]Event, n)...)
		last = evs[n-1].Seq
	}
	if got := allSeqs(t, b); !slices.Equal(got, seqRange(last, last-9)) {
		t.Fatalf("after %d events with 10 kept: %v", last, got)
	}
	// Many leaf pages deleted in one transaction.
	appendEvents(t, b, make([]Event, 2000)...)
	evs := appendEvents(t, b, make([]Event, 2000)...)
	last = evs[len(evs)-1].Seq
	if got := allSeqs(t, b); !slices.Equal(got, seqRange(last, last-9)) {
		t.Fatalf("after appending 4000 more with 10 kept: %v", got)
	}
	b.Close()

	b = p.open(t, 10)
	if evs := appendEvents(t, b, Event{}); evs[0].Seq != last+1 {
		t.Fatalf("after reopening, Seq %d, want %d", evs[0].Seq, last+1)
	}
	last++
	b.Close()

	// Reopened keeping fewer: the next append prunes to the new bound.
	b = p.open(t, 3)
	if got := allSeqs(t, b); len(got) != 10 {
		t.Fatalf("opening alone pruned: %v", got)
	}
	if evs := appendEvents(t, b, Event{}); evs[0].Seq != last+1 {
		t.Fatalf("Seq %d, want %d", evs[0].Seq, last+1)
	}
	last++
	if got := allSeqs(t, b); !slices.Equal(got, seqRange(last, last-2)) {
		t.Fatalf("with 3 kept: %v", got)
	}
	b.Close()

	// A bound of one: every append keeps only its own newest event, and
	// the Seqs of pruned events are not given again.
	b = p.open(t, 1)
	for range 3 {
		evs := appendEvents(t, b, Event{}, Event{})
		if evs[0].Seq != last+1 || evs[1].Seq != last+2 {
			t.Fatalf("Seqs %v after %d", seqs(evs), last)
		}
		last += 2
		if got := allSeqs(t, b); !slices.Equal(got, []uint64{last}) {
			t.Fatalf("with 1 kept: %v", got)
		}
	}
}

// The bound the store is built with: KeepEvents, exactly.
func TestEventPruningDefault(t *testing.T) { forEach(t, testEventPruningDefault) }

func testEventPruningDefault(t *testing.T, p place) {
	b := p.open(t, 0)
	const batch = 500
	for range KeepEvents/batch + 2 {
		appendEvents(t, b, make([]Event, batch)...)
	}
	total := uint64(KeepEvents + 2*batch)
	if got := allSeqs(t, b); !slices.Equal(got, seqRange(total, total-KeepEvents+1)) {
		t.Fatalf("%d events kept (%d…%d), want %d…%d", len(got), got[0], got[len(got)-1], total, total-KeepEvents+1)
	}
}

// Appends racing from several goroutines: every event gets its own Seq,
// each call's are consecutive, each goroutine's increase, and none is lost.
func TestConcurrentAppends(t *testing.T) { forEach(t, testConcurrentAppends) }

func testConcurrentAppends(t *testing.T, p place) {
	b := p.open(t, 0)
	const writers, calls = 8, 25
	got := make([][]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				evs, err := b.AppendEvents(context.Background(), make([]Event, 1+i%3))
				if err != nil {
					t.Error(err)
					return
				}
				for j := 1; j < len(evs); j++ {
					if evs[j].Seq != evs[j-1].Seq+1 {
						t.Errorf("one call's Seqs %v", seqs(evs))
					}
				}
				got[w] = append(got[w], seqs(evs)...)
			}
		}()
	}
	wg.Wait()
	var all []uint64
	for w, s := range got {
		if !slices.IsSorted(s) || len(slices.Compact(slices.Clone(s))) != len(s) {
			t.Errorf("writer %d's Seqs do not increase: %v", w, s)
		}
		all = append(all, s...)
	}
	slices.Sort(all)
	want := slices.Clone(seqRange(uint64(len(all)), 1))
	slices.Reverse(want)
	if !slices.Equal(all, want) {
		t.Fatalf("%d events appended, Seqs not 1…%d once each: %v", len(all), len(all), all)
	}
	listed := allSeqs(t, b)
	slices.Reverse(listed)
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %d events, appended %d", len(listed), len(all))
	}
}

// Events are on disk when AppendEvents returns: they are there, whole,
// after the store is closed and opened again; a closed store refuses.
func TestEventsSurviveReopen(t *testing.T) { forEach(t, testEventsSurviveReopen) }

func testEventsSurviveReopen(t *testing.T, p place) {
	ctx := context.Background()
	b := p.open(t, 0)
	want := appendEvents(t, b,
		Event{Time: t0, Kind: "health", Object: "address a/192.0.2.1", Old: "up", New: "down", Addresses: []string{"192.0.2.1"}, Pools: []string{"a"}, Node: "n1"},
		Event{Kind: "config", Reason: "reload", Instances: []string{"www.example.org."}, Rule: "eu"})
	b.Close()
	if _, err := b.AppendEvents(ctx, []Event{{}}); !errors.Is(err, ErrClosed) {
		t.Errorf("append to a closed store: %v", err)
	}
	if _, err := b.Events(ctx, EventFilter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("list of a closed store: %v", err)
	}

	b = p.open(t, 0)
	slices.Reverse(want)
	if got := list(t, b, EventFilter{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening\n%+v\nwant\n%+v", got, want)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.AppendEvents(cctx, []Event{{}}); !errors.Is(err, context.Canceled) {
		t.Errorf("append with an ended context: %v", err)
	}
}

// writeOldStore writes a store as gtm wrote it before the event log: the
// format "gtm-store 1", a meta and a revisions bucket, one revision.
func writeOldStore(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		revs, err := tx.CreateBucket([]byte("revisions"))
		if err != nil {
			return err
		}
		rec := `{"time":"2026-01-01T00:00:00Z","who":"alice","data":"eyJhIjoxfQ=="}` // data {"a":1}
		return errors.Join(meta.Put([]byte("format"), []byte("gtm-store 1")), meta.Put([]byte("current"), key(1)),
			revs.Put(key(1), []byte(rec)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// A store written before the event log opens, keeps its revisions and
// gains an event log; its format stays.
func TestOpenStoreWithoutEvents(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtm.db")
	writeOldStore(t, path)
	b := open(t, path)
	cur, err := b.Current(ctx)
	if err != nil || cur.Rev != 1 || cur.Who != "alice" || string(cur.Data) != `{"a":1}` {
		t.Fatalf("the old store's revision: %+v %v", cur, err)
	}
	if evs := appendEvents(t, b, Event{Kind: "config"}); evs[0].Seq != 1 {
		t.Fatalf("first Seq %d", evs[0].Seq)
	}
	if _, err := b.Commit(ctx, 1, Revision{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = open(t, path)
	if got := list(t, b, EventFilter{}); len(got) != 1 || got[0].Kind != "config" {
		t.Fatalf("after reopening: %+v", got)
	}
	b.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error { //nolint:errcheck // the callback returns none
		if f := string(tx.Bucket(bucketMeta).Get(keyFormat)); f != format {
			t.Errorf("format %q", f)
		}
		return nil
	})
}

// rawUpdate changes a closed store's file behind gtm's back.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// Records in the events bucket that gtm did not write are left out of
// listings and pruned; a lost events bucket is made again without
// giving old Seqs again. Neither touches the revisions.
func TestDamagedEventRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtm.db")
	b := open(t, path)
	if _, err := b.Commit(ctx, 0, Revision{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, b, Event{Kind: "a"}, Event{Kind: "b"}, Event{Kind: "c"})
	b.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		evs := tx.Bucket(bucketEvents)
		_, err := evs.CreateBucket([]byte("\x00\x00")) // sorts before every Seq
		return errors.Join(err, evs.Put(key(2), []byte("{not json")), evs.Put([]byte("\x00"), []byte("{}")), evs.Put([]byte("zzz"), []byte("{}")))
	})

	b = openWith(t, path, WithKeepEvents(3))
	if cur, err := b.Current(ctx); err != nil || cur.Rev != 1 {
		t.Fatalf("revisions: %+v %v", cur, err)
	}
	if got := list(t, b, EventFilter{}); !slices.Equal(seqs(got), []uint64{3, 1}) || got[0].Kind != "c" {
		t.Fatalf("listed %+v, want events 3 and 1", got)
	}
	if evs := appendEvents(t, b, Event{Kind: "d"}); evs[0].Seq != 4 {
		t.Fatalf("Seq %d after damage, want 4", evs[0].Seq)
	}
	b.Close()
	var left []string
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEvents).ForEach(func(k, _ []byte) error {
			left = append(left, fmt.Sprintf("%q", k))
			return nil
		})
	})
	// Seqs 2…4 are kept; the bucket and the key that sorted before them
	// were pruned; "zzz", after every Seq, waits until it sorts first.
	if want := []string{strconv.Quote(string(key(2))), strconv.Quote(string(key(3))), strconv.Quote(string(key(4))), `"zzz"`}; !slices.Equal(left, want) {
		t.Errorf("left in the bucket: %v, want %v", left, want)
	}

	// The whole bucket lost: made again at open, Seqs go on.
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketEvents) })
	b = open(t, path)
	if got := list(t, b, EventFilter{}); len(got) != 0 {
		t.Fatalf("a lost log lists %v", got)
	}
	if evs := appendEvents(t, b, Event{}); evs[0].Seq != 5 {
		t.Fatalf("Seq %d after the bucket was lost, want 5", evs[0].Seq)
	}
	b.Close()

	// The Seq counter damaged, or rolled back: the newest event's Seq is
	// the floor.
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketEvents).Put([]byte("zzz"), []byte("{}")) })
	for _, v := range [][]byte{[]byte("bad"), key(1)} {
		rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyEventSeq, v) })
		b = open(t, path)
		evs := appendEvents(t, b, Event{})
		b.Close()
		if evs[0].Seq != 6 {
			t.Fatalf("Seq %d after the counter became %q, want 6", evs[0].Seq, v)
		}
		rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketEvents).Delete(key(6)) })
	}
}

// A corrupt page in the events bucket fails the event log's calls with
// an error, not the process, and the revisions are read and committed as
// before.
func TestDamagedEventPages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gtm.db")
	b := open(t, path)
	if _, err := b.Commit(ctx, 0, Revision{Who: "alice", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	// Enough events for the bucket to have a branch page above its leaves.
	appendEvents(t, b, make([]Event, 500)...)
	var root, pageSize int64
	b.db.View(func(tx *bolt.Tx) error { //nolint:errcheck // the callback returns none
		root, pageSize = int64(tx.Bucket(bucketEvents).RootPage()), int64(tx.DB().Info().PageSize)
		return nil
	})
	b.Close()
	if root == 0 {
		t.Fatal("the events bucket is inline: nothing to corrupt")
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xff", int(pageSize))), root*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	b = open(t, path)
	if _, err := b.Events(ctx, EventFilter{}); err == nil || !strings.Contains(err.Error(), "event log is damaged") {
		t.Errorf("listing a damaged log: %v", err)
	}
	if _, err := b.AppendEvents(ctx, []Event{{}}); err == nil || !strings.Contains(err.Error(), "event log is damaged") {
		t.Errorf("appending to a damaged log: %v", err)
	}
	if cur, err := b.Current(ctx); err != nil || cur.Rev != 1 || cur.Who != "alice" {
		t.Fatalf("revisions: %+v %v", cur, err)
	}
	if _, err := b.Commit(ctx, 1, Revision{Data: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if h, err := b.History(ctx, 0, 10); err != nil || len(h) != 2 {
		t.Fatalf("history: %+v %v", h, err)
	}
	b.Close()
	b = open(t, path)
	if cur, err := b.Current(ctx); err != nil || cur.Rev != 2 || string(cur.Data) != "y" {
		t.Fatalf("after reopening: %+v %v", cur, err)
	}
}

// benchEvent is an event of the size the engine writes.
var benchEvent = Event{
	Kind: "health", Object: "address site-a/192.0.2.1", Old: "up", New: "down", Reason: "http: status 503",
	Addresses: []string{"192.0.2.1"}, Pools: []string{"site-a"}, Node: "gtm-1.example.org",
}

// BenchmarkAppendEvents appends to a full log, so each append prunes as
// many as it adds; every call is one fsync.
func BenchmarkAppendEvents(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			st, err := OpenBolt(filepath.Join(b.TempDir(), "gtm.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			appendEvents(b, st, slices.Repeat([]Event{benchEvent}, KeepEvents)...)
			batch := slices.Repeat([]Event{benchEvent}, n)
			b.ResetTimer()
			for b.Loop() {
				appendEvents(b, st, batch...)
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkEvents lists a full log: the newest page, and a filter that
// matches nothing, which reads every event.
func BenchmarkEvents(b *testing.B) {
	st, err := OpenBolt(filepath.Join(b.TempDir(), "gtm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	appendEvents(b, st, slices.Repeat([]Event{benchEvent}, KeepEvents)...)
	for _, bc := range []struct {
		name string
		f    EventFilter
		want int
	}{{"newest", EventFilter{}, DefaultEventLimit}, {"scan", EventFilter{Pool: "none"}, 0}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				evs, err := st.Events(context.Background(), bc.f)
				if err != nil || len(evs) != bc.want {
					b.Fatalf("%d events, %v", len(evs), err)
				}
			}
		})
	}
}
