package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/etcdtest"
)

// A prefix that holds what gtm did not write, or a store whose current
// revision is gone, is refused with the prefix named, and left as it was;
// an etcd that does not answer is an error within the dial timeout.
func TestEtcdOpenRefuses(t *testing.T) {
	ctx := context.Background()
	m := etcdtest.Start(t)
	cli := etcdtest.Client(t, m.Endpoint)
	if _, err := cli.Put(ctx, "/other/thing", "x"); err != nil {
		t.Fatal(err)
	}
	_, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{m.Endpoint}, Prefix: "/other/"})
	if err == nil || !strings.Contains(err.Error(), "not a gtm store") || !strings.Contains(err.Error(), `"/other/"`) {
		t.Errorf("a foreign prefix: %v", err)
	}
	if r, _ := cli.Get(ctx, "/other/format"); len(r.Kvs) != 0 {
		t.Error("the refused prefix was written to")
	}
	if _, err := cli.Put(ctx, "/old/format", "gtm-store 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{m.Endpoint}, Prefix: "/old/"}); err == nil || !strings.Contains(err.Error(), "of this version") {
		t.Errorf("another format: %v", err)
	}

	e := openEtcd(t, EtcdConfig{Endpoints: []string{m.Endpoint}}) // the default prefix
	if e.Prefix() != DefaultEtcdPrefix {
		t.Errorf("prefix %q", e.Prefix())
	}
	if _, err := e.Commit(ctx, 0, Revision{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Delete(ctx, DefaultEtcdPrefix+"rev/0000000000000001"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{m.Endpoint}}); err == nil || !strings.Contains(err.Error(), "current revision 1 is missing") {
		t.Errorf("a store missing its current revision: %v", err)
	}

	m.Stop()
	start := time.Now()
	if _, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{m.Endpoint}, DialTimeout: 300 * time.Millisecond}); err == nil {
		t.Error("opened a store on a stopped etcd")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("refusing a stopped etcd took %v", d)
	}
}

// A batch is one transaction: one of MaxEtcdBatch revisions commits, a
// larger one is refused whole with ErrBatchTooLarge.
func TestEtcdBatchBound(t *testing.T) {
	ctx := context.Background()
	e := openEtcd(t, EtcdConfig{Endpoints: []string{etcdtest.Start(t).Endpoint}})
	if _, err := e.CommitMany(ctx, 0, make([]Revision, MaxEtcdBatch+1)); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("a batch of %d: %v", MaxEtcdBatch+1, err)
	}
	if c, err := e.Current(ctx); err != nil || c.Rev != 0 {
		t.Fatalf("a refused batch left %+v %v", c, err)
	}
	got, err := e.CommitMany(ctx, 0, make([]Revision, MaxEtcdBatch))
	if err != nil || len(got) != MaxEtcdBatch || got[MaxEtcdBatch-1].Rev != MaxEtcdBatch {
		t.Fatalf("a batch of %d: %d committed, %v", MaxEtcdBatch, len(got), err)
	}
}

// Close ends every watch (its channel closes) and refuses what follows.
func TestEtcdCloseStopsWatches(t *testing.T) {
	ctx := context.Background()
	m := etcdtest.Start(t)
	e, err := OpenEtcd(ctx, EtcdConfig{Endpoints: []string{m.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Commit(ctx, 0, Revision{Data: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	var chs []<-chan Revision
	for _, after := range []uint64{0, 1} { // one with a revision to read, one waiting
		ch, err := e.Watch(ctx, after)
		if err != nil {
			t.Fatal(err)
		}
		chs = append(chs, ch)
	}
	if r := <-chs[0]; r.Rev != 1 {
		t.Fatalf("watch from 0 delivered %d", r.Rev)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for i, ch := range chs {
		select {
		case r, ok := <-ch:
			if ok {
				t.Errorf("watch %d delivered %d after Close", i, r.Rev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("watch %d was not closed by Close", i)
		}
	}
	if _, err := e.Commit(ctx, 1, Revision{}); !errors.Is(err, ErrClosed) {
		t.Errorf("commit after Close: %v", err)
	}
	if _, err := e.Watch(ctx, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("watch after Close: %v", err)
	}
}

// collect reads a watch until it has n revisions or 10 s pass, and checks
// they follow from after, one by one.
func collect(t *testing.T, ch <-chan Revision, after uint64, n int) []Revision {
	t.Helper()
	var got []Revision
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("the watch closed after %d of %d revisions", len(got), n)
			}
			if r.Rev != after+uint64(len(got))+1 {
				t.Fatalf("the watch delivered %d after %d", r.Rev, after+uint64(len(got)))
			}
			got = append(got, r)
		case <-timeout:
			t.Fatalf("the watch delivered %d of %d revisions in 10 s", len(got), n)
		}
	}
	return got
}

// Three etcd members and a store on each (a node each): commits racing on
// the same revision from two nodes, one wins and one gets ErrConflict,
// every time; a third node's watch sees every revision in order; events
// appended from every node at once get distinct Seqs. Then the leader
// stops in the middle of writes: every acknowledged revision is kept,
// writes resume on the others, and a watcher that is dropped while etcd has
// no leader picks up where it was, without a gap.
func TestEtcdCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	t.Run("racing nodes", func(t *testing.T) {
		ctx := context.Background()
		var nodes []*Etcd
		for _, m := range c.Members {
			nodes = append(nodes, openEtcd(t, EtcdConfig{Endpoints: []string{m.Endpoint}, Prefix: "/race/"}))
		}
		w, err := nodes[2].Watch(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		const rounds = 20
		var winners []string
		for i := range rounds {
			expect := uint64(i)
			errs := make([]error, 2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for n := range 2 {
				wg.Go(func() {
					<-start
					_, errs[n] = nodes[n].Commit(ctx, expect, Revision{Who: strconv.Itoa(n), Data: fmt.Appendf(nil, "%d by %d", expect+1, n)})
				})
			}
			close(start)
			wg.Wait()
			switch {
			case errs[0] == nil && errors.Is(errs[1], ErrConflict):
				winners = append(winners, "0")
			case errs[1] == nil && errors.Is(errs[0], ErrConflict):
				winners = append(winners, "1")
			default:
				t.Fatalf("round %d: %v and %v, want one commit and one ErrConflict", i, errs[0], errs[1])
			}
		}
		got := collect(t, w, 0, rounds)
		for i, r := range got {
			if want := fmt.Sprintf("%d by %s", i+1, winners[i]); string(r.Data) != want || r.Who != winners[i] {
				t.Errorf("revision %d: %q by %q, want %q", r.Rev, r.Data, r.Who, want)
			}
		}

		// Appends from every node at once.
		seen := map[uint64]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(func() {
				for range 10 {
					evs, err := n.AppendEvents(ctx, []Event{{Kind: "health"}, {Kind: "health"}})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, e := range evs {
						if seen[e.Seq] {
							t.Errorf("Seq %d given twice", e.Seq)
						}
						seen[e.Seq] = true
					}
					mu.Unlock()
					if evs[1].Seq != evs[0].Seq+1 {
						t.Errorf("one call's Seqs %d, %d", evs[0].Seq, evs[1].Seq)
					}
				}
			})
		}
		wg.Wait()
		if all := allSeqs(t, nodes[0]); len(all) != 60 || all[0] != 60 || all[59] != 1 {
			t.Errorf("listed %d events (%v), want 60…1", len(all), all)
		}
	})

	t.Run("leader stops", func(t *testing.T) {
		leader := c.Leader(t)
		var others []string
		for _, m := range c.Members {
			if m != leader {
				others = append(others, m.Endpoint)
			}
		}
		writer := openEtcd(t, EtcdConfig{Endpoints: c.Endpoints(), Prefix: "/failover/"})
		watcher := openEtcd(t, EtcdConfig{Endpoints: others, Prefix: "/failover/"})

		// The watcher follows the store as its contract says: when dropped,
		// it watches again from the last revision it saw.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		const total = 60
		watched := make(chan []uint64, 1)
		var watches atomic.Int64
		go func() {
			var revs []uint64
			var last uint64
			for ; watches.Load() < 100 && last < total; watches.Add(1) {
				wctx, wcancel := context.WithCancel(ctx)
				ch, err := watcher.Watch(wctx, last)
				if err != nil {
					wcancel()
					time.Sleep(20 * time.Millisecond)
					continue
				}
				for r := range ch {
					if last == total {
						continue // draining a watch that was ended
					}
					revs = append(revs, r.Rev)
					last = r.Rev
					if string(r.Data) != "v"+strconv.FormatUint(r.Rev, 10) {
						revs = append(revs, 0) // marks a wrong payload
					}
					if last == total {
						wcancel()
					}
				}
				wcancel()
				if ctx.Err() != nil {
					break
				}
			}
			watched <- revs
		}()

		// Writes: each a compare and swap on the revision the writer last
		// read; an error leaves the outcome unknown, so the writer reads
		// Current again and carries on from what is there.
		var acked []uint64
		deadline := time.Now().Add(15 * time.Second)
		stopped := false
		for cur := uint64(0); cur < total; {
			if time.Now().After(deadline) {
				t.Fatalf("only %d revisions committed in 15 s (acknowledged %d)", cur, len(acked))
			}
			if cur == total/2 && !stopped {
				leader.Stop()
				stopped = true
			}
			octx, ocancel := context.WithTimeout(context.Background(), time.Second)
			r, err := writer.Commit(octx, cur, Revision{Data: []byte("v" + strconv.FormatUint(cur+1, 10))})
			if err == nil {
				acked = append(acked, r.Rev)
				cur = r.Rev
			} else if c, cerr := writer.Current(octx); cerr == nil {
				cur = c.Rev
			}
			ocancel()
		}
		if !stopped {
			t.Fatal("the leader was never stopped")
		}
		if len(acked) < total/2+1 {
			t.Errorf("only %d commits acknowledged of %d", len(acked), total)
		}
		ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel2()
		for _, rev := range acked {
			if r, err := watcher.Get(ctx2, rev); err != nil || string(r.Data) != "v"+strconv.FormatUint(rev, 10) {
				t.Errorf("acknowledged revision %d: %q %v", rev, r.Data, err)
			}
		}
		if h, err := watcher.History(ctx2, 0, 2*total); err != nil || len(h) != total || h[0].Rev != total {
			t.Errorf("history after the failover: %d revisions, %v", len(h), err)
		}
		select {
		case <-time.After(10 * time.Second):
			cancel()
			t.Fatalf("the watcher did not reach revision %d", total)
		case revs := <-watched:
			for i, r := range revs {
				if r != uint64(i+1) {
					t.Fatalf("the watcher saw %v: not 1…%d once each, in order", revs, total)
				}
			}
			if len(revs) != total {
				t.Fatalf("the watcher saw %d revisions, want %d", len(revs), total)
			}
			t.Logf("%d commits acknowledged of %d; the watcher watched %d times", len(acked), total, watches.Load())
		}
	})
}
