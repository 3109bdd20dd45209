package gtm

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const oneName = poolA + "\ninstance www {\n primary a\n}"

func serialOf(t *testing.T, g *GTM) uint32 {
	t.Helper()
	m, _ := query(t, g, "example.org.", dns.TypeSOA, false)
	if len(m.Answer) != 1 {
		t.Fatalf("SOA query: %v", m)
	}
	return m.Answer[0].(*dns.SOA).Serial
}

// Item 6: the serial follows the configuration's content, not health and
// not where it was written.
func TestSerialFollowsConfig(t *testing.T) {
	g := newGTM(t, oneName)
	serial := serialOf(t, g)

	// positive: a health change keeps it
	withHealth(g, health.Static{{Pool: "a", Address: "192.0.2.1"}: health.Unhealthy})
	if got := serialOf(t, g); got != serial {
		t.Errorf("serial changed on a health change: %d -> %d", serial, got)
	}
	// positive: the same configuration in another handler, on other lines
	cfg, _, err := corefile.Parse(caddy.NewTestController("dns", "\n\n\n"+testkit.Block(oneName)))
	if err != nil {
		t.Fatal(err)
	}
	if got := serialOf(t, New(cfg)); got != serial {
		t.Errorf("same configuration, another handler: serial %d, want %d", got, serial)
	}
	// negative: a change of the configuration changes it
	for _, body := range []string{
		poolA + "\ninstance www {\n primary a\n ttl 31\n}",
		"pool a {\n address 192.0.2.1 weight 2\n}\ninstance www {\n primary a\n}",
		oneName + "\nns ns1.example.org 192.0.2.54",
	} {
		if got := serialOf(t, newGTM(t, body)); got == serial {
			t.Errorf("configuration changed, serial did not (%d):\n%s", got, body)
		}
	}
}

// Item 2: a reply that cannot be packed reaches the client as SERVFAIL and
// is counted, instead of silence. The unpackable name stands for a defect
// past validation, like the root zone's "hostmaster.." of issue #8.
func TestUnwritableReplyIsServFail(t *testing.T) {
	cfg, _, err := corefile.Parse(caddy.NewTestController("dns", testkit.Block(oneName)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SOA.RName = "hostmaster..example.org."
	g := New(cfg)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) { g.ServeDNS(context.Background(), w, r) })}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })

	before := testutil.ToFloat64(replyErrors)
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		errors float64 // reply errors counted by then
	}{
		// positive: replies without the SOA still pack
		{"www.example.org.", dns.TypeA, dns.RcodeSuccess, 0},
		// negative: NXDOMAIN and NODATA carry the broken SOA
		{"nope.example.org.", dns.TypeA, dns.RcodeServerFailure, 1},
		{"www.example.org.", dns.TypeMX, dns.RcodeServerFailure, 2},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qtype)
		r, _, err := c.Exchange(m, pc.LocalAddr().String())
		if err != nil {
			t.Fatalf("%s %s: no reply: %v", tc.name, dns.TypeToString[tc.qtype], err)
		}
		if r.Rcode != tc.rcode {
			t.Errorf("%s %s: rcode %s, want %s", tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
		}
		if got := testutil.ToFloat64(replyErrors) - before; got != tc.errors {
			t.Errorf("%s %s: %v reply errors counted, want %v", tc.name, dns.TypeToString[tc.qtype], got, tc.errors)
		}
	}
}

// Item 21: explain describes the health the answering snapshot was compiled
// from, not the live table that may have moved on since.
func TestExplainHealthFromSnapshot(t *testing.T) {
	g := newGTM(t, "explain\n"+oneName)
	k := health.Key{Pool: "a", Address: "192.0.2.1"}
	live := records{k: {Status: health.Unhealthy}}
	has := func(want string) bool {
		for _, rr := range explainQuery(t, g, "127.0.0.1", "").Answer {
			if strings.Contains(strings.Join(rr.(*dns.TXT).Txt, ""), want) {
				return true
			}
		}
		return false
	}
	// negative: the health changed, the snapshot (and the answer) did not
	if !has("address 192.0.2.1: mode auto, health unknown") {
		t.Error("explain shows live health the answer was not made from")
	}
	// positive: once compiled, it shows
	g.Engine().UseHealth(live)
	if !has("address 192.0.2.1: mode auto, health unhealthy") {
		t.Error("explain does not show the compiled health")
	}
}

// Item 8: the explain name has a TXT set, so other types get NODATA.
func TestExplainOtherTypes(t *testing.T) {
	g := newGTM(t, "explain\n"+oneName)
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX} {
		m := explainQueryOver(t, g, true, "127.0.0.1", "", qt)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
			t.Errorf("%s: rcode %s answer %v ns %v, want NODATA with the SOA", dns.TypeToString[qt], dns.RcodeToString[m.Rcode], m.Answer, m.Ns)
		}
	}
	// over UDP the TXT is withheld (TC), over TCP it is answered
	if m := explainQueryOver(t, g, false, "127.0.0.1", "", dns.TypeTXT); !m.Truncated || len(m.Answer) != 0 {
		t.Errorf("UDP: tc %v answers %d, want TC and none", m.Truncated, len(m.Answer))
	}
	if m := explainQueryOver(t, g, true, "127.0.0.1", "", dns.TypeTXT); m.Truncated || len(m.Answer) == 0 {
		t.Errorf("TCP: tc %v answers %d, want the explanation", m.Truncated, len(m.Answer))
	}
}

// records is a health view with whole probe records, as the engine's is.
type records map[health.Key]health.Record

func (r records) Status(k health.Key) health.Status { return r[k].Status }

func (r records) Latency(k health.Key) (time.Duration, bool) {
	l := r[k].Latency
	return l.EWMA, l.Samples > 0
}

func (r records) Get(k health.Key) (health.Record, bool) {
	rec, ok := r[k]
	return rec, ok
}
