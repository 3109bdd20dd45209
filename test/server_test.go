// Package test starts real CoreDNS servers with gtm from Corefile text and
// queries them over UDP and TCP with a real DNS client.
package test

import (
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/miekg/dns"

	_ "github.com/gtm-project/gtm/cmd/coredns/plugins" // the same build as cmd/coredns
)

func init() { clog.Discard() }

// caddy's start and stop share global state.
var mu sync.Mutex

type input string

func (i input) Body() []byte       { return []byte(i) }
func (i input) Path() string       { return "Corefile" }
func (i input) ServerType() string { return "dns" }

type server struct {
	inst     *caddy.Instance
	udp, tcp string
}

// start runs a CoreDNS server from corefile (which should listen on port 0)
// and stops it when the test ends.
func start(t *testing.T, corefile string) *server {
	t.Helper()
	mu.Lock()
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(input(corefile))
	mu.Unlock()
	if err != nil {
		t.Fatalf("CoreDNS did not start: %v", err)
	}
	s := &server{inst: inst}
	s.setAddrs(t)
	t.Cleanup(func() {
		s.inst.Stop()
		s.inst.ShutdownCallbacks()
	})
	return s
}

func (s *server) setAddrs(t *testing.T) {
	t.Helper()
	srvs := s.inst.Servers()
	if len(srvs) == 0 {
		t.Fatal("no servers")
	}
	s.udp, s.tcp = srvs[0].LocalAddr().String(), srvs[0].Addr().String()
}

// reload swaps in a new Corefile the way CoreDNS's reload plugin does.
func (s *server) reload(t *testing.T, corefile string) {
	t.Helper()
	mu.Lock()
	inst, err := s.inst.Restart(input(corefile))
	mu.Unlock()
	if err != nil {
		t.Fatalf("reload failed: %v", err)
	}
	s.inst = inst
	s.setAddrs(t)
}

type opt func(*dns.Msg)

func withEDNS(size uint16) opt { return func(m *dns.Msg) { m.SetEdns0(size, false) } }

func (s *server) ask(t *testing.T, proto, name string, qtype uint16, opts ...opt) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	for _, o := range opts {
		o(m)
	}
	addr := s.udp
	if proto == "tcp" {
		addr = s.tcp
	}
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", proto, name, dns.TypeToString[qtype], err)
	}
	return r
}
