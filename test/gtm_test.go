package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

const primaryBackup = `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool site-a {
			address 192.0.2.10 %s
		}
		pool site-b {
			address 198.51.100.10
		}
		instance www {
			ttl 20
			primary site-a
			secondary site-b
		}
	}
	cache 5
}`

// The primary/backup scenario: A while A is up, B once A is forced down, A
// again when it comes back, through a reload of a running server.
func TestPrimaryBackup(t *testing.T) {
	s := start(t, fmt.Sprintf(primaryBackup, "mode auto"))
	for _, proto := range []string{"udp", "tcp"} {
		r := s.ask(t, proto, "www.example.org.", dns.TypeA)
		if got := testkit.Values(r); !slices.Equal(got, []string{"192.0.2.10"}) || !r.Authoritative {
			t.Fatalf("%s: primary up: got %v (aa=%v), want 192.0.2.10 authoritative", proto, got, r.Authoritative)
		}
	}
	s.reload(t, fmt.Sprintf(primaryBackup, "mode down"))
	for _, proto := range []string{"udp", "tcp"} {
		if got := testkit.Values(s.ask(t, proto, "www.example.org.", dns.TypeA)); !slices.Equal(got, []string{"198.51.100.10"}) {
			t.Fatalf("%s: primary forced down: got %v, want the backup 198.51.100.10", proto, got)
		}
	}
	s.reload(t, fmt.Sprintf(primaryBackup, "mode up"))
	if got := testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA)); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Fatalf("primary back: got %v, want 192.0.2.10", got)
	}
}

// Several active IPs: every usable one, none that is forced down.
func TestSeveralActive(t *testing.T) {
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool lb {
			address 192.0.2.1 192.0.2.2 192.0.2.3
			address 192.0.2.4 mode down
		}
		instance app {
			primary lb
		}
	}
}`)
	firsts := map[string]bool{}
	for i := range 60 {
		proto := []string{"udp", "tcp"}[i%2]
		r := s.ask(t, proto, "app.example.org.", dns.TypeA)
		if got := testkit.Values(r); !slices.Equal(got, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
			t.Fatalf("%s: got %v, want the three active addresses", proto, got)
		}
		firsts[r.Answer[0].(*dns.A).A.String()] = true
	}
	if len(firsts) < 2 {
		t.Fatalf("order never rotated: first address was always %v", firsts)
	}
}

// Weighted load balancing over two pools and their addresses.
func TestWeighted(t *testing.T) {
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool east {
			address 192.0.2.1 weight 1
			address 192.0.2.2 weight 1
			method weight
		}
		pool west {
			address 198.51.100.1
			method weight
		}
		instance app {
			primary {
				pool east weight 1
				pool west weight 2
				method weight
			}
		}
	}
}`)
	const n = 3000
	counts := map[string]int{}
	for range n {
		got := testkit.Values(s.ask(t, "udp", "app.example.org.", dns.TypeA))
		if len(got) != 1 {
			t.Fatalf("got %v, want one address", got)
		}
		counts[got[0]]++
	}
	want := map[string]float64{"192.0.2.1": 1.0 / 6, "192.0.2.2": 1.0 / 6, "198.51.100.1": 2.0 / 3}
	for ip, w := range want {
		if share := float64(counts[ip]) / n; share < w-0.04 || share > w+0.04 {
			t.Errorf("%s answered %.3f of the time, want %.3f ± 0.04", ip, share, w)
		}
	}
}

// Names gtm does not own go on to the file plugin behind it.
func TestFallthroughToFile(t *testing.T) {
	zone := filepath.Join(t.TempDir(), "db.example.org")
	if err := os.WriteFile(zone, []byte(`$ORIGIN example.org.
@	3600 IN SOA ns1.example.org. admin.example.org. 1 7200 1800 1209600 300
	3600 IN NS ns1.example.org.
static	3600 IN A 203.0.113.5
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		pool a {
			address 192.0.2.1
		}
		instance www {
			primary a
		}
		fallthrough
	}
	file `+zone+`
}`)
	if got := testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA)); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("managed name: got %v", got)
	}
	if got := testkit.Values(s.ask(t, "udp", "static.example.org.", dns.TypeA)); !slices.Equal(got, []string{"203.0.113.5"}) {
		t.Fatalf("name for the file plugin: got %v, want 203.0.113.5", got)
	}
	if r := s.ask(t, "udp", "example.org.", dns.TypeSOA); len(r.Answer) != 1 || r.Answer[0].(*dns.SOA).Mbox != "admin.example.org." {
		t.Fatalf("apex SOA should come from the file plugin under fallthrough: %v", r.Answer)
	}
}

func TestNegativeAnswers(t *testing.T) {
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool a {
			address 192.0.2.1
		}
		instance www {
			primary a
		}
	}
}`)
	for _, proto := range []string{"udp", "tcp"} {
		r := s.ask(t, proto, "www.example.org.", dns.TypeAAAA, withEDNS(1232))
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || !r.Authoritative {
			t.Errorf("%s NODATA: rcode %s, answer %v, ns %v, aa %v", proto, dns.RcodeToString[r.Rcode], r.Answer, r.Ns, r.Authoritative)
		}
		if r.IsEdns0() == nil {
			t.Errorf("%s: reply lost the OPT record", proto)
		}
		r = s.ask(t, proto, "missing.example.org.", dns.TypeA)
		if r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA || !r.Authoritative {
			t.Errorf("%s NXDOMAIN: rcode %s, ns %v, aa %v", proto, dns.RcodeToString[r.Rcode], r.Ns, r.Authoritative)
		}
	}
}

// An answer larger than the client's buffer is truncated over UDP and whole
// over TCP.
func TestTruncation(t *testing.T) {
	var b strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&b, " 192.0.2.%d", i)
	}
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool many {
			address`+b.String()+`
		}
		instance big {
			primary many
		}
	}
}`)
	r := s.ask(t, "udp", "big.example.org.", dns.TypeA)
	if !r.Truncated || len(r.Answer) >= 60 {
		t.Fatalf("UDP with a 512-byte buffer: tc=%v with %d answers, want truncated", r.Truncated, len(r.Answer))
	}
	r = s.ask(t, "tcp", "big.example.org.", dns.TypeA)
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("TCP: tc=%v with %d answers, want all 60", r.Truncated, len(r.Answer))
	}
	r = s.ask(t, "udp", "big.example.org.", dns.TypeA, withEDNS(4096))
	if r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("UDP with a 4096-byte buffer: tc=%v with %d answers, want all 60", r.Truncated, len(r.Answer))
	}
}

// Corefile.example answers as the README says, and serves the console
// where its comment says (here on a free port, with its store in a
// temporary directory).
func TestCorefileExample(t *testing.T) {
	body, err := os.ReadFile("../Corefile.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "api 127.0.0.1:8053 {") || !strings.Contains(string(body), "http://127.0.0.1:8053/") {
		t.Fatal("Corefile.example no longer serves the API and console at 127.0.0.1:8053, as the README says")
	}
	apiPort := freePort(t)
	ex := strings.Replace(string(body), ":1053", ":0", 1)
	ex = storeLine.ReplaceAllString(ex, "store "+filepath.Join(t.TempDir(), "gtm.db"))
	ex = strings.Replace(ex, "api 127.0.0.1:8053", fmt.Sprintf("api 127.0.0.1:%d", apiPort), 1)
	s := start(t, ex)
	if got := testkit.Values(s.ask(t, "udp", "www.gtm.example.net.", dns.TypeA)); !slices.Equal(got, []string{"192.0.2.10", "192.0.2.11"}) {
		t.Fatalf("Corefile.example: www.gtm.example.net A = %v, want 192.0.2.10 and 192.0.2.11", got)
	}
	checkDelegation(t, s, "gtm.example.net.")

	// The console, and the API it uses without a token (loopback only).
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", apiPort))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/console/" || !strings.Contains(string(page), "<title>gtm console</title>") {
		t.Errorf("Corefile.example's console: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	if who := string(c.must(200, "GET", "/api/v1/whoami", nil)); !strings.Contains(who, `"role":"admin"`) {
		t.Errorf("whoami without a token: %s", who)
	}
	if st := string(c.must(200, "GET", "/api/v1/status/instances/www.gtm.example.net", nil)); !strings.Contains(st, `"state":"primary"`) {
		t.Errorf("status of www: %s", st)
	}
}

// checkDelegation fails unless every name server of zone that lies inside it
// resolves on the same server and comes as glue with the NS answer: a
// delegation to the zone is then not lame.
func checkDelegation(t *testing.T, s *server, zone string) {
	t.Helper()
	r := s.ask(t, "udp", zone, dns.TypeNS, withEDNS(1232))
	if len(r.Answer) == 0 {
		t.Fatalf("%s: no NS records", zone)
	}
	glue := map[string]bool{}
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeA || rr.Header().Rrtype == dns.TypeAAAA {
			glue[rr.Header().Name] = true
		}
	}
	for _, rr := range r.Answer {
		ns := rr.(*dns.NS).Ns
		if !dns.IsSubDomain(zone, ns) {
			continue
		}
		if got := testkit.Values(s.ask(t, "udp", ns, dns.TypeA)); len(got) == 0 {
			t.Errorf("%s: name server %s has no address: the delegation is lame", zone, ns)
		}
		if !glue[ns] {
			t.Errorf("%s: NS answer lacks glue for %s", zone, ns)
		}
	}
}
