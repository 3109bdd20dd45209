package api

import (
	"context"
	"encoding/json"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/engine"
	"github.com/gtm-project/gtm/internal/etcdtest"
	"github.com/miekg/dns"
)

// TestEtcdUnreachable stops the etcd a node commits to: writes are refused
// with 503 and the reason, promptly and with nothing applied; reads, the
// status (which says the store is unreachable) and the DNS answers go on
// from the last state; once etcd is back, writes succeed again.
func TestEtcdUnreachable(t *testing.T) {
	// Runs last, once etcd has stopped: nothing of the node (the follower,
	// the reporter and its lease keep-alive, the etcd client) is left.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	m := etcdtest.Start(t)
	cfg := etcdConfig(t, "store etcd "+m.Endpoint+" {\n prefix /reach/\n}")
	svc, e := startService(t, cfg)
	defer e.Stop()
	defer svc.Stop()
	base := "http://" + svc.Addr().String()
	call := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	answer := func() []string {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion("www.example.org.", dns.TypeA)
		r, _ := e.Answer(engine.Query{Req: q, Name: "www.example.org.", Type: dns.TypeA, Zone: "example.org.",
			Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}})
		var out []string
		if r != nil {
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					out = append(out, a.A.String())
				}
			}
		}
		return out
	}
	type status struct {
		Revision uint64
		Store    StoreStatus
	}
	getStatus := func() status {
		t.Helper()
		code, body := call("GET", "/api/v1/status", "")
		if code != 200 {
			t.Fatalf("status: %d %s", code, body)
		}
		var st status
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	if code, body := call("PUT", "/api/v1/instances/www.example.org", `{"ttl":5,"rules":[{"match":"default","primary":{"pools":[{"pool":"a"}]}}]}`); code != 201 {
		t.Fatalf("instance: %d %s", code, body)
	}
	if got := answer(); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("answer %v", got)
	}
	before := getStatus()
	if before.Store.Kind != "etcd" || !before.Store.Reachable {
		t.Fatalf("store status before: %+v", before.Store)
	}

	m.Stop()
	pool := `{"name":"b","addresses":[{"address":"192.0.2.2"}]}`
	began := time.Now()
	code, body := call("POST", "/api/v1/pools", pool)
	took := time.Since(began)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "the store (etcd at "+m.Endpoint+") is unreachable") {
		t.Fatalf("a write while etcd is down: %d %s", code, body)
	}
	if took > commitTimeout+time.Second {
		t.Errorf("the refusal took %v", took)
	}
	// Refused at once now that the node knows.
	began = time.Now()
	if code, body := call("PUT", "/api/v1/overrides/addresses/a/192.0.2.1", `{"mode":"drain","reason":"x"}`); code != http.StatusServiceUnavailable {
		t.Errorf("a second write: %d %s", code, body)
	}
	if d := time.Since(began); d > 500*time.Millisecond {
		t.Errorf("the second refusal took %v", d)
	}
	t.Logf("etcd down: first write refused in %v, the next in %v", took.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	down := getStatus()
	if down.Store.Reachable || down.Store.Error == "" || down.Revision != before.Revision {
		t.Errorf("status while etcd is down: %+v", down)
	}
	if code, body := call("GET", "/api/v1/pools/a", ""); code != 200 {
		t.Errorf("a read while etcd is down: %d %s", code, body)
	}
	if code, _ := call("GET", "/api/v1/pools/b", ""); code != 404 {
		t.Errorf("the refused pool reads %d", code)
	}
	if got := answer(); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("answer while etcd is down: %v", got)
	}

	m.Restart(t)
	restarted := time.Now()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body = call("POST", "/api/v1/pools", pool)
		if code == 201 {
			break
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("a write after etcd is back: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("etcd restarted: the first write succeeded %v later", time.Since(restarted).Round(time.Millisecond))
	up := getStatus()
	if !up.Store.Reachable || up.Store.Error != "" || up.Revision != before.Revision+1 {
		t.Errorf("status after etcd is back: %+v (before: revision %d)", up, before.Revision)
	}
	if code, body := call("PUT", "/api/v1/overrides/addresses/a/192.0.2.1", `{"mode":"drain","reason":"x"}`); code != 200 {
		t.Errorf("a drain after etcd is back: %d %s", code, body)
	}
	if got := answer(); len(got) != 0 && slices.Contains(got, "192.0.2.1") {
		t.Errorf("answer after the drain: %v", got)
	}

	// The node records the revision it applied, under its host name; its
	// key goes when it stops, and the reporter with it.
	host, _ := os.Hostname()
	var cl ClusterBody
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body := call("GET", "/api/v1/cluster", "")
		if code != 200 {
			t.Fatalf("cluster: %d %s", code, body)
		}
		cl = ClusterBody{}
		json.Unmarshal([]byte(body), &cl)
		if cl.Status == "insync" && len(cl.Nodes) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster report: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := cl.Nodes[0]; n.Node != host || !n.Self || n.Revision != getStatus().Revision {
		t.Errorf("cluster report: %+v", cl)
	}
	svc.Stop()
	var sb strings.Builder
	pprof.Lookup("goroutine").WriteTo(&sb, 1)
	if strings.Contains(sb.String(), "(*Service).report") {
		t.Errorf("the reporter runs after Stop:\n%s", sb.String())
	}
	r, err := etcdtest.Client(t, m.Endpoint).Get(context.Background(), "/reach/nodes/", clientv3.WithPrefix())
	if err != nil || len(r.Kvs) != 0 {
		t.Errorf("node keys after Stop: %v %v", r, err)
	}
}

// TestClusterReportEmbedded: with the embedded store the report is this
// node alone, named by 'node', in sync with its own revision and pending
// for one to come.
func TestClusterReportEmbedded(t *testing.T) {
	cfg := etcdConfig(t, "store "+filepath.Join(t.TempDir(), "g.db")+"\nnode edge-1")
	svc, e := startService(t, cfg)
	defer e.Stop()
	defer svc.Stop()
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	get := func(q string) ClusterBody {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/v1/cluster" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b ClusterBody
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		return b
	}
	b := get("")
	if b.Status != "insync" || len(b.Nodes) != 1 || b.Nodes[0].Node != "edge-1" || !b.Nodes[0].Self || b.Nodes[0].Revision != b.Revision {
		t.Errorf("now: %+v", b)
	}
	if b := get("?revision=99"); b.Status != "pending" || !slices.Equal(b.Behind, []string{"edge-1"}) {
		t.Errorf("a revision to come: %+v", b)
	}
}
