package test

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// endpoint is a TCP service on a loopback address that a test stops and
// restarts on the same port.
type endpoint struct {
	mu   sync.Mutex
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

func listen(t *testing.T, addr string) *endpoint {
	t.Helper()
	e := &endpoint{addr: addr}
	e.up(t)
	t.Cleanup(e.down)
	return e
}

func (e *endpoint) up(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after a close
		if ln, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", e.addr, err)
	}
	e.mu.Lock()
	e.ln, e.addr = ln, ln.Addr().String()
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func (e *endpoint) down() {
	e.mu.Lock()
	ln := e.ln
	e.ln = nil
	e.mu.Unlock()
	if ln != nil {
		ln.Close()
		e.wg.Wait()
	}
}

func (e *endpoint) port() int {
	_, p, _ := net.SplitHostPort(e.addr)
	n, _ := strconv.Atoi(p)
	return n
}

// waitFor polls the server until name's A answer equals want, or fails after
// the deadline. It returns how long that took.
func (s *server) waitFor(t *testing.T, name string, want []string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got []string
	for time.Since(start) < within {
		got = testkit.Values(s.ask(t, "udp", name, dns.TypeA))
		if slices.Equal(got, want) {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after %s %s answers %v, want %v", within, name, got, want)
	return 0
}

func healthCorefile(primaryPort, backupPort int, failback string) string {
	return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		monitor primary-check {
			protocol tcp
			port %d
			interval 200ms
			timeout 100ms
			rise 2
			fall 2
		}
		monitor backup-check {
			protocol tcp
			port %d
			interval 200ms
			timeout 100ms
		}
		pool site-a {
			monitor primary-check
			address 127.0.0.10
		}
		pool site-b {
			monitor backup-check
			address 127.0.0.11
		}
		instance www {
			ttl 60
			degraded-ttl 2
			failback %s
			primary site-a
			secondary site-b
		}
	}
}`, primaryPort, backupPort, failback)
}

// The primary/backup scenario driven by real probes: the primary's endpoint
// stops, answers move to the backup with a shorter TTL; it restarts, they
// move back (preemptive failback).
func TestHealthFailoverAndFailback(t *testing.T) {
	primary := listen(t, "127.0.0.10:0")
	backup := listen(t, "127.0.0.11:0")
	s := start(t, healthCorefile(primary.port(), backup.port(), "preemptive"))
	waitProbes(t, "primary-check", "site-a", 2)

	s.waitFor(t, "www.example.org.", []string{"127.0.0.10"}, 3*time.Second)
	if ttl := s.ask(t, "udp", "www.example.org.", dns.TypeA).Answer[0].Header().Ttl; ttl != 60 {
		t.Errorf("healthy TTL %d, want 60", ttl)
	}
	primary.down()
	took := s.waitFor(t, "www.example.org.", []string{"127.0.0.11"}, 3*time.Second)
	t.Logf("failover after %s", took)
	if ttl := s.ask(t, "udp", "www.example.org.", dns.TypeA).Answer[0].Header().Ttl; ttl != 2 {
		t.Errorf("TTL while serving the backup is %d, want the degraded 2", ttl)
	}
	primary.up(t)
	took = s.waitFor(t, "www.example.org.", []string{"127.0.0.10"}, 3*time.Second)
	t.Logf("failback after %s", took)
}

// With manual failback the instance stays on the backup after the primary
// recovers, across reloads that keep its rule, until the operator changes
// the failback (or pins the switch).
func TestHealthManualFailback(t *testing.T) {
	primary := listen(t, "127.0.0.12:0")
	backup := listen(t, "127.0.0.13:0")
	cf := healthCorefile(primary.port(), backup.port(), "manual")
	cf = replaceAll(cf, "127.0.0.10", "127.0.0.12", "127.0.0.11", "127.0.0.13")
	s := start(t, cf)
	waitProbes(t, "primary-check", "site-a", 2)
	s.waitFor(t, "www.example.org.", []string{"127.0.0.12"}, 3*time.Second)
	primary.down()
	s.waitFor(t, "www.example.org.", []string{"127.0.0.13"}, 3*time.Second)
	primary.up(t)
	// Several probe intervals with the primary healthy again: still the backup.
	time.Sleep(1500 * time.Millisecond)
	if got := testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA)); !slices.Equal(got, []string{"127.0.0.13"}) {
		t.Fatalf("manual failback: answers moved back on their own to %v", got)
	}
	// A reload that keeps the rule keeps the hold: the same Corefile, and
	// one with an unrelated instance added.
	s.reload(t, cf)
	s.reload(t, strings.Replace(cf, "instance www {", "instance other {\n\t\t\tprimary site-a\n\t\t}\n\t\tinstance www {", 1))
	time.Sleep(500 * time.Millisecond)
	if got := testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA)); !slices.Equal(got, []string{"127.0.0.13"}) {
		t.Fatalf("a reload that kept the rule released the manual failback hold: answers %v", got)
	}
	s.reload(t, strings.Replace(cf, "failback manual", "failback preemptive", 1)) // the operator's switch back
	s.waitFor(t, "www.example.org.", []string{"127.0.0.12"}, 3*time.Second)
}

// Several active IPs: a failed address leaves the answer and comes back when
// it recovers.
func TestHealthSeveralActive(t *testing.T) {
	a := listen(t, "127.0.0.21:0")
	port := a.port()
	b := listen(t, "127.0.0.22:"+strconv.Itoa(port))
	c := listen(t, "127.0.0.23:"+strconv.Itoa(port))
	s := start(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		monitor check {
			protocol tcp
			port %d
			interval 200ms
			timeout 100ms
			rise 1
			fall 1
		}
		pool lb {
			monitor check
			address 127.0.0.21 127.0.0.22 127.0.0.23
		}
		instance app {
			primary lb
		}
	}
}`, port))
	all := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	s.waitFor(t, "app.example.org.", all, 3*time.Second)
	waitProbes(t, "check", "lb", 6)
	b.down()
	s.waitFor(t, "app.example.org.", []string{"127.0.0.21", "127.0.0.23"}, 3*time.Second)
	b.up(t)
	s.waitFor(t, "app.example.org.", all, 3*time.Second)
	_ = c
}

// waitProbes polls gtm's metrics until monitor has passed n probes on pool,
// so a test acts on a state the probes have confirmed.
// probes is how many probes of monitor on pool have passed so far.
func probes(t *testing.T, monitor, pool string) float64 {
	return probeCount(t, monitor, pool, "success")
}

// failures is how many have failed.
func failures(t *testing.T, monitor, pool string) float64 {
	return probeCount(t, monitor, pool, "failure")
}

func probeCount(t *testing.T, monitor, pool, result string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "coredns_gtm_probes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			// Probes are counted by monitor; pool names the caller's intent.
			if l["monitor"] == monitor && l["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func waitProbes(t *testing.T, monitor, pool string, n float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if probes(t, monitor, pool) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("monitor %s did not pass %v probes on pool %s within 5s", monitor, n, pool)
}

func replaceAll(s string, oldnew ...string) string {
	for i := 0; i+1 < len(oldnew); i += 2 {
		s = stringsReplace(s, oldnew[i], oldnew[i+1])
	}
	return s
}

func stringsReplace(s, old, new string) string { return strings.ReplaceAll(s, old, new) }

// A reload keeps what probes found: an address known to be down stays out of
// the answers from the first query after the reload.
func TestReloadKeepsHealth(t *testing.T) {
	primary := listen(t, "127.0.0.14:0")
	backup := listen(t, "127.0.0.15:0")
	cf := replaceAll(healthCorefile(primary.port(), backup.port(), "preemptive"), "127.0.0.10", "127.0.0.14", "127.0.0.11", "127.0.0.15")
	primary.down()
	s := start(t, cf)
	s.waitFor(t, "www.example.org.", []string{"127.0.0.15"}, 3*time.Second)
	s.reload(t, cf)
	if got := testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA)); !slices.Equal(got, []string{"127.0.0.15"}) {
		t.Fatalf("right after a reload: %v, want the backup still (the primary is known to be down)", got)
	}
}
