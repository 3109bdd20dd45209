package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, path string) *Bolt {
	t.Helper()
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Commits build on the revision they name or are refused, and what was
// committed is there, whole, after the store is opened again.
func TestCommitCompareAndSwap(t *testing.T) { forEach(t, testCommitCompareAndSwap) }

func testCommitCompareAndSwap(t *testing.T, p place) {
	ctx := context.Background()
	b := p.open(t, 0)
	if cur, err := b.Current(ctx); err != nil || cur.Rev != 0 || cur.Data != nil {
		t.Fatalf("empty store: %+v %v", cur, err)
	}
	r1, err := b.Commit(ctx, 0, Revision{Who: "alice", Comment: "first", Change: "pool a created", Data: []byte(`{"a":1}`)})
	if err != nil || r1.Rev != 1 || r1.Time.IsZero() {
		t.Fatalf("first commit: %+v %v", r1, err)
	}
	if _, err := b.Commit(ctx, 0, Revision{Data: []byte(`{"lost":true}`)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a commit on a stale revision: %v, want ErrConflict", err)
	}
	if _, err := b.Commit(ctx, 5, Revision{Data: []byte(`{}`)}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a commit on a future revision: %v, want ErrConflict", err)
	}
	if _, err := b.Commit(ctx, 1, Revision{Who: "bob", Data: []byte(`{"a":2}`)}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := b.Current(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("a closed store answered: %v", err)
	}

	b = p.open(t, 0)
	cur, err := b.Current(ctx)
	if err != nil || cur.Rev != 2 || string(cur.Data) != `{"a":2}` || cur.Who != "bob" {
		t.Fatalf("after reopening: %+v %v", cur, err)
	}
	first, err := b.Get(ctx, 1)
	if err != nil || first.Comment != "first" || first.Change != "pool a created" || string(first.Data) != `{"a":1}` {
		t.Fatalf("revision 1: %+v %v", first, err)
	}
	if _, err := b.Get(ctx, 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("revision 3: %v, want ErrNotFound", err)
	}
}

// The newest Keep revisions are kept, listed newest first without data.
func TestHistoryAndPruning(t *testing.T) { forEach(t, testHistoryAndPruning) }

func testHistoryAndPruning(t *testing.T, p place) {
	ctx := context.Background()
	b := p.open(t, 0)
	total := Keep + 5
	for i := range total {
		if _, err := b.Commit(ctx, uint64(i), Revision{Change: "change " + strconv.Itoa(i+1), Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Get(ctx, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("revision 5 of %d was kept: %v", total, err)
	}
	if r, err := b.Get(ctx, uint64(total-Keep+1)); err != nil || string(r.Data) != "x" {
		t.Errorf("the oldest of the kept revisions: %+v %v", r, err)
	}
	h, err := b.History(ctx, 0, 3)
	if err != nil || len(h) != 3 || h[0].Rev != uint64(total) || h[2].Rev != uint64(total-2) || h[0].Data != nil || h[0].Change != "change "+strconv.Itoa(total) {
		t.Fatalf("history: %+v %v", h, err)
	}
	page, err := b.History(ctx, h[2].Rev, 2)
	if err != nil || len(page) != 2 || page[0].Rev != uint64(total-3) {
		t.Fatalf("the next page: %+v %v", page, err)
	}
	all, err := b.History(ctx, 0, 10*Keep)
	if err != nil || len(all) != Keep {
		t.Fatalf("%d revisions listed, want %d (%v)", len(all), Keep, err)
	}
}

// Two writers racing: each commit builds on the one before, none is lost.
func TestConcurrentCommits(t *testing.T) { forEach(t, testConcurrentCommits) }

func testConcurrentCommits(t *testing.T, p place) {
	ctx := context.Background()
	b := p.open(t, 0)
	const writers, each = 6, 15
	var wg sync.WaitGroup
	conflicts := make([]int, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					cur, err := b.Current(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					n := 0
					if cur.Data != nil {
						n, _ = strconv.Atoi(string(cur.Data))
					}
					_, err = b.Commit(ctx, cur.Rev, Revision{Data: []byte(strconv.Itoa(n + 1))})
					if err == nil {
						break
					}
					if !errors.Is(err, ErrConflict) {
						t.Error(err)
						return
					}
					conflicts[w]++
				}
			}
		}()
	}
	wg.Wait()
	cur, err := b.Current(ctx)
	if err != nil || cur.Rev != writers*each || string(cur.Data) != strconv.Itoa(writers*each) {
		t.Fatalf("after %d increments: revision %d, data %s (%v)", writers*each, cur.Rev, cur.Data, err)
	}
}

// A watcher sees every revision after the one it names, in order, those
// already there and those committed later, and stops with its context.
func TestWatch(t *testing.T) { forEach(t, testWatch) }

func testWatch(t *testing.T, p place) {
	ctx, cancel := context.WithCancel(context.Background())
	b := p.open(t, 0)
	for i := range 3 {
		if _, err := b.Commit(ctx, uint64(i), Revision{Data: []byte{byte('a' + i)}}); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := b.Watch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The writer is waited for: a watch may deliver a revision before its
	// Commit returns (etcd's watch is that quick), and the store closes
	// when the test ends.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for i := 3; i < 6; i++ {
			if _, err := b.Commit(context.Background(), uint64(i), Revision{Data: []byte{byte('a' + i)}}); err != nil {
				t.Error(err)
			}
		}
	}()
	defer func() { <-wrote }()
	var got []string
	timeout := time.After(5 * time.Second)
	for len(got) < 5 {
		select {
		case r := <-ch:
			got = append(got, fmt.Sprintf("%d%s", r.Rev, r.Data))
		case <-timeout:
			t.Fatalf("watch delivered %v within 5 s", got)
		}
	}
	if strings.Join(got, " ") != "2b 3c 4d 5e 6f" {
		t.Fatalf("watch delivered %v", got)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			for range ch {
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch channel was not closed with its context")
	}
}

// A watcher whose next revision was pruned is dropped, not fed a gap.
func TestWatchPruned(t *testing.T) { forEach(t, testWatchPruned) }

func testWatchPruned(t *testing.T, p place) {
	ctx := context.Background()
	b := p.open(t, 0)
	for i := range Keep + 2 {
		if _, err := b.Commit(ctx, uint64(i), Revision{}); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := b.Watch(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r, ok := <-ch:
		if ok {
			t.Fatalf("a watcher from revision 1, pruned, was given revision %d", r.Rev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher was neither fed nor dropped")
	}
}

// A file that is not a gtm store, or is damaged, stops the open with the
// file named; it is left as it was.
func TestOpenRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	content := []byte(strings.Repeat("not a database ", 1000))
	if err := os.WriteFile(garbage, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBolt(garbage); err == nil || !strings.Contains(err.Error(), garbage) {
		t.Errorf("a garbage file: %v", err)
	}
	if after, _ := os.ReadFile(garbage); string(after) != string(content) {
		t.Error("the refused file was changed")
	}

	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("someone else's")); return err })
	db.Close()
	if _, err := OpenBolt(other); err == nil || !strings.Contains(err.Error(), "not a gtm store") {
		t.Errorf("another program's database: %v", err)
	}

	path := filepath.Join(dir, "gtm.db")
	b := open(t, path)
	if _, err := OpenBolt(path); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("a store in use: %v", err)
	}
	b.Close()

	// The current revision deleted behind gtm's back.
	b = open(t, path)
	if _, err := b.Commit(context.Background(), 0, Revision{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRevs).Delete(key(1)) })
	db.Close()
	if _, err := OpenBolt(path); err == nil || !strings.Contains(err.Error(), "current revision 1 is missing") {
		t.Errorf("a store missing its current revision: %v", err)
	}
}

// killWriterEnv makes the test binary a writer that commits a revision and
// appends an event in a loop, printing the revision and the event's Seq
// once both have returned, until it is killed.
const killWriterEnv = "GTM_STORE_KILL_WRITER"

func init() {
	path := os.Getenv(killWriterEnv)
	if path == "" {
		return
	}
	b, err := OpenBolt(path, WithKeepEvents(killKeepEvents))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	for {
		cur, err := b.Current(ctx)
		if err != nil {
			fmt.Println("current:", err)
			os.Exit(3)
		}
		next := cur.Rev + 1
		data := []byte(strings.Repeat(strconv.FormatUint(next, 10)+";", 200)) // a few KB: more than one page
		if _, err := b.Commit(ctx, cur.Rev, Revision{Change: "rev " + strconv.FormatUint(next, 10), Data: data}); err != nil {
			fmt.Println("commit:", err)
			os.Exit(3)
		}
		evs, err := b.AppendEvents(ctx, []Event{killEvent(next), killEvent(next)})
		if err != nil {
			fmt.Println("append:", err)
			os.Exit(3)
		}
		fmt.Println(next, evs[1].Seq)
	}
}

// killKeepEvents is small so that the writer prunes on most appends.
const killKeepEvents = 15

// killEvent is the kill writer's event for revision rev, a few KB.
func killEvent(rev uint64) Event {
	r := strconv.FormatUint(rev, 10)
	return Event{Kind: "config", Object: "rev " + r, Reason: strings.Repeat(r+";", 300)}
}

// A committed revision survives kill -9 at any moment: after each kill the
// store opens, the last acknowledged revision is there and whole, and no
// revision is there half. So do appended events: the acknowledged ones
// are there, whole, the pruning bound holds, and Seqs never go back.
func TestCommitSurvivesKill(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gtm.db")
	const kills = 50
	var lastSeq uint64 // the newest event's Seq after the previous kill
	for i := range kills {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), killWriterEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it acknowledge a few commits, then kill it at a moment that
		// varies from run to run.
		sc := bufio.NewScanner(out)
		var acked, ackedSeq uint64
		want := 2 + i%7
		for n := 0; n < want && sc.Scan(); n++ {
			if _, err := fmt.Sscan(sc.Text(), &acked, &ackedSeq); err != nil {
				t.Fatalf("writer said %q", sc.Text())
			}
		}
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		cmd.Process.Kill()
		for sc.Scan() { // what it acknowledged before the kill landed
			fmt.Sscan(sc.Text(), &acked, &ackedSeq) //nolint:errcheck // a line cut by the kill is not an acknowledgement
		}
		cmd.Wait()
		if acked == 0 {
			t.Fatalf("kill %d: the writer acknowledged nothing", i)
		}
		b, err := OpenBolt(path)
		if err != nil {
			t.Fatalf("kill %d: the store does not open: %v", i, err)
		}
		cur, err := b.Current(context.Background())
		if err == nil && cur.Rev < acked {
			err = fmt.Errorf("current revision %d, but %d was acknowledged", cur.Rev, acked)
		}
		if err == nil {
			if want := strings.Repeat(strconv.FormatUint(cur.Rev, 10)+";", 200); string(cur.Data) != want {
				err = fmt.Errorf("revision %d is not whole (%d bytes)", cur.Rev, len(cur.Data))
			}
		}
		if err == nil {
			err = checkKillEvents(b, cur.Rev, ackedSeq, &lastSeq)
		}
		b.Close()
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
	}
}

// checkKillEvents checks the event log after a kill: the newest event is at
// least the last acknowledged and not older than after the previous kill,
// exactly the newest killKeepEvents are kept, and each is whole and from a
// committed revision.
func checkKillEvents(b *Bolt, rev, acked uint64, last *uint64) error {
	evs, err := b.Events(context.Background(), EventFilter{Limit: MaxEventLimit})
	if err != nil {
		return err
	}
	if len(evs) == 0 || evs[0].Seq < acked || evs[0].Seq < *last {
		return fmt.Errorf("events %v after %d acknowledged and %d seen", seqs(evs), acked, *last)
	}
	*last = evs[0].Seq
	if want := min(killKeepEvents, int(evs[0].Seq)); len(evs) != want {
		return fmt.Errorf("%d events kept, want %d", len(evs), want)
	}
	for i, e := range evs {
		var r uint64
		if _, err := fmt.Sscanf(e.Object, "rev %d", &r); err != nil || r > rev || e.Seq != evs[0].Seq-uint64(i) ||
			!reflect.DeepEqual(e, Event{Seq: e.Seq, Time: e.Time, Kind: "config", Object: e.Object, Reason: killEvent(r).Reason}) {
			return fmt.Errorf("event %d is not whole, or not in order: %.80v", e.Seq, e)
		}
	}
	return nil
}

// TestCommitMany commits several revisions in one transaction: in order,
// all or none, pruned to Keep across the batch.
func TestCommitMany(t *testing.T) { forEach(t, testCommitMany) }

func testCommitMany(t *testing.T, p place) {
	ctx := context.Background()
	b := p.open(t, 0)
	if _, err := b.Commit(ctx, 0, Revision{Change: "first"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CommitMany(ctx, 0, []Revision{{Change: "stale a"}, {Change: "stale b"}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("a batch on a stale revision: %v", err)
	}
	if c, _ := b.Current(ctx); c.Rev != 1 {
		t.Fatalf("a refused batch left revision %d", c.Rev)
	}
	got, err := b.CommitMany(ctx, 1, []Revision{{Change: "a", Data: []byte("A")}, {Change: "b", Data: []byte("B")}, {Change: "c", Data: []byte("C")}})
	if err != nil || len(got) != 3 || got[0].Rev != 2 || got[2].Rev != 4 {
		t.Fatalf("batch: %+v %v", got, err)
	}
	for i, want := range []string{"A", "B", "C"} {
		if r, err := b.Get(ctx, uint64(2+i)); err != nil || string(r.Data) != want {
			t.Errorf("revision %d: %+v %v", 2+i, r, err)
		}
	}
	if c, _ := b.Current(ctx); c.Rev != 4 || string(c.Data) != "C" {
		t.Errorf("current after the batch: %+v", c)
	}
	// A batch that crosses Keep prunes to exactly Keep: one batch of
	// Keep, or as few as a store that bounds batches takes.
	size := Keep
	if p.maxBatch > 0 {
		size = p.maxBatch
	}
	for cur := uint64(4); cur < 4+Keep; {
		batch := make([]Revision, min(size, int(4+Keep-cur)))
		for i := range batch {
			batch[i] = Revision{Change: strconv.Itoa(i), Data: []byte("x")}
		}
		if _, err := b.CommitMany(ctx, cur, batch); err != nil {
			t.Fatal(err)
		}
		cur += uint64(len(batch))
	}
	all, err := b.History(ctx, 0, 10*Keep)
	if err != nil || len(all) != Keep || all[len(all)-1].Rev != 5 {
		t.Fatalf("%d revisions kept (oldest %d), want %d from 5: %v", len(all), all[len(all)-1].Rev, Keep, err)
	}
}
