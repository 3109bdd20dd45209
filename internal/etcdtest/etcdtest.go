// Package etcdtest starts real etcd servers (etcd's own server, embedded,
// the version gtm's client speaks) on loopback for tests: one member, or a
// cluster of several, with their data in the test's temporary directory.
// Heartbeats are 10 ms and elections 100 ms, so a member starts in about a
// tenth of a second and a cluster elects a new leader as fast.
package etcdtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Member is one running etcd server.
type Member struct {
	Name     string
	Endpoint string // the client URL, http://127.0.0.1:PORT
	cfg      *embed.Config

	mu   sync.Mutex
	etcd *embed.Etcd // nil once stopped
}

// Cluster is a set of members started together.
type Cluster struct {
	Members []*Member
}

// Start starts a single-member etcd and stops it when the test ends.
func Start(t testing.TB) *Member {
	t.Helper()
	return StartCluster(t, 1).Members[0]
}

// StartCluster starts an etcd cluster of n members, waits until it has a
// leader, and stops it when the test ends. Ports are chosen free on
// 127.0.0.1; a start that loses its ports to another process is tried
// again.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	var last error
	for range 5 {
		c, err := startCluster(t, n)
		if err == nil {
			t.Cleanup(c.Stop)
			return c
		}
		last = err
	}
	t.Fatalf("etcdtest: starting %d members: %v", n, last)
	return nil
}

func startCluster(t testing.TB, n int) (*Cluster, error) {
	dir := t.TempDir()
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		m := &Member{Name: fmt.Sprintf("m%d", i), Endpoint: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i])}
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])
		initial = append(initial, m.Name+"="+peer)
		cfg := embed.NewConfig()
		cfg.Name = m.Name
		cfg.Dir = filepath.Join(dir, m.Name)
		cfg.TickMs, cfg.ElectionMs = 10, 100
		cu, pu := mustURL(m.Endpoint), mustURL(peer)
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
		cfg.ListenMetricsUrls = nil
		cfg.InitialClusterToken = fmt.Sprintf("gtm-test-%d", ports[0])
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		m.cfg = cfg
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.cfg.InitialCluster = strings.Join(initial, ",")
	}
	// Every member must be starting before any can be ready: a member
	// waits for the others to form a quorum.
	errs := make(chan error, n)
	for _, m := range c.Members {
		go func() {
			e, err := embed.StartEtcd(m.cfg)
			if err != nil {
				errs <- fmt.Errorf("%s: %w", m.Name, err)
				return
			}
			m.mu.Lock()
			m.etcd = e
			m.mu.Unlock()
			select {
			case <-e.Server.ReadyNotify():
				errs <- nil
			case err := <-e.Err():
				errs <- fmt.Errorf("%s: %w", m.Name, err)
			case <-time.After(10 * time.Second):
				errs <- fmt.Errorf("%s: not ready within 10 s", m.Name)
			}
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		c.Stop()
		return nil, first
	}
	return c, nil
}

// freePorts reserves n distinct free TCP ports on 127.0.0.1 by listening on
// port 0, and releases them for etcd to take.
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

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		eps = append(eps, m.Endpoint)
	}
	return eps
}

// Leader is the member that is leader now, waiting up to 5 s for one.
func (c *Cluster) Leader(t testing.TB) *Member {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.Members {
			m.mu.Lock()
			e := m.etcd
			m.mu.Unlock()
			if e != nil && e.Server.Leader() == e.Server.MemberID() {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("etcdtest: no leader within 5 s")
	return nil
}

// Stop stops every member. With more than one, it then waits (at most 5 s)
// for the members' peer HTTP connections to end: etcd's server keeps
// keep-alive connections between members (its version checks go through an
// http.Client whose idle connections it never closes), and they end on
// their own about 2 s after the cluster stops. Waiting here keeps goleak's
// check of the tests that use a cluster exact instead of ignoring net/http.
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		m.Stop()
	}
	if len(c.Members) < 2 {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
		if !bytes.Contains(buf[:n], []byte("net/http.(*persistConn)")) && !bytes.Contains(buf[:n], []byte("cmux.(*MuxConn)")) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the member, as a crash would for its clients: its
// connections close. Stopping a stopped member does nothing.
func (m *Member) Stop() {
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e != nil {
		e.Close()
		<-e.Server.StopNotify()
	}
}

// Client is a client of the given endpoints, closed when the test ends
// (before the servers stop, since cleanups run last first).
func Client(t testing.TB, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Ping checks that the endpoints answer a read within 2 s.
func Ping(ctx context.Context, cli *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := cli.Get(ctx, "health")
	return err
}

// Restart starts a stopped member again on its ports and data, and waits
// until it is ready (a single member elects itself); it fails the test if
// it cannot within 10 s.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	if err := m.restart(); err != nil {
		t.Fatal(err)
	}
}

// RestartAll starts every stopped member again at once: a member of a
// cluster is ready only when a quorum of members runs, so one at a time
// would never be.
func (c *Cluster) RestartAll(t testing.TB) {
	t.Helper()
	errs := make(chan error, len(c.Members))
	for _, m := range c.Members {
		go func() { errs <- m.restart() }()
	}
	for range c.Members {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

func (m *Member) restart() error {
	m.mu.Lock()
	running := m.etcd != nil
	m.mu.Unlock()
	if running {
		return nil
	}
	var last error
	for range 50 { // the ports may take a moment to be free again
		e, err := embed.StartEtcd(m.cfg)
		if err != nil {
			last = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
		case err := <-e.Err():
			e.Close()
			return fmt.Errorf("etcdtest: restarting %s: %v", m.Name, err)
		case <-time.After(10 * time.Second):
			e.Close()
			return fmt.Errorf("etcdtest: %s not ready within 10 s of a restart", m.Name)
		}
		m.mu.Lock()
		m.etcd = e
		m.mu.Unlock()
		return nil
	}
	return fmt.Errorf("etcdtest: restarting %s: %v", m.Name, last)
}
