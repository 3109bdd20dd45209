package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
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

// TestClusterNodeStops: a node of a cluster reads the others' votes,
// answers and reports by them, and campaigns to record events; stopped
// while etcd still runs, it leaves no goroutine behind and its leader key
// is gone at once (its session's lease is revoked), not at its lapse.
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
	svc, e := startService(t, cfg)
	// Another node's vote, under a lease of its own.
	ctx := context.Background()
	g, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/stops/health/votes/other/a/192.0.2.1", "down", clientv3.WithLease(g.ID)); err != nil {
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
	// Status says what the answers follow: the cluster's verdict.
	if ps, ok := e.PoolStatus("a"); !ok || len(ps.Addresses) != 1 || ps.Addresses[0].Health != "unhealthy" || ps.Addresses[0].Vantage != "cluster" || ps.Addresses[0].Usable {
		t.Errorf("the status of pool a: %+v; want 192.0.2.1 unhealthy by the cluster, not usable", ps)
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

// TestEtcdLargeStates: writes that arrive together on a large state are
// committed in as many etcd transactions as etcd's request limit needs,
// and a state beyond it is refused with 413, naming the limit.
func TestEtcdLargeStates(t *testing.T) {
	m := etcdtest.Start(t)
	cfg := etcdConfig(t, "max-body 4194304\nstore etcd "+m.Endpoint+" {\n prefix /large/\n}")
	svc, e := startService(t, cfg)
	defer e.Stop()
	defer svc.Stop()
	base := "http://" + svc.Addr().String()
	put := func(name string, n int) (int, string) {
		var b strings.Builder
		fmt.Fprintf(&b, `{"name":%q,"addresses":[`, name)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"address":"10.%d.%d.%d"}`, i>>16&255, i>>8&255, i&255)
		}
		b.WriteString("]}")
		req, _ := http.NewRequest("PUT", base+"/api/v1/pools/"+name, strings.NewReader(b.String()))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// About 700 KB of state.
	if code, body := put("big", 25000); code != 201 {
		t.Fatalf("a 25,000-address pool: %d %s", code, body[:min(len(body), 300)])
	}
	// Eight writes at once: eight states of 700 KB do not fit one etcd
	// request, so they go in several groups; every one is committed.
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = put(fmt.Sprintf("small%d", i), 1)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 201 {
			t.Errorf("write %d of 8 at once on a 700 KB state: %d", i, c)
		}
	}
	// Beyond one request: refused, and nothing changed.
	code, body := put("huge", 40000)
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "more than one etcd request takes") {
		t.Errorf("a state beyond etcd's request limit: %d %s", code, body[:min(len(body), 300)])
	}
	if e.Config().Pool("huge") != nil || e.Config().Pool("small7") == nil {
		t.Error("the engine's pools after the refused write are wrong")
	}
}
