package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"github.com/miekg/dns"
)

// dnsServer is a real DNS server on loopback that counts the queries it gets:
//
//	app.test.    A 127.0.0.1, TTL ttl (AAAA: no data)
//	n*.test.     A 127.0.0.1, TTL 60
//	two.test.    A 127.0.0.1 and 127.0.0.2
//	dead.test.   A 127.0.0.3 and 127.0.0.4
//	hang*.test.  never answered
//	anything else: NXDOMAIN, negative TTL 1s
type dnsServer struct {
	addr    string
	ttl     atomic.Uint32
	mu      sync.Mutex
	queries map[string]int // "name type"
}

func startDNS(t *testing.T) *dnsServer {
	t.Helper()
	d := &dnsServer{queries: map[string]int{}}
	d.ttl.Store(60)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.addr = pc.LocalAddr().String()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(d.serve), NotifyStartedFunc: func() { close(started) }}
	done := make(chan struct{})
	go func() { defer close(done); srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { srv.Shutdown(); <-done })
	return d
}

func (d *dnsServer) count(name string, qt uint16) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[name+" "+dns.TypeToString[qt]]
}

func (d *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	d.mu.Lock()
	d.queries[q.Name+" "+dns.TypeToString[q.Qtype]]++
	d.mu.Unlock()
	if strings.HasPrefix(q.Name, "hang") {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	a := func(ttl uint32, ips ...string) {
		if q.Qtype != dns.TypeA {
			return
		}
		for _, ip := range ips {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)})
		}
	}
	switch {
	case q.Name == "app.test.":
		a(d.ttl.Load(), "127.0.0.1")
	case strings.HasPrefix(q.Name, "n") && strings.HasSuffix(q.Name, ".test."):
		a(60, "127.0.0.1")
	case q.Name == "two.test.":
		a(60, "127.0.0.1", "127.0.0.2")
	case q.Name == "dead.test.":
		a(60, "127.0.0.3", "127.0.0.4")
	default:
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
			Ns: "ns.test.", Mbox: "h.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: 1}}
	}
	w.WriteMsg(m)
}

func nameTarget(m *config.Monitor, host string, res *Resolver) *Target {
	return &Target{Key: Key{Pool: "p", Address: host}, Host: host, Monitor: m, Prober: NewProber(m, ""), Resolver: res}
}

// N probes of a name cost one lookup while its TTL lasts, and one more once
// it has passed.
func TestResolverCachesByTTL(t *testing.T) {
	d := startDNS(t)
	d.ttl.Store(1)
	res := &Resolver{Servers: []string{d.addr}}
	_, port := closeListener(t)
	tg := nameTarget(monitor(config.ProtoTCP, port, time.Second), "app.test", res)
	for i := range 20 {
		if r := tg.Run(context.Background()); !r.OK {
			t.Fatalf("probe %d of app.test: %v", i, r.Err)
		}
	}
	if a, aaaa := d.count("app.test.", dns.TypeA), d.count("app.test.", dns.TypeAAAA); a != 1 || aaaa != 1 {
		t.Fatalf("20 probes sent %d A and %d AAAA queries, want 1 each", a, aaaa)
	}
	time.Sleep(1100 * time.Millisecond) // past the TTL of 1s
	if r := tg.Run(context.Background()); !r.OK {
		t.Fatalf("probe after the TTL: %v", r.Err)
	}
	if a := d.count("app.test.", dns.TypeA); a != 2 {
		t.Fatalf("%d A queries after the TTL passed, want 2", a)
	}
}

// A name that does not exist is remembered for its negative TTL.
func TestResolverNegativeCache(t *testing.T) {
	d := startDNS(t)
	res := &Resolver{Servers: []string{d.addr}}
	tg := nameTarget(monitor(config.ProtoTCP, 80, time.Second), "gone.test", res)
	for range 10 {
		if r := tg.Run(context.Background()); r.OK || r.Err.Error() != "resolve gone.test: no such host gone.test" {
			t.Fatalf("missing name: OK=%v err=%v", r.OK, r.Err)
		}
	}
	if a := d.count("gone.test.", dns.TypeA); a != 1 {
		t.Fatalf("10 probes of a missing name sent %d A queries, want 1", a)
	}
	time.Sleep(1100 * time.Millisecond) // the SOA's negative TTL is 1s
	tg.Run(context.Background())
	if a := d.count("gone.test.", dns.TypeA); a != 2 {
		t.Fatalf("%d A queries after the negative TTL passed, want 2", a)
	}
}

// Every address of a name is probed; one that passes is enough.
func TestResolverProbesEveryAddress(t *testing.T) {
	d := startDNS(t)
	res := &Resolver{Servers: []string{d.addr}}
	ln1, a1 := acceptor(t, "127.0.0.1:0")
	_, port := splitPort(t, ln1.Addr().String())
	ln2, a2 := acceptor(t, fmt.Sprintf("127.0.0.2:%d", port))
	accepts := [2]*atomic.Int32{a1, a2}
	m := monitor(config.ProtoTCP, port, time.Second)
	if r := nameTarget(m, "two.test", res).Run(context.Background()); !r.OK {
		t.Fatalf("two.test: %v", r.Err)
	}
	// The kernel completes a connection before the listener accepts it.
	for deadline := time.Now().Add(2 * time.Second); (accepts[0].Load() == 0 || accepts[1].Load() == 0) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if accepts[0].Load() != 1 || accepts[1].Load() != 1 {
		t.Fatalf("connections to the two addresses: %d and %d, want one each", accepts[0].Load(), accepts[1].Load())
	}
	ln2.Close()
	if r := nameTarget(m, "two.test", res).Run(context.Background()); !r.OK {
		t.Fatalf("two.test with one address down: %v, want a pass (any address)", r.Err)
	}
	r := nameTarget(m, "dead.test", res).Run(context.Background())
	if r.OK || !strings.HasPrefix(r.Err.Error(), "all 2 addresses failed, 127.0.0.3: tcp: connection refused") {
		t.Fatalf("dead.test: OK=%v err=%v", r.OK, r.Err)
	}
}

// An HTTP probe of a name connects to the looked-up address and still sends
// the name as Host (and would as SNI).
func TestResolverHTTPKeepsName(t *testing.T) {
	d := startDNS(t)
	res := &Resolver{Servers: []string{d.addr}}
	var host atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { host.Store(r.Host) }))
	defer srv.Close()
	_, port := splitPort(t, srv.Listener.Addr().String())
	if r := nameTarget(monitor(config.ProtoHTTP, port, time.Second), "app.test", res).Run(context.Background()); !r.OK {
		t.Fatalf("http to app.test: %v", r.Err)
	}
	if got, want := host.Load(), fmt.Sprintf("app.test:%d", port); got != want {
		t.Fatalf("server saw Host %v, want %s", got, want)
	}
}

// A resolver that never answers fails its names' probes at their timeout
// and delays no other target.
func TestResolverHangingDelaysNoOne(t *testing.T) {
	d := startDNS(t)
	res := &Resolver{Servers: []string{d.addr}}
	gh, gp := closeListener(t)
	mh := monitor(config.ProtoTCP, 80, 500*time.Millisecond)
	mh.Interval = time.Second
	mg := monitor(config.ProtoTCP, gp, 500*time.Millisecond)
	mg.Interval = time.Second
	var ts []*Target
	for i := range 50 {
		ts = append(ts, nameTarget(mh, fmt.Sprintf("hang%d.test", i), res))
	}
	for i := range 5 {
		tg := nameTarget(mg, gh, res)
		tg.Key.Address = fmt.Sprint(i)
		ts = append(ts, tg)
	}
	var mu sync.Mutex
	var lags []time.Duration
	var hangErrs []string
	s := &Scheduler{OnResult: func(tg *Target, r Result) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(tg.Host, "hang") {
			hangErrs = append(hangErrs, fmt.Sprint(r.RTT.Round(100*time.Millisecond), " ", r.Err))
			return
		}
		if !r.OK {
			t.Errorf("healthy target failed: %v", r.Err)
		}
		lags = append(lags, r.Lag)
	}}
	s.Start(ts)
	select {
	case <-s.FirstRound():
	case <-time.After(10 * time.Second):
		s.Stop()
		t.Fatal("first round did not complete in 10s")
	}
	time.Sleep(2 * time.Second)
	s.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(lags) < 10 {
		t.Fatalf("%d probes of healthy targets", len(lags))
	}
	for _, l := range lags {
		if l > 300*time.Millisecond {
			t.Errorf("a healthy target's probe started %s late", l)
		}
	}
	for _, e := range hangErrs {
		// The first word is the time measured, which a loaded machine's
		// timers may stretch past the 500 ms the timeout fired at.
		took, err := time.ParseDuration(strings.Fields(e + " x")[0])
		timedOut := strings.HasSuffix(e, " timeout after 500ms") && err == nil && took >= 500*time.Millisecond && took < 1500*time.Millisecond
		if !timedOut && !strings.HasPrefix(e, "0s resolve hang") {
			t.Fatalf("a probe of a name the resolver never answers: %q, want a timeout at 500ms or the cached failure at once", e)
		}
	}
	if d.count("hang0.test.", dns.TypeA) > 2*3 {
		t.Errorf("%d queries for one unanswered name in 3s; failures are cached for %s", d.count("hang0.test.", dns.TypeA), FailTTL)
	}
}

// The cache holds at most MaxEntries names.
func TestResolverCacheBound(t *testing.T) {
	d := startDNS(t)
	res := &Resolver{Servers: []string{d.addr}, MaxEntries: 4}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 10 {
		if _, err := res.Lookup(ctx, fmt.Sprintf("n%d.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	res.mu.Lock()
	n := len(res.cache)
	res.mu.Unlock()
	if n > 4 {
		t.Fatalf("%d names cached, bound 4", n)
	}
}
