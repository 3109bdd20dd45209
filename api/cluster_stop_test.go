package api

import (
	"context"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestClusterNodeStopsWithoutEtcd: a node that is not the events'
// recorder waits in etcd's election; stopped once etcd is gone, it ends
// within a few seconds. (etcd's Campaign, cancelled while waiting, resigns
// on its client's own context, which nothing ends but the client's Close:
// a node cut off from etcd hung on SIGTERM.)
func TestClusterNodeStopsWithoutEtcd(t *testing.T) {
	m := etcdtest.Start(t)
	cli := etcdtest.Client(t, m.Endpoint)
	ctx := context.Background()
	if _, err := cli.Get(ctx, "/nostop/"); err != nil {
		t.Fatal(err)
	}
	cfg := etcdConfig(t, "node g1\nstore etcd "+m.Endpoint+" {\n prefix /nostop/\n dial-timeout 2s\n}")
	svc, e := startService(t, cfg)
	defer e.Stop()
	ch := svc.clusterHealth()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not %s within 10 s: %+v", what, ch.status())
			}
		}
	}
	waitFor("leading", func() bool { return ch.status().Leader })
	// Another node campaigns, and g1's session ends (its lease revoked,
	// as if it had lapsed): the other node leads, and g1 campaigns again,
	// waiting behind it.
	// Its session ends with the test's context, not by Close, which would
	// wait up to its TTL to revoke its lease from an etcd that is gone.
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(30), concurrency.WithContext(sctx))
	if err != nil {
		t.Fatal(err)
	}
	led := make(chan error, 1)
	go func() { led <- concurrency.NewElection(sess, "/nostop/leader").Campaign(ctx, "other") }()
	r, err := cli.Get(ctx, "/nostop/leader", clientv3.WithPrefix())
	if err != nil || len(r.Kvs) == 0 {
		t.Fatalf("the election's keys: %v %v", r, err)
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(r.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-led:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other node did not lead within 10 s")
	}
	waitFor("a candidate behind the other node", func() bool {
		r, err := cli.Get(ctx, "/nostop/leader", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && r.Count == 2 && !ch.status().Leader
	})
	m.Stop()
	stopped := make(chan struct{})
	began := time.Now()
	go func() { svc.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Logf("stopped %v after etcd", time.Since(began).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the node did not stop within 15 s with etcd gone")
	}
}
