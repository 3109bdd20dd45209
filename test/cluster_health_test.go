package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/etcdtest"
	"github.com/miekg/dns"
)

// healthBackend is an HTTP server on several loopback addresses, one
// port, whose answer to each node's probe path ("/n1") is set by the
// test: the same address can look down to one node and up to another, as
// it would from different vantage points.
type healthBackend struct {
	port  int
	down  sync.Map // "ADDRESS /nI" → true
	delay sync.Map // "ADDRESS /nI" → time.Duration before answering
}

func startHealthBackend(t *testing.T, addrs ...string) *healthBackend {
	t.Helper()
	b := &healthBackend{}
	for try := 0; ; try++ {
		var lns []net.Listener
		port := 0
		var err error
		for _, a := range addrs {
			var ln net.Listener
			if ln, err = net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port))); err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			lns = append(lns, ln)
		}
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			if try < 20 {
				continue
			}
			t.Fatal(err)
		}
		b.port = port
		b.serve(t, lns)
		return b
	}
}

// serve answers probes on lns (more listeners may be given later, in a
// network namespace say): by the address the probe reached and its path.
func (b *healthBackend) serve(t *testing.T, lns []net.Listener) {
	for _, ln := range lns {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
			if d, ok := b.delay.Load(host + " " + r.URL.Path); ok {
				time.Sleep(d.(time.Duration))
			}
			if d, _ := b.down.Load(host + " " + r.URL.Path); d == true {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok")
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
}

func (b *healthBackend) set(addr, node string, down bool) { b.down.Store(addr+" /"+node, down) }

// cutProxy forwards TCP connections to a target until cut: then, as a
// partition that drops packets would, it delivers nothing either way
// (bytes are read and dropped, new connections are accepted and never
// forwarded, nothing is reset), until healed.
type cutProxy struct {
	target string
	addr   string
	ln     net.Listener
	cutOff atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	return startProxyOn(t, "127.0.0.1", target)
}

// startProxyOn is a cutProxy listening on host.
func startProxyOn(t *testing.T, host, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		go func() {
			// A connection made while cut waits until healed.
			for p.cutOff.Load() {
				time.Sleep(20 * time.Millisecond)
			}
			u, err := net.DialTimeout("tcp", p.target, time.Second)
			if err != nil {
				c.Close()
				return
			}
			p.track(u)
			go p.pipe(u, c)
			p.pipe(c, u)
		}()
	}
}

func (p *cutProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
}

// pipe copies from src to dst, dropping what it reads while cut.
func (p *cutProxy) pipe(dst, src net.Conn) {
	defer func() {
		src.Close()
		dst.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cutOff.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) cut()              { p.cutOff.Store(true) }
func (p *cutProxy) heal(_ *testing.T) { p.cutOff.Store(false) }

// votersCorefile is node n of a cluster whose nodes probe one pool over
// HTTP, each with its own path on the backend.
func votersCorefile(p *killProc, node string, backendPort int, noProbe bool, endpoints []string, hook ...string) string {
	host, port, _ := strings.Cut(p.dnsAddr, ":")
	ready := strings.TrimSuffix(strings.TrimPrefix(p.readyURL, "http://"), "/ready")
	probe := ""
	if noProbe {
		probe = "probe off"
	}
	if len(hook) > 0 {
		probe += "\n\t\t\twebhook ops " + hook[0] + " {\n\t\t\t\tevents address\n\t\t\t}"
	}
	return fmt.Sprintf(`example.org:%s {
	bind %s
	ready %s
	gtm {
		ns ns1.example.org 127.0.0.53
		monitor web {
			protocol http
			port %d
			path /%s
			interval 200ms
			timeout 150ms
			rise 2
			fall 2
		}
		pool main {
			monitor web
			address 127.0.0.31 127.0.0.32
		}
		instance www {
			ttl 5
			primary main
		}
		api %s {
			node %s
			vantage test-%s EU DE
			quorum 50%%
			grace 2s
			%s
			store etcd %s {
				prefix /gtm-health/
				dial-timeout 3s
			}
		}
	}
}
`, port, host, ready, backendPort, node, strings.TrimPrefix(p.apiBase, "http://"), node, node, probe, strings.Join(endpoints, " "))
}

type clusterStatus struct {
	Store struct {
		Reachable bool
		Cluster   struct {
			Node     string
			Leader   bool
			Synced   bool
			Fallback bool
			Probe    bool
			Votes    int
			Down     int
		}
	}
}

// TestClusterHealth runs a 3-member etcd and four gtm nodes from
// Corefiles: three probe an HTTP backend (each with its own path, so that
// the test decides what each node sees) and one is resolution-only. One
// node of three seeing an address down does not take it out; two do,
// everywhere, within interval × fall + 1 s, recorded once. A node cut off
// from etcd keeps answering, falls back on its own probes after its
// grace, and rejoins, and no other node's answers move meanwhile. Killing
// etcd's leader and then every member leaves every node answering; writes
// get 503 and resume, and the nodes converge.
func TestClusterHealth(t *testing.T) {
	began := time.Now()
	dir := t.TempDir()
	bin := buildCoreDNS(t, dir)
	etcd := etcdtest.StartCluster(t, 3)
	backend := startHealthBackend(t, "127.0.0.31", "127.0.0.32")
	// Every node has the same webhook: an alert must come once per
	// cluster event, not once per node.
	var alertsDown atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Event struct{ Kind, New, Address string }
		}
		if ev := &b.Event; json.NewDecoder(r.Body).Decode(&b) == nil && ev.Kind == "address" && ev.New == "unhealthy" && ev.Address == "127.0.0.32" {
			alertsDown.Add(1)
		}
	}))
	t.Cleanup(hook.Close)

	// Node 3 reaches etcd through proxies the test can cut.
	var proxies []*cutProxy
	var proxied []string
	for _, ep := range etcd.Endpoints() {
		px := startCutProxy(t, strings.TrimPrefix(ep, "http://"))
		proxies = append(proxies, px)
		proxied = append(proxied, "http://"+px.addr)
	}
	var nodes []*killProc
	for i := range 4 {
		name := fmt.Sprintf("n%d", i+1)
		p := &killProc{
			t: t, bin: bin,
			dnsAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			apiBase:  fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
			readyURL: fmt.Sprintf("http://127.0.0.1:%d/ready", freePort(t)),
			conf:     filepath.Join(dir, "Corefile."+name),
			logPath:  filepath.Join(dir, "coredns."+name+".log"),
		}
		eps := etcd.Endpoints()
		if i == 2 {
			eps = proxied
		}
		if err := os.WriteFile(p.conf, []byte(votersCorefile(p, name, backend.port, i == 3, eps, hook.URL)), 0o644); err != nil {
			t.Fatal(err)
		}
		p.start()
		t.Cleanup(p.kill)
		nodes = append(nodes, p)
	}
	both := []string{"127.0.0.31", "127.0.0.32"}
	one := []string{"127.0.0.31"}
	for _, n := range nodes {
		waitAnswer(t, n, "www.example.org", both, 5*time.Second)
	}
	status := func(n *killProc) clusterStatus {
		t.Helper()
		var st clusterStatus
		decodeJSON(t, (&client{t: t, base: n.apiBase}).must(200, "GET", "/api/v1/status", nil), &st)
		return st
	}
	if st := status(nodes[3]); !st.Store.Cluster.Synced || st.Store.Cluster.Probe || st.Store.Cluster.Votes != 2 {
		t.Errorf("the resolution-only node's status: %+v", st.Store.Cluster)
	}

	// steady checks, for a while, that every node (but skip) keeps
	// answering want.
	steady := func(what string, want []string, d time.Duration, skip ...int) {
		t.Helper()
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			for i, n := range nodes {
				if slices.Contains(skip, i) {
					continue
				}
				if got, err := steadyA(n.dnsAddr, "www.example.org"); err != nil || !slices.Equal(got, want) {
					t.Fatalf("%s: node n%d answered %v (%v), want %v", what, i+1, got, err, want)
				}
			}
		}
	}

	// One node of three sees 127.0.0.32 down: not enough at 50%.
	backend.set("127.0.0.32", "n1", true)
	steady("127.0.0.32 down from n1 only", both, 1500*time.Millisecond)

	// A second one: down everywhere, the resolution-only node included.
	t0 := time.Now()
	backend.set("127.0.0.32", "n2", true)
	var worst time.Duration
	for _, n := range nodes {
		worst = max(worst, waitAnswer(t, n, "www.example.org", one, 6*time.Second))
	}
	took := time.Since(t0)
	// The target (interval × fall + 1 s) is bench/cluster's to check; a
	// test only bounds it, for a loaded machine running the race detector.
	t.Logf("2 of 3 nodes see an address down → every node answers without it: %v (interval 200ms × fall 2 + 1 s = 1.4 s)", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("quorum took %v", took)
	}
	// Recorded once for the cluster, whichever node is asked.
	countDown := func(n *killProc) int {
		var evs []struct {
			Kind, New, Node string
		}
		decodeJSON(t, (&client{t: t, base: n.apiBase}).must(200, "GET", "/api/v1/events?address=127.0.0.32", nil), &evs)
		c := 0
		for _, e := range evs {
			if e.Kind == "address" && e.New == "unhealthy" {
				c++
			}
		}
		return c
	}
	for end := time.Now().Add(3 * time.Second); countDown(nodes[3]) == 0 && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if c1, c4 := countDown(nodes[0]), countDown(nodes[3]); c1 != 1 || c4 != 1 {
		t.Errorf("the cluster's log holds %d (asked n1) and %d (asked n4) events of 127.0.0.32 going down, want 1", c1, c4)
	}
	if n := alertsDown.Load(); n != 1 {
		t.Errorf("the webhook got %d alerts of 127.0.0.32 going down from 4 nodes, want 1", n)
	}

	// Back up for both: everywhere again.
	backend.set("127.0.0.32", "n1", false)
	backend.set("127.0.0.32", "n2", false)
	for _, n := range nodes {
		waitAnswer(t, n, "www.example.org", both, 3*time.Second)
	}

	// Cut node 3 from etcd. It keeps answering; after its grace (2 s) it
	// answers from its own probes, which now see 127.0.0.32 down; the
	// others never move, though node 3's votes lapse.
	t.Logf("cutting n3 from etcd (test at %v)", time.Since(began).Round(time.Millisecond))
	for _, px := range proxies {
		px.cut()
	}
	steady("n3 cut, before its grace", both, 1500*time.Millisecond)
	backend.set("127.0.0.32", "n3", true)
	cut := time.Now()
	for {
		st := status(nodes[2])
		if st.Store.Cluster.Fallback {
			break
		}
		if time.Since(cut) > 10*time.Second {
			t.Fatalf("n3 did not fall back within 10 s of being cut: %+v", st.Store.Cluster)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitAnswer(t, nodes[2], "www.example.org", one, 3*time.Second)
	// Past the lease of n3's votes (10 s): the others see only theirs.
	steady("n3 cut, its votes lapsing", both, 11*time.Second, 2)
	for _, px := range proxies {
		px.heal(t)
	}
	// Back: the cluster's verdict (1 of 3 down) again.
	waitAnswer(t, nodes[2], "www.example.org", both, 10*time.Second)
	if st := status(nodes[2]); st.Store.Cluster.Fallback || !st.Store.Cluster.Synced {
		t.Errorf("n3 after healing: %+v", st.Store.Cluster)
	}
	steady("n3 rejoined, seeing 127.0.0.32 down alone", both, time.Second)
	backend.set("127.0.0.32", "n3", false)

	// Kill etcd's leader: nobody stops answering, writes resume.
	leader := etcd.Leader(t)
	t.Logf("killing etcd's leader %s (test at %v)", leader.Name, time.Since(began).Round(time.Millisecond))
	leader.Stop()
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		for !stop.Load() {
			for i, n := range nodes {
				if got, err := steadyA(n.dnsAddr, "www.example.org"); err != nil || !slices.Equal(got, both) {
					done <- fmt.Errorf("node n%d answered %v (%v) while etcd changed leader", i+1, got, err)
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		done <- nil
	}()
	c1 := &client{t: t, base: nodes[0].apiBase}
	wrote := false
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		code, body, _ := c1.call("POST", "/api/v1/pools", map[string]any{"name": "extra", "addresses": []map[string]any{{"address": "127.0.0.41"}}})
		if code == 201 {
			wrote = true
			break
		}
		if code != 503 {
			t.Fatalf("a write while etcd elects a leader: %d %s", code, body)
		}
	}
	if !wrote {
		t.Fatal("writes did not resume within 15 s of killing etcd's leader")
	}
	var w struct{ Revision uint64 }
	decodeJSON(t, c1.must(201, "PUT", "/api/v1/instances/extra.example.org", map[string]any{"ttl": 5,
		"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "extra"}}}}}}), &w)
	if w.Revision == 0 {
		t.Fatal("the write's answer names no revision: the in-sync report below would not be tied to it")
	}
	for _, n := range nodes {
		waitAnswer(t, n, "extra.example.org", []string{"127.0.0.41"}, 5*time.Second)
	}
	// The in-sync report, asked of node 3, turns complete: all four.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var r struct {
			Status string
			Behind []string
			Nodes  []struct{ Node string }
		}
		decodeJSON(t, (&client{t: t, base: nodes[2].apiBase}).must(200, "GET", fmt.Sprintf("/api/v1/cluster?revision=%d", w.Revision), nil), &r)
		if r.Status == "insync" && len(r.Nodes) == 4 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("revision %d not in sync on 4 nodes within 5 s: %+v", w.Revision, r)
		}
	}
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	leader.Restart(t)

	// Kill every member: every node keeps answering, writes get 503.
	t.Logf("stopping all of etcd (test at %v)", time.Since(began).Round(time.Millisecond))
	for _, m := range etcd.Members {
		m.Stop()
	}
	steady("etcd gone", both, 3*time.Second)
	if code, body, _ := c1.call("POST", "/api/v1/pools", map[string]any{"name": "lost", "addresses": []map[string]any{{"address": "127.0.0.42"}}}); code != 503 {
		t.Errorf("a write with etcd gone: %d %s", code, body)
	}
	for i, n := range nodes {
		if st := status(n); !st.Store.Cluster.Fallback || st.Store.Reachable && i == 0 {
			t.Errorf("n%d with etcd gone for 3 s (grace 2 s): %+v", i+1, st.Store)
		}
	}
	etcd.RestartAll(t)
	for i, n := range nodes {
		for end := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			st := status(n)
			if !st.Store.Cluster.Fallback && st.Store.Cluster.Synced {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("n%d did not rejoin within 15 s of etcd's return: %+v", i+1, st.Store.Cluster)
			}
		}
	}
	c2 := &client{t: t, base: nodes[1].apiBase}
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		code, body, _ := c2.call("POST", "/api/v1/pools", map[string]any{"name": "after", "addresses": []map[string]any{{"address": "127.0.0.43"}}})
		if code == 201 {
			break
		}
		if code != 503 || time.Now().After(end) {
			t.Fatalf("a write after etcd's return: %d %s", code, body)
		}
	}
	c2.must(201, "PUT", "/api/v1/instances/after.example.org", map[string]any{"ttl": 5,
		"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "after"}}}}}})
	for _, n := range nodes {
		waitAnswer(t, n, "after.example.org", []string{"127.0.0.43"}, 5*time.Second)
		waitAnswer(t, n, "www.example.org", both, time.Second)
	}
	t.Logf("done in %v", time.Since(began).Round(time.Millisecond))
}

// steadyA is aOf for a check that the answer does not change: a query
// that times out on a loaded machine is asked again (up to three times,
// with longer timeouts), since only an answer says anything.
func steadyA(addr, name string) ([]string, error) {
	var err error
	for _, timeout := range []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		var r *dns.Msg
		if r, _, err = (&dns.Client{Timeout: timeout}).Exchange(m, addr); err != nil {
			continue
		}
		var out []string
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		slices.Sort(out)
		return out, nil
	}
	return nil, err
}
