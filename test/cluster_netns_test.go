package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/etcdtest"
	"github.com/gtm-project/gtm/internal/netns"
)

// TestClusterNodeCutByNft runs node 3 of a cluster in a network namespace
// that reaches etcd over a veth pair, and cuts it off with an nft rule
// that drops its packets to etcd: it keeps answering, answers from its own
// probes after its grace (they see 127.0.0.32 down, the others do not),
// and comes back to the cluster's verdict when the rule goes; the two
// other nodes never move, though node 3's votes lapse.
func TestClusterNodeCutByNft(t *testing.T) {
	if why := netns.Missing("to cut a node from etcd in a network namespace", "nft"); why != "" {
		t.Skip(why)
	}
	ns := netns.New("gtm-cut", "gct", netns.Cut)
	t.Cleanup(func() { ns.Remove() })
	if err := ns.Create(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildCoreDNS(t, dir)
	etcd := etcdtest.Start(t)
	backend := startHealthBackend(t, "127.0.0.31", "127.0.0.32")
	// The same backend inside the namespace, where node 3 probes.
	lns, err := ns.Listen("tcp", []string{fmt.Sprintf("127.0.0.31:%d", backend.port), fmt.Sprintf("127.0.0.32:%d", backend.port)})
	if err != nil {
		t.Fatal(err)
	}
	backend.serve(t, lns)
	// etcd listens on loopback: node 3 reaches it through a forwarder on
	// the host's end of the pair.
	fwd := startProxyOn(t, ns.Host().String(), strings.TrimPrefix(etcd.Endpoint, "http://"))
	_, fwdPort, _ := net.SplitHostPort(fwd.addr)

	const secret = "0123456789abcdef0123"
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("ci admin "+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var nodes []*killProc
	for i := range 3 {
		name := fmt.Sprintf("n%d", i+1)
		host, eps := "127.0.0.1", []string{etcd.Endpoint}
		var wrap []string
		if i == 2 {
			host, eps, wrap = ns.Gateway().String(), []string{"http://" + fwd.addr}, []string{"ip", "netns", "exec", ns.Name}
		}
		p := &killProc{
			t: t, bin: bin, wrap: wrap,
			dnsAddr:  fmt.Sprintf("%s:%d", host, freePort(t)),
			apiBase:  fmt.Sprintf("http://%s:%d", host, freePort(t)),
			readyURL: fmt.Sprintf("http://%s:%d/ready", host, freePort(t)),
			conf:     filepath.Join(dir, "Corefile."+name),
			logPath:  filepath.Join(dir, "coredns."+name+".log"),
		}
		conf := votersCorefile(p, name, backend.port, false, eps)
		if i == 2 {
			// Off loopback, the API needs tokens.
			conf = strings.Replace(conf, "node n3", "node n3\n\t\t\ttoken "+tokens, 1)
		}
		if err := os.WriteFile(p.conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		p.start()
		t.Cleanup(p.kill)
		nodes = append(nodes, p)
	}
	both, one := []string{"127.0.0.31", "127.0.0.32"}, []string{"127.0.0.31"}
	for _, n := range nodes {
		waitAnswer(t, n, "www.example.org", both, 5*time.Second)
	}
	status := func(n *killProc) clusterStatus {
		t.Helper()
		var st clusterStatus
		decodeJSON(t, (&client{t: t, base: n.apiBase, token: secret}).must(200, "GET", "/api/v1/status", nil), &st)
		return st
	}
	steady := func(what string, d time.Duration, idx ...int) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			for _, i := range idx {
				if got, err := steadyA(nodes[i].dnsAddr, "www.example.org"); err != nil || !slices.Equal(got, both) {
					t.Fatalf("%s: node n%d answered %v (%v), want %v", what, i+1, got, err, both)
				}
			}
		}
	}

	// Cut: node 3's packets to etcd are dropped.
	if err := ns.Exec("nft", "add table inet gtmcut; add chain inet gtmcut out { type filter hook output priority 0; policy accept; }; "+
		"add rule inet gtmcut out ip daddr "+ns.Host().String()+" tcp dport "+fwdPort+" drop"); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	steady("n3 cut, within its grace", 1500*time.Millisecond, 0, 1, 2)
	backend.set("127.0.0.32", "n3", true)
	for {
		if st := status(nodes[2]); st.Store.Cluster.Fallback {
			t.Logf("n3 fell back on its own probes %v after the cut (grace 2 s)", time.Since(cut).Round(time.Millisecond))
			break
		}
		if time.Since(cut) > 10*time.Second {
			t.Fatalf("n3 did not fall back within 10 s of the cut\nserver log: %s", nodes[2].logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitAnswer(t, nodes[2], "www.example.org", one, 3*time.Second)
	if st := status(nodes[2]); st.Store.Reachable {
		t.Errorf("n3's status says etcd is reachable while cut: %+v", st.Store)
	}
	if code, body, _ := (&client{t: t, base: nodes[2].apiBase, token: secret}).call("POST", "/api/v1/pools",
		map[string]any{"name": "cut", "addresses": []map[string]any{{"address": "127.0.0.44"}}}); code != 503 {
		t.Errorf("a write through the cut node: %d %s", code, body)
	}
	steady("n3 cut, its votes lapsing", 11*time.Second, 0, 1)

	// Healed: back on the cluster's verdict (one of three sees it down).
	if err := ns.Exec("nft", "delete table inet gtmcut"); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, nodes[2], "www.example.org", both, 15*time.Second)
	if st := status(nodes[2]); st.Store.Cluster.Fallback || !st.Store.Cluster.Synced {
		t.Errorf("n3 after the rule went: %+v", st.Store.Cluster)
	}
	steady("n3 back", time.Second, 0, 1, 2)
}
