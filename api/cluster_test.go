package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// TestTally: an address is down when at least the quorum of the nodes
// voting on it see it down.
func TestTally(t *testing.T) {
	votes := func(down, up int) map[string]bool {
		m := map[string]bool{}
		for i := range down {
			m[fmt.Sprintf("d%d", i)] = true
		}
		for i := range up {
			m[fmt.Sprintf("u%d", i)] = false
		}
		return m
	}
	for _, tc := range []struct {
		down, up, quorum int
		want             health.Status
	}{
		{1, 2, 50, health.Healthy},   // one of three is not enough at 50%
		{2, 1, 50, health.Unhealthy}, // two of three are
		{1, 1, 50, health.Unhealthy}, // at least half
		{0, 3, 50, health.Healthy},
		{1, 0, 50, health.Unhealthy}, // a lone voter decides
		{2, 1, 100, health.Healthy},  // every one must
		{3, 0, 100, health.Unhealthy},
		{1, 9, 10, health.Unhealthy},
		{1, 10, 10, health.Healthy},
	} {
		if got, down := tally(votes(tc.down, tc.up), tc.quorum); got != tc.want || down != tc.down {
			t.Errorf("%d down, %d up at %d%%: %v (%d down), want %v", tc.down, tc.up, tc.quorum, got, down, tc.want)
		}
	}
}

// TestClusterNodeStops: a node of a cluster reads the votes, publishes its
// own under a lease and campaigns to record events; stopped while etcd
// still runs, it leaves no goroutine behind and its votes are gone at
// once (the lease is revoked), not at its lapse.
func TestClusterNodeStops(t *testing.T) {
	m := etcdtest.Start(t)
	cli := etcdtest.Client(t, m.Endpoint)
	// The test's own connection is made at its first call: before the
	// goroutines that may run on are noted.
	if _, err := cli.Get(context.Background(), "/stops/"); err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()
	cfg := etcdConfig(t, "node g1\nstore etcd "+m.Endpoint+" {\n prefix /stops/\n}")
	svc, merged, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := engine.Start(engine.New(merged))
	if err := svc.Start(e); err != nil {
		e.Stop()
		t.Fatal(err)
	}
	// Another node's vote, and this one's on an address it does not probe
	// (left from an earlier life under a lease of its own).
	ctx := context.Background()
	g, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/stops/health/other/a/192.0.2.1", "down", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	ch := svc.clusterHealth()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := ch.status()
		if st.Synced && st.Leader && st.Down == 1 && engine.Ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not synced, leading and seeing the other node's vote within 5 s: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.Health(health.Key{Pool: "a", Address: "192.0.2.1"}); got != health.Unhealthy {
		t.Errorf("the engine's verdict on a/192.0.2.1, which the only voter sees down: %v", got)
	}
	r, err := cli.Get(ctx, "/stops/leader", clientv3.WithPrefix())
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "g1" {
		t.Fatalf("the election's key: %v %v", r, err)
	}
	svc.Stop()
	e.Stop()
	r, err = cli.Get(ctx, "/stops/leader", clientv3.WithPrefix())
	if err != nil || len(r.Kvs) != 0 {
		t.Errorf("the election's key after stopping: %v %v", r.Kvs, err)
	}
	goleak.VerifyNone(t, ignore)
}
