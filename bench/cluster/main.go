// Command cluster measures a gtm cluster: three etcd members and three gtm
// nodes, each a separate process on loopback, sharing configuration and
// health through etcd (issue 12's numbers).
//
//	go run ./bench/cluster [-changes 100] [-rounds 20] [-interval 1s] [-fall 2]
//	                       [-addresses 10000] [-steady 60s] [-steady-interval 5s]
//	                       [-append] [-smoke]
//
// It builds the gtm CoreDNS (./cmd/coredns) and etcd 3.7.2 from the module
// graph (./internal/cmd/etcd) into a temporary directory, starts a 3-member
// etcd cluster on free 127.0.0.1 ports (data in that directory), and
// measures:
//
//	a. configuration change to answer: a pool's one address is replaced
//	   through node 1's API -changes times; the time from the PUT's start
//	   to the moment all 3 nodes answer the new address (each node asked
//	   back to back from the start). Target p99 < 1 s.
//	b. quorum down to answer: each node probes one pool over HTTP with its
//	   own path on a backend in this process (interval, fall), so the
//	   backend decides what each node sees; 127.0.0.32 is made to fail for
//	   2 of the 3 nodes, and the time until every node answers without it
//	   is measured, -rounds times (restored between rounds, the next round
//	   starting only when all 3 nodes' published votes are "up" again, at
//	   a varying point of the probe cycle). Once before the rounds, 1 of 3
//	   seeing it down is checked not to be enough. Target p99 ≤
//	   interval × fall + 1 s.
//	c. etcd writes at steady state: the nodes are restarted probing
//	   -addresses addresses over TCP (127.1.x.y, on a port with no
//	   listener: connection refused, a verdict that never changes, and
//	   every probe stays on loopback). Once every node has published its
//	   verdicts and neither etcd's revision nor any node's
//	   coredns_gtm_cluster_verdict_writes_total has moved for a while, a
//	   window of -steady: etcd's revision (a Get's header; any put or
//	   delete bumps it, lease keep-alives do not) and the nodes' verdict
//	   writes before and after, beside etcd's lease renewals. Target: no
//	   verdict writes, lease keep-alives only.
//
// It prints a Markdown summary and, with -append, appends it to
// bench/RESULTS.md. -smoke runs small numbers in well under a minute after
// the builds (CI checks the harness, not the figures). Every wait is
// bounded; every process started is stopped on exit, on failure and on
// Ctrl-C (and dies with this one: Pdeathsig).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

type settings struct {
	changes, rounds, fall, addresses int
	interval, steady, steadyEvery    time.Duration
	smoke, appendTo                  bool
}

func main() {
	var s settings
	flag.IntVar(&s.changes, "changes", 100, "a: configuration changes through node 1")
	flag.IntVar(&s.rounds, "rounds", 20, "b: rounds of an address going down for 2 of 3 nodes")
	flag.DurationVar(&s.interval, "interval", time.Second, "b: probe interval")
	flag.IntVar(&s.fall, "fall", 2, "b: failed probes to mark an address down")
	flag.IntVar(&s.addresses, "addresses", 10000, "c: addresses every node probes over TCP")
	flag.DurationVar(&s.steady, "steady", 60*time.Second, "c: the measured window at steady state")
	flag.DurationVar(&s.steadyEvery, "steady-interval", 5*time.Second, "c: probe interval of the addresses (each node probes addresses/interval per second)")
	flag.BoolVar(&s.smoke, "smoke", false, "small numbers, a few seconds per part: checks the harness (CI)")
	flag.BoolVar(&s.appendTo, "append", false, "append the summary to bench/RESULTS.md")
	flag.Parse()
	if s.smoke {
		s.changes, s.rounds, s.addresses, s.steady, s.steadyEvery = 5, 2, 200, 3*time.Second, time.Second
	}
	if s.changes < 1 || s.rounds < 1 || s.fall < 1 || s.addresses < 1 || s.addresses > 250*250 || s.interval <= 0 || s.steady <= 0 || s.steadyEvery <= 0 {
		fmt.Fprintln(os.Stderr, "cluster: -changes, -rounds, -fall, -addresses (at most 62500) and the durations must be positive")
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		stopAll()
		removeDir()
		os.Exit(130)
	}()
	err := run(s, strings.Join(os.Args[1:], " "))
	stopAll()
	removeDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// Processes started, stopped on every way out.
var procs struct {
	sync.Mutex
	list   []*proc
	closed bool
	dir    string
}

type proc struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
}

func start(name, logPath, bin string, args ...string) (*proc, error) {
	procs.Lock()
	defer procs.Unlock()
	if procs.closed {
		return nil, fmt.Errorf("stopping")
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Should this process die without cleaning up, its children die too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	procs.list = append(procs.list, p)
	return p, nil
}

// stop asks the process to end (SIGTERM: a gtm node revokes its leases),
// and kills it after grace.
func (p *proc) stop(grace time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func stopAll() {
	procs.Lock()
	procs.closed = true
	list := procs.list
	procs.list = nil
	procs.Unlock()
	// The gtm nodes first, while etcd answers (they revoke their leases
	// on the way out), then etcd.
	for _, nodes := range []bool{true, false} {
		var wg sync.WaitGroup
		for _, p := range list {
			if strings.HasPrefix(p.name, "gtm ") == nodes {
				wg.Add(1)
				go func() { defer wg.Done(); p.stop(5 * time.Second) }()
			}
		}
		wg.Wait()
	}
}

func removeDir() {
	procs.Lock()
	dir := procs.dir
	procs.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// freePorts reserves n distinct free ports on 127.0.0.1 and releases them
// for the processes to take (a race another process may win: starts are
// tried again on fresh ports).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func run(s settings, args string) error {
	began := time.Now()
	loadBefore := loadAvg()
	dir, err := os.MkdirTemp("", "gtm-clusterbench")
	if err != nil {
		return err
	}
	procs.Lock()
	procs.dir = dir
	procs.Unlock()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	// The commit the binaries are built from, before anything runs.
	commit := "unknown"
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		if st, _ := exec.Command("git", "-C", root, "status", "--porcelain").Output(); len(strings.TrimSpace(string(st))) > 0 {
			commit += " (working tree had uncommitted changes)"
		}
	}
	for _, b := range [][2]string{{"coredns", "./cmd/coredns"}, {"etcd", "./internal/cmd/etcd"}} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
		build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building %s: %w", b[1], err)
		}
	}
	fmt.Printf("built coredns and etcd in %v\n", time.Since(began).Round(time.Second))

	etcd, err := startEtcd(filepath.Join(dir, "etcd"), dir)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcd.endpoints, DialTimeout: 3 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	fmt.Printf("etcd: 3 members, clients on %s\n", strings.Join(etcd.endpoints, " "))

	res := &results{s: s}
	backend, err := startBackend("127.0.0.31", "127.0.0.32")
	if err != nil {
		return err
	}
	defer backend.close()

	// Parts a and b share three nodes probing one pool over HTTP.
	body := fmt.Sprintf(`monitor web {
			protocol http
			port %d
			path /{NODE}
			interval %s
			timeout %s
			rise 2
			fall %d
		}
		pool main {
			monitor web
			address 127.0.0.31 127.0.0.32
		}
		instance www {
			ttl 5
			primary main
		}`, backend.port, s.interval, s.interval/2, s.fall)
	nodes, err := startNodes(filepath.Join(dir, "coredns"), dir, "ab", body, "/gtm-bench/", etcd.endpoints, 60*time.Second)
	if err != nil {
		return err
	}
	if err := partA(s, nodes, res); err != nil {
		return fmt.Errorf("a: %w", err)
	}
	if err := partB(s, nodes, backend, cli, res); err != nil {
		return fmt.Errorf("b: %w", err)
	}
	for _, n := range nodes {
		n.p.stop(5 * time.Second)
	}

	if err := partC(s, dir, etcd, cli, res); err != nil {
		return fmt.Errorf("c: %w", err)
	}
	res.took = time.Since(began)
	res.loadBefore, res.loadAfter = loadBefore, loadAvg()
	md := res.markdown(commit, args)
	fmt.Println()
	fmt.Print(md)
	if s.appendTo {
		f, err := os.OpenFile(filepath.Join(root, "bench", "RESULTS.md"), os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.WriteString(f, "\n"+md); err != nil {
			return err
		}
		fmt.Println("appended to bench/RESULTS.md")
	}
	return res.verdict()
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run from inside the gtm module")
	}
	return filepath.Dir(gomod), nil
}

// etcd

type etcdCluster struct {
	endpoints []string
	members   []*proc
}

// startEtcd starts three members with etcd's default timing (heartbeat
// 100 ms, election 1 s), as an operator would run them.
func startEtcd(bin, dir string) (*etcdCluster, error) {
	var last error
	for try := range 3 {
		ports, err := freePorts(6)
		if err != nil {
			return nil, err
		}
		c := &etcdCluster{}
		var initial []string
		for i := range 3 {
			initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
			c.endpoints = append(c.endpoints, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
		}
		for i := range 3 {
			client, peer := c.endpoints[i], fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
			p, err := start(fmt.Sprintf("etcd m%d", i), filepath.Join(dir, fmt.Sprintf("etcd-m%d.log", i)), bin,
				"--name", fmt.Sprintf("m%d", i),
				"--data-dir", filepath.Join(dir, fmt.Sprintf("etcd-m%d-try%d", i, try)),
				"--listen-client-urls", client, "--advertise-client-urls", client,
				"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
				"--initial-cluster", strings.Join(initial, ","),
				"--initial-cluster-token", fmt.Sprintf("gtm-bench-%d", ports[0]),
				"--initial-cluster-state", "new",
				"--log-level", "warn")
			if err != nil {
				return nil, err
			}
			c.members = append(c.members, p)
		}
		if last = c.waitHealthy(30 * time.Second); last == nil {
			return c, nil
		}
		for _, m := range c.members {
			m.stop(time.Second)
		}
	}
	return nil, fmt.Errorf("etcd did not start: %w", last)
}

func (c *etcdCluster) waitHealthy(within time.Duration) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(within)
	for {
		for _, m := range c.members {
			if m.exited() {
				return fmt.Errorf("%s exited: %s", m.name, m.logTail())
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cli.Get(ctx, "health")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no quorum within %v: %v", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metrics reads the named counters from one etcd member's /metrics (its
// client URL serves them).
func scrape(url string, names ...string) (map[string]float64, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, n+" "); ok {
				v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				if err == nil {
					out[n] = v
				}
			}
		}
	}
	return out, sc.Err()
}

// gtm nodes

type node struct {
	name                     string
	dns, api, ready, metrics string
	p                        *proc
}

// startNodes starts n1, n2 and n3 on free loopback ports, each probing what
// body says ({NODE} is replaced by the node's name), sharing prefix in
// etcd, and waits until each is ready and answers DNS.
func startNodes(bin, dir, tag, body, prefix string, endpoints []string, within time.Duration) ([]*node, error) {
	var nodes []*node
	for i := range 3 {
		var n *node
		var err error
		for range 3 { // a port taken between freePorts and the start
			if n, err = startNode(bin, dir, tag, fmt.Sprintf("n%d", i+1), body, prefix, endpoints, within); err == nil {
				break
			}
		}
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func startNode(bin, dir, tag, name, body, prefix string, endpoints []string, within time.Duration) (*node, error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	n := &node{name: name,
		dns:     fmt.Sprintf("127.0.0.1:%d", ports[0]),
		api:     fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		ready:   fmt.Sprintf("http://127.0.0.1:%d/ready", ports[2]),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[3]),
	}
	corefile := fmt.Sprintf(`example.org:%d {
	bind 127.0.0.1
	ready 127.0.0.1:%d
	prometheus 127.0.0.1:%d
	gtm {
		ns ns1.example.org 127.0.0.53
		%s
		api 127.0.0.1:%d {
			node %s
			quorum 50%%
			store etcd %s {
				prefix %s
				dial-timeout 3s
			}
		}
	}
}
`, ports[0], ports[2], ports[3], strings.ReplaceAll(body, "{NODE}", name), ports[1], name, strings.Join(endpoints, " "), prefix)
	conf := filepath.Join(dir, "Corefile."+tag+"."+name)
	if err := os.WriteFile(conf, []byte(corefile), 0o644); err != nil {
		return nil, err
	}
	p, err := start("gtm "+name, filepath.Join(dir, "coredns."+tag+"."+name+".log"), bin, "-conf", conf, "-quiet")
	if err != nil {
		return nil, err
	}
	n.p = p
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		if p.exited() {
			return nil, fmt.Errorf("node %s exited: %s", name, p.logTail())
		}
		if resp, err := hc.Get(n.ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if _, err := aOf(n.dns, "ns1.example.org"); err == nil {
					return n, nil
				}
			}
		}
		if time.Now().After(deadline) {
			p.stop(time.Second)
			return nil, fmt.Errorf("node %s not ready within %v: %s", name, within, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// aOf asks addr for name's A records, sorted.
func aOf(addr, name string) ([]string, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(m, addr)
	if err != nil {
		return nil, err
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

// allAnswer asks every node for name back to back (1 ms apart) from t0
// and returns how long after t0 the last of them first answered want.
func allAnswer(nodes []*node, name string, want []string, t0 time.Time, within time.Duration) (time.Duration, error) {
	took := make([]time.Duration, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []string
			var err error
			for time.Since(t0) < within {
				if got, err = aOf(n.dns, name); err == nil && slices.Equal(got, want) {
					took[i] = time.Since(t0)
					return
				}
				time.Sleep(time.Millisecond)
			}
			errs[i] = fmt.Errorf("node %s answered %s with %v (%v), not %v, within %v", n.name, name, got, err, want, within)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return slices.Max(took), nil
}

// call sends a JSON request to the API and checks the status.
func call(method, url string, body any, want int) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, out)
	}
	return nil
}

// a: a change through node 1 → answered by all 3.
func partA(s settings, nodes []*node, res *results) error {
	api := nodes[0].api + "/api/v1"
	if err := call("POST", api+"/pools", map[string]any{"name": "lat", "addresses": []map[string]any{{"address": "127.0.1.1"}}}, 201); err != nil {
		return err
	}
	if err := call("PUT", api+"/instances/lat.example.org", map[string]any{"ttl": 5,
		"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "lat"}}}}}}, 201); err != nil {
		return err
	}
	if _, err := allAnswer(nodes, "lat.example.org", []string{"127.0.1.1"}, time.Now(), 10*time.Second); err != nil {
		return err
	}
	for i := 1; i <= s.changes; i++ {
		a := fmt.Sprintf("127.0.%d.%d", 2+i/250, i%250+1)
		t0 := time.Now()
		put := make(chan error, 1)
		go func() {
			put <- call("PUT", api+"/pools/lat", map[string]any{"name": "lat", "addresses": []map[string]any{{"address": a}}}, 200)
		}()
		d, err := allAnswer(nodes, "lat.example.org", []string{a}, t0, 10*time.Second)
		if perr := <-put; perr != nil {
			return perr
		}
		if err != nil {
			return fmt.Errorf("change %d: %w", i, err)
		}
		res.change = append(res.change, d)
	}
	p50, p99 := pct(res.change, 50), pct(res.change, 99)
	fmt.Printf("a: %d changes through n1 → answered by all 3: p50 %v, p99 %v, max %v\n", len(res.change), ms(p50), ms(p99), ms(slices.Max(res.change)))
	return nil
}

// The HTTP backend: one port on several loopback addresses; a probe of
// path /nI fails (503) while (address, node) is set down.
type backend struct {
	port int
	srvs []*http.Server
	down sync.Map // "ADDRESS /nI" → true
}

func startBackend(addrs ...string) (*backend, error) {
	var last error
	for range 20 {
		b := &backend{}
		var lns []net.Listener
		port := 0
		var err error
		for _, a := range addrs {
			var ln net.Listener
			if ln, err = net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(port))); err != nil {
				break
			}
			port = ln.Addr().(*net.TCPAddr).Port
			lns = append(lns, ln)
		}
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			last = err
			continue
		}
		b.port = port
		for _, ln := range lns {
			srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				host, _, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String())
				if d, _ := b.down.Load(host + " " + r.URL.Path); d == true {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				io.WriteString(w, "ok")
			})}
			b.srvs = append(b.srvs, srv)
			go srv.Serve(ln)
		}
		return b, nil
	}
	return nil, fmt.Errorf("backend: %w", last)
}

func (b *backend) set(addr, node string, down bool) { b.down.Store(addr+" /"+node, down) }

func (b *backend) close() {
	for _, s := range b.srvs {
		s.Close()
	}
}

// votes reads the three nodes' published votes on pool main's address.
func votes(cli *clientv3.Client, prefix, addr string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out []string
	for _, n := range []string{"n1", "n2", "n3"} {
		r, err := cli.Get(ctx, prefix+"health/votes/"+n+"/main/"+addr)
		if err != nil {
			return nil, err
		}
		v := "none"
		if len(r.Kvs) == 1 {
			v = string(r.Kvs[0].Value)
		}
		out = append(out, v)
	}
	return out, nil
}

// b: an address that 2 of 3 nodes see down → every node answers without it.
func partB(s settings, nodes []*node, b *backend, cli *clientv3.Client, res *results) error {
	const addr = "127.0.0.32"
	both, one := []string{"127.0.0.31", addr}, []string{"127.0.0.31"}
	target := s.interval*time.Duration(s.fall) + time.Second
	limit := 4*target + 10*time.Second
	// settle waits until every node answers both and every node's
	// published vote on addr is up, so that a round starts from the
	// same state.
	settle := func() error {
		if _, err := allAnswer(nodes, "www.example.org", both, time.Now(), limit); err != nil {
			return err
		}
		deadline := time.Now().Add(limit)
		for {
			v, err := votes(cli, "/gtm-bench/", addr)
			if err == nil && slices.Equal(v, []string{"up", "up", "up"}) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("votes on %s not all up within %v: %v %v", addr, limit, v, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := settle(); err != nil {
		return err
	}
	// 1 of 3 is not enough at 50%: everyone keeps answering both for
	// longer than the target.
	b.set(addr, "n1", true)
	for end := time.Now().Add(target + s.interval); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		for _, n := range nodes {
			if got, err := aOf(n.dns, "www.example.org"); err != nil || !slices.Equal(got, both) {
				return fmt.Errorf("%s down for n1 alone: node %s answered %v (%v)", addr, n.name, got, err)
			}
		}
	}
	if v, err := votes(cli, "/gtm-bench/", addr); err != nil || !slices.Equal(v, []string{"down", "up", "up"}) {
		return fmt.Errorf("%s down for n1 alone: votes %v (%v), want n1's down", addr, v, err)
	}
	res.oneOfThree = true
	b.set(addr, "n1", false)
	if err := settle(); err != nil {
		return err
	}
	for r := 1; r <= s.rounds; r++ {
		// Start at a different point of the probe cycle each round.
		time.Sleep(s.interval * time.Duration(r) / time.Duration(s.rounds+1))
		t0 := time.Now()
		b.set(addr, "n1", true)
		b.set(addr, "n2", true)
		d, err := allAnswer(nodes, "www.example.org", one, t0, limit)
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		res.quorum = append(res.quorum, d)
		fmt.Printf("b: round %d: %v\n", r, ms(d))
		b.set(addr, "n1", false)
		b.set(addr, "n2", false)
		if err := settle(); err != nil {
			return fmt.Errorf("round %d, restoring: %w", r, err)
		}
	}
	fmt.Printf("b: %d rounds, 2 of 3 see %s down → all 3 answer without it: p50 %v, p99 %v (target %v)\n",
		len(res.quorum), addr, ms(pct(res.quorum, 50)), ms(pct(res.quorum, 99)), target)
	return nil
}

// c: etcd writes at steady state.
func partC(s settings, dir string, etcd *etcdCluster, cli *clientv3.Client, res *results) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) // inherited by the nodes
	}
	// A port with no listener on any address: a connect to 127.1.x.y:port
	// is refused at once, so every address stays down, steadily.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addrOf := func(i int) string { return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1) }
	for _, i := range []int{0, s.addresses - 1} {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", addrOf(i), port), time.Second); err == nil {
			c.Close()
			return fmt.Errorf("port %d on %s accepts connections", port, addrOf(i))
		}
	}
	const perPool = 100
	var body strings.Builder
	fmt.Fprintf(&body, "monitor closed {\n\t\t\tprotocol tcp\n\t\t\tport %d\n\t\t\tinterval %s\n\t\t\ttimeout %s\n\t\t\trise 2\n\t\t\tfall 2\n\t\t}\n", port, s.steadyEvery, s.steadyEvery/2)
	for p := 0; p*perPool < s.addresses; p++ {
		fmt.Fprintf(&body, "\t\tpool s%d {\n\t\t\tmonitor closed\n\t\t\taddress", p)
		for i := p * perPool; i < min((p+1)*perPool, s.addresses); i++ {
			body.WriteString(" " + addrOf(i))
		}
		fmt.Fprintf(&body, "\n\t\t}\n\t\tinstance s%d {\n\t\t\tprimary s%d\n\t\t}\n", p, p)
	}
	const prefix = "/gtm-bench-steady/"
	t0 := time.Now()
	nodes, err := startNodes(filepath.Join(dir, "coredns"), dir, "c", body.String(), prefix, etcd.endpoints, 3*time.Minute)
	if err != nil {
		return err
	}
	fmt.Printf("c: 3 nodes probing %d addresses each (TCP, connection refused, every %v) ready in %v\n", s.addresses, s.steadyEvery, time.Since(t0).Round(100*time.Millisecond))

	revision := func() (int64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		r, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return 0, err
		}
		return r.Header.Revision, nil
	}
	const writesName = "coredns_gtm_cluster_verdict_writes_total"
	writes := func() ([]float64, error) {
		var out []float64
		for _, n := range nodes {
			m, err := scrape(n.metrics, writesName)
			if err != nil {
				return nil, err
			}
			out = append(out, m[writesName])
		}
		return out, nil
	}
	etcdNames := []string{"etcd_debugging_lease_renewed_total", "etcd_mvcc_put_total", "etcd_mvcc_delete_total", "etcd_mvcc_txn_total"}
	etcdCounters := func() (map[string]float64, error) {
		sum := map[string]float64{}
		for i, ep := range etcd.endpoints {
			m, err := scrape(ep+"/metrics", etcdNames...)
			if err != nil {
				return nil, err
			}
			// Renewals are counted by the leader alone: summed. Puts,
			// deletes and transactions are applied by every member:
			// one member's.
			sum["etcd_debugging_lease_renewed_total"] += m["etcd_debugging_lease_renewed_total"]
			if i == 0 {
				for _, n := range etcdNames[1:] {
					sum[n] = m[n]
				}
			}
		}
		return sum, nil
	}

	// Wait until every node has published a verdict on every address and
	// nothing has moved for quiet (two probe rounds, at least 3 s).
	quiet := max(3*time.Second, 2*s.steadyEvery)
	deadline := time.Now().Add(5 * time.Minute)
	var lastRev int64
	var lastW []float64
	stableSince := time.Now()
	for {
		rev, err := revision()
		if err != nil {
			return err
		}
		w, err := writes()
		if err != nil {
			return err
		}
		published := true
		for _, x := range w {
			published = published && x >= float64(s.addresses)
		}
		if rev != lastRev || !slices.Equal(w, lastW) || !published {
			lastRev, lastW, stableSince = rev, w, time.Now()
		} else if time.Since(stableSince) >= quiet {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no steady state within 5 min: revision %d, verdict writes %v", rev, w)
		}
		for _, n := range nodes {
			if n.p.exited() {
				return fmt.Errorf("node %s exited: %s", n.name, n.p.logTail())
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	res.publishedIn = time.Since(t0)
	fmt.Printf("c: steady %v after the start (verdict writes per node %v, etcd revision %d)\n", res.publishedIn.Round(100*time.Millisecond), lastW, lastRev)

	rev0, err := revision()
	if err != nil {
		return err
	}
	w0, err := writes()
	if err != nil {
		return err
	}
	e0, err := etcdCounters()
	if err != nil {
		return err
	}
	w0t := time.Now()
	time.Sleep(s.steady)
	rev1, err := revision()
	if err != nil {
		return err
	}
	w1, err := writes()
	if err != nil {
		return err
	}
	e1, err := etcdCounters()
	if err != nil {
		return err
	}
	res.window = time.Since(w0t)
	res.revDelta = rev1 - rev0
	for i := range w1 {
		res.verdictWrites += w1[i] - w0[i]
	}
	res.renewals = e1["etcd_debugging_lease_renewed_total"] - e0["etcd_debugging_lease_renewed_total"]
	res.mvcc = e1["etcd_mvcc_put_total"] - e0["etcd_mvcc_put_total"] + e1["etcd_mvcc_delete_total"] - e0["etcd_mvcc_delete_total"]
	// The cluster's view of the addresses: every node sees all of them
	// down by quorum.
	for _, n := range nodes {
		var st struct {
			Store struct {
				Cluster struct{ Votes, Down int }
			}
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(n.api + "/api/v1/status")
		if err != nil {
			return err
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return err
		}
		res.views = append(res.views, fmt.Sprintf("%s %d/%d", n.name, st.Store.Cluster.Down, st.Store.Cluster.Votes))
		if st.Store.Cluster.Votes != s.addresses || st.Store.Cluster.Down != s.addresses {
			res.viewWrong = true
		}
	}
	fmt.Printf("c: %v window: etcd revision +%d, verdict writes +%.0f, puts+deletes +%.0f, lease renewals +%.0f; down/voted per node: %s\n",
		res.window.Round(time.Second), res.revDelta, res.verdictWrites, res.mvcc, res.renewals, strings.Join(res.views, ", "))
	for _, n := range nodes {
		n.p.stop(5 * time.Second)
	}
	return nil
}

// results

type results struct {
	s                     settings
	change, quorum        []time.Duration
	oneOfThree            bool
	publishedIn, window   time.Duration
	revDelta              int64
	verdictWrites         float64
	renewals, mvcc        float64
	views                 []string
	viewWrong             bool
	took                  time.Duration
	loadBefore, loadAfter string
}

// pct is the nearest-rank percentile.
func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(float64(p)/100*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func (r *results) quorumTarget() time.Duration {
	return r.s.interval*time.Duration(r.s.fall) + time.Second
}

func (r *results) verdict() error {
	var missed []string
	if pct(r.change, 99) >= time.Second {
		missed = append(missed, "a")
	}
	if pct(r.quorum, 99) > r.quorumTarget() {
		missed = append(missed, "b")
	}
	if r.verdictWrites != 0 || r.revDelta != 0 || r.viewWrong {
		missed = append(missed, "c")
	}
	if len(missed) > 0 && !r.s.smoke {
		return fmt.Errorf("targets missed: %s", strings.Join(missed, ", "))
	}
	return nil
}

func (r *results) markdown(commit, args string) string {
	var b strings.Builder
	title := "cluster of 3 nodes and 3 etcd members"
	if r.s.smoke {
		title += " (smoke run: harness check, not figures)"
	}
	fmt.Fprintf(&b, "## %s, commit %s — %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), commit, title)
	fmt.Fprintf(&b, "- machine: %d CPUs, %s, Linux %s, %s; etcd members, gtm nodes and the harness share it, unpinned; 1-minute load average %s before the run, %s at its end\n",
		runtime.NumCPU(), cpuModel(), kernel(), goVersion(), r.loadBefore, r.loadAfter)
	cmd := "go run ./bench/cluster"
	if args != "" {
		cmd += " " + args
	}
	fmt.Fprintf(&b, "- command: `%s` (took %v with the builds)\n", cmd, r.took.Round(time.Second))
	fmt.Fprintf(&b, "- setup: etcd 3.7.2 (`internal/cmd/etcd`, default heartbeat 100 ms and election 1 s, fsync on) ×3 and CoreDNS with gtm ×3 as processes on 127.0.0.1; every node `quorum 50%%`, all probing\n\n")
	fmt.Fprintf(&b, "| measure | p50 | p99 | max | target |\n|---|---:|---:|---:|---|\n")
	c := r.change
	fmt.Fprintf(&b, "| a. change through node 1's API → answered by all 3 (%d changes; PUT start to the last node's first new answer) | %s | %s | %s | p99 < 1 s: %s |\n",
		len(c), ms(pct(c, 50)), ms(pct(c, 99)), ms(slices.Max(c)), met(pct(c, 99) < time.Second))
	q := r.quorum
	fmt.Fprintf(&b, "| b. 2 of 3 nodes see an address down → all 3 answer without it (%d rounds; HTTP, interval %v, fall %d) | %s | %s | %s | p99 ≤ %v: %s |\n",
		len(q), r.s.interval, r.s.fall, ms(pct(q, 50)), ms(pct(q, 99)), ms(slices.Max(q)), r.quorumTarget(), met(pct(q, 99) <= r.quorumTarget()))
	if r.oneOfThree {
		fmt.Fprintf(&b, "\nBefore the rounds of b, the address failing for 1 node of 3 was kept by every node for %v (interval × fall + 1 s + interval; 1 of 3 is not a 50%% quorum).\n", r.quorumTarget()+r.s.interval)
	}
	secs := r.window.Seconds()
	fmt.Fprintf(&b, "\nc. steady state, %d addresses probed by each of the 3 nodes (TCP to 127.1.x.y on a port with no listener: refused, down; interval %v, so %.0f probes/s per node), nothing changing, window %v (starting %v after the nodes' start, once every node had published its verdicts and nothing had moved for %v):\n\n",
		r.s.addresses, r.s.steadyEvery, float64(r.s.addresses)/r.s.steadyEvery.Seconds(), r.window.Round(time.Second), r.publishedIn.Round(time.Second), max(3*time.Second, 2*r.s.steadyEvery))
	fmt.Fprintf(&b, "| measure | in the window | per second | target |\n|---|---:|---:|---|\n")
	fmt.Fprintf(&b, "| etcd writes (revision moved by) | %d | %.2f | 0: %s |\n", r.revDelta, float64(r.revDelta)/secs, met(r.revDelta == 0))
	fmt.Fprintf(&b, "| verdict writes (`coredns_gtm_cluster_verdict_writes_total`, 3 nodes) | %.0f | %.2f | 0: %s |\n", r.verdictWrites, r.verdictWrites/secs, met(r.verdictWrites == 0))
	fmt.Fprintf(&b, "| etcd puts and deletes (`etcd_mvcc_put_total` + `etcd_mvcc_delete_total`, one member) | %.0f | %.2f | |\n", r.mvcc, r.mvcc/secs)
	fmt.Fprintf(&b, "| lease keep-alives (`etcd_debugging_lease_renewed_total`, leader) | %.0f | %.2f | the only traffic |\n", r.renewals, r.renewals/secs)
	fmt.Fprintf(&b, "| addresses down by quorum / voted on, per node (`GET /api/v1/status`) | %s | | all %d down |\n", strings.Join(r.views, ", "), r.s.addresses)
	return b.String()
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(out))
}
