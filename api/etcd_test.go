package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime/pprof"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/internal/etcdtest"
	"github.com/gtm-project/gtm/store"
)

// etcdConfig parses a gtm block whose api block (line 4) holds storeLines
// (the store line is line 5).
func etcdConfig(t *testing.T, storeLines string) *config.Config {
	t.Helper()
	cfg, _, err := corefile.Parse(caddy.NewTestController("dns", "gtm example.org {\nns ns1.example.org 192.0.2.53\npool a {\n address 192.0.2.1\n}\napi 127.0.0.1:0 {\n"+storeLines+"\n}\n}"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestEtcdStoreLoadErrors: an etcd that does not answer within the dial
// timeout, and TLS files that cannot be read, are load errors naming the
// store's line.
func TestEtcdStoreLoadErrors(t *testing.T) {
	for _, tc := range []struct{ store, err string }{
		{fmt.Sprintf("store etcd http://127.0.0.1:%d {\n dial-timeout 300ms\n}", closedPort(t)), "not reachable within 300ms"},
		{"store etcd http://127.0.0.1:1 {\n tls /nonexistent/c.pem /nonexistent/k.pem /nonexistent/ca.pem\n}", "store etcd: tls: open /nonexistent/c.pem"},
	} {
		began := time.Now()
		_, _, err := New(etcdConfig(t, tc.store))
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "Testfile:7 - ") {
			t.Errorf("%q: error %v, want %q at Testfile:7", tc.store, err, tc.err)
		}
		if d := time.Since(began); d > 3*time.Second {
			t.Errorf("%q: took %v", tc.store, d)
		}
	}
}

// dropping is a store whose watches end after their first revision, as a
// watch that etcd or the store drops does.
type dropping struct {
	store.Store
	watches atomic.Int32
}

func (d *dropping) Watch(ctx context.Context, after uint64) (<-chan Revision, error) {
	d.watches.Add(1)
	in, err := d.Store.Watch(ctx, after)
	if err != nil {
		return nil, err
	}
	out := make(chan Revision, 1)
	go func() {
		defer close(out)
		if r, ok := <-in; ok {
			out <- r
		}
		// in is drained by the store's end of ctx or by Close.
	}()
	return out, nil
}

// Revision is store.Revision, for dropping's signature.
type Revision = store.Revision

// TestEtcdFollowsOtherNodes: a revision another node commits to etcd
// reaches this service's engine without any write here; a watch that is
// dropped is set up again and the next commit is followed too; Stop ends
// the follower.
func TestEtcdFollowsOtherNodes(t *testing.T) {
	m := etcdtest.Start(t)
	cfg := etcdConfig(t, "store etcd "+m.Endpoint+" {\n prefix /follow/\n}")
	svc, merged, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	open := svc.open
	var d *dropping
	svc.open = func() (store.Store, error) {
		st, err := open()
		if err != nil {
			return nil, err
		}
		d = &dropping{Store: st}
		return d, nil
	}
	e := engine.Start(engine.New(merged))
	defer e.Stop()
	if err := svc.Start(e); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			svc.Stop()
		}
	}()

	// The other node: its own client on the same prefix.
	other, err := store.OpenEtcd(context.Background(), store.EtcdConfig{Endpoints: []string{m.Endpoint}, Prefix: "/follow/"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	commit := func(pool, addr string) uint64 {
		t.Helper()
		ctx := context.Background()
		cur, err := other.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, err := decodeState(cur.Data)
		if err != nil {
			t.Fatal(err)
		}
		var p config.PoolJSON
		if err := json.Unmarshal([]byte(fmt.Sprintf(`{"name":%q,"addresses":[{"address":%q}]}`, pool, addr)), &p); err != nil {
			t.Fatal(err)
		}
		st.Config.Pools = append(slices.Clone(st.Config.Pools), p)
		r, err := other.Commit(ctx, cur.Rev, store.Revision{Who: "node2", Change: "pool " + pool, Data: st.encode()})
		if err != nil {
			t.Fatal(err)
		}
		return r.Rev
	}
	follows := func(rev uint64, pool string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for {
			svc.mu.RLock()
			got := svc.rev
			svc.mu.RUnlock()
			if got == rev && slices.ContainsFunc(e.Config().Pools, func(p *config.Pool) bool { return p.Name == pool }) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("not following revision %d (pool %s): at %d", rev, pool, got)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	follows(commit("b", "192.0.2.2"), "b")
	// The first watch ended after revision 1; the follower watches again.
	follows(commit("c", "192.0.2.3"), "c")
	if n := d.watches.Load(); n < 2 {
		t.Errorf("%d watches, want the dropped one set up again", n)
	}

	svc.Stop()
	stopped = true
	var sb strings.Builder
	pprof.Lookup("goroutine").WriteTo(&sb, 1)
	if strings.Contains(sb.String(), "(*Service).follow") {
		t.Errorf("the follower runs after Stop:\n%s", sb.String())
	}
	// Stopped: another commit is not followed.
	rev := commit("d", "192.0.2.4")
	time.Sleep(200 * time.Millisecond)
	if slices.ContainsFunc(e.Config().Pools, func(p *config.Pool) bool { return p.Name == "d" }) {
		t.Errorf("revision %d followed after Stop", rev)
	}
}

// startService starts the block's engine and its API, as OnStartup does;
// the caller stops them (service first), when its test needs to.
func startService(t *testing.T, cfg *config.Config) (*Service, *engine.Engine) {
	t.Helper()
	svc, merged, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := engine.Start(engine.New(merged))
	if err := svc.Start(e); err != nil {
		e.Stop()
		t.Fatal(err)
	}
	// Stopped even when the test ends early: a service left running keeps
	// its address's entry, and the next test's engine of the same
	// configuration would share it instead of listening.
	t.Cleanup(func() {
		svc.Stop()
		e.Stop()
	})
	return svc, e
}
