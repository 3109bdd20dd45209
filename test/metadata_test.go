package test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/gtm-project/gtm/internal/metrictest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// syncBuffer is a log output that tests read while servers write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if _, rest, ok := strings.Cut(l, prefix); ok {
			out = append(out, strings.TrimSpace(rest))
		}
	}
	return out
}

const metadataCorefile = `metadata.example:0 {
	bind 127.0.0.1
	metadata
	log . "decision {name} {/gtm/instance} rule={/gtm/rule} state={/gtm/state} pools={/gtm/pools} client={/gtm/client}"
	gtm {
		ns ns1.metadata.example 192.0.2.53
		pool office {
			address 192.0.2.1
		}
		pool world {
			address 192.0.2.2 192.0.2.3
		}
		pool gone {
			address 192.0.2.9 mode down
		}
		instance www {
			primary world
			rule cidr 10.0.0.0/8 {
				primary office
				secondary world
			}
		}
		instance down {
			primary gone
			all-down fallback 203.0.113.1
		}
	}
}`

// gtm's decisions reach the log plugin through CoreDNS metadata, and are
// counted by rule and state; the configuration's identity is an info
// metric.
func TestMetadataInLog(t *testing.T) {
	out := &syncBuffer{}
	clog.SetOutput(out)
	t.Cleanup(clog.Discard)
	s := start(t, metadataCorefile)
	s.ask(t, "udp", "www.metadata.example.", dns.TypeA, withECS("10.1.2.0/24"))
	s.ask(t, "tcp", "www.metadata.example.", dns.TypeA)
	s.ask(t, "udp", "down.metadata.example.", dns.TypeA, withECS("2001:db8::/48"))
	s.ask(t, "udp", "nope.metadata.example.", dns.TypeA)
	want := []string{
		"www.metadata.example. www.metadata.example. rule=cidr 10.0.0.0/8 state=primary pools=office client=10.1.2.0/24",
		"www.metadata.example. www.metadata.example. rule=default state=primary pools=world client=127.0.0.1/32",
		"down.metadata.example. down.metadata.example. rule=default state=all-down pools=fallback client=2001:db8::/48",
		"nope.metadata.example.  rule= state= pools= client=",
	}
	// log writes its line once the reply is on its way: the client may
	// ask again before the line of its last query is written.
	var got []string
	testkit.Eventually(t, "the log lines", 2*time.Second, func() bool {
		got = out.lines("decision ")
		return len(got) >= len(want)
	})
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("log lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range []struct {
		instance, rule, state string
		n                     float64
	}{
		{"www.metadata.example.", "cidr 10.0.0.0/8", "primary", 1},
		{"www.metadata.example.", "default", "primary", 1},
		{"down.metadata.example.", "default", "all-down", 1},
	} {
		if v, ok := metrictest.Value(t, "rule_answers_total", c.instance, c.rule, c.state); !ok || v != c.n {
			t.Errorf("rule_answers_total{%s, %s, %s} = %v (present %v), want %v", c.instance, c.rule, c.state, v, ok, c.n)
		}
	}
	serial := s.ask(t, "udp", "metadata.example.", dns.TypeSOA).Answer[0].(*dns.SOA).Serial
	if !hasConfigInfo(t, "metadata.example.", serial) {
		t.Errorf("no config_info{zones=\"metadata.example.\", serial=\"%d\"}", serial)
	}
}

// With the control API, config_info names the store's revision the block
// answers from, and follows a write.
func TestConfigInfoRevision(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	apiPort := freePort(t)
	start(t, apiCorefile(apiPort, filepath.Join(t.TempDir(), "gtm.db"), port))
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	_, _, before := c.call("GET", "/api/v1/pools", nil)
	if rev := configInfo(t, "example.org.")["revision"]; `"`+rev+`"` != before {
		t.Errorf("config_info revision %q, the API says %s", rev, before)
	}
	_, _, after := c.call("POST", "/api/v1/pools", map[string]any{"name": "extra", "addresses": []map[string]any{{"address": "127.0.0.7"}}})
	if rev := configInfo(t, "example.org.")["revision"]; after == before || `"`+rev+`"` != after {
		t.Errorf("after a write: config_info revision %q, the API says %s (before %s)", rev, after, before)
	}
}

// configInfo is the labels of coredns_gtm_config_info for zones.
func configInfo(t *testing.T, zones string) map[string]string {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "coredns_gtm_config_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["zones"] == zones {
				return l
			}
		}
	}
	return nil
}

// hasConfigInfo reports whether coredns_gtm_config_info has a series for
// zones with the SOA serial and a fingerprint.
func hasConfigInfo(t *testing.T, zones string, serial uint32) bool {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "coredns_gtm_config_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["zones"] == zones && l["serial"] == fmtUint(serial) && len(l["fingerprint"]) == 32 && m.GetGauge().GetValue() == 1 {
				return true
			}
		}
	}
	return false
}

func fmtUint(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
