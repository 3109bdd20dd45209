package test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/miekg/dns"
)

// corefileExamples returns the ~~~ corefile blocks of README.md.
func corefileExamples(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []string
		cur  strings.Builder
		open bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !open && strings.TrimSpace(line) == "~~~ corefile":
			open = true
			cur.Reset()
		case open && strings.TrimSpace(line) == "~~~":
			open = false
			out = append(out, cur.String())
		case open:
			cur.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// toLoopback moves the documentation addresses of the examples (RFC 5737)
// into 127.0.0.0/8, so that the health checks the examples configure probe
// this machine and nothing else.
var toLoopback = strings.NewReplacer("192.0.2.", "127.0.2.", "198.51.100.", "127.51.100.", "203.0.113.", "127.0.113.")

var geoipLine = regexp.MustCompile(`geoip \S+`)

// asnLine is the asn property (not an asn rule, which is followed by '{').
var asnLine = regexp.MustCompile(`(?m)^(\s*)asn \S+$`)

var ipv4 = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b`)

// ipv6Address is a pool's line of IPv6 documentation addresses (RFC 3849):
// in an example with monitors, they are probed at ::1 instead, the only
// IPv6 loopback address.
var ipv6Address = regexp.MustCompile(`(?m)^(\s*address\s+2001:db8:[0-9a-f:. ]*)$`)

// TestReadme starts every Corefile example of README.md as a real server
// (on a free port, probes on loopback) and checks that it answers for its
// zone's apex.
func TestReadme(t *testing.T) {
	t.Chdir("..") // examples name files relative to the repository root
	examples := corefileExamples(t, "README.md")
	if len(examples) < 3 {
		t.Fatalf("found %d corefile examples in README.md, expected at least 3", len(examples))
	}
	port := dnsserver.Port
	dnsserver.Port = "0"
	t.Cleanup(func() { dnsserver.Port = port })
	geo := filepath.Join(t.TempDir(), "city.mmdb")
	geotest.Write(t, geo, "GeoIP2-City", geotest.Fixture)
	asn := filepath.Join(t.TempDir(), "asn.mmdb")
	geotest.WriteASN(t, asn, "GeoLite2-ASN", geotest.Carriers)
	for i, ex := range examples {
		if strings.Contains(ex, "dnssec {") {
			continue // its keys come from dnssec-keygen: TestReadmeDNSSEC runs it
		}
		ex = toLoopback.Replace(ex)
		ex = geoipLine.ReplaceAllString(ex, "geoip "+geo) // a generated database in place of the real one
		ex = asnLine.ReplaceAllString(ex, "${1}asn "+asn)
		if strings.Contains(ex, "monitor") {
			ex = ipv6Address.ReplaceAllString(ex, "$1 probe ::1")
			for _, ip := range ipv4.FindAllString(ex, -1) {
				if !strings.HasPrefix(ip, "127.") {
					t.Fatalf("example %d would probe %s, outside loopback: use RFC 5737 addresses in examples", i+1, ip)
				}
			}
		}
		if strings.Contains(ex, " api 127.0.0.1:8053") {
			ex = apiExample(t, ex, freePort(t), "ci admin 0123456789abcdef0123")
		}
		s := start(t, ex)
		zone := dns.Fqdn(strings.Fields(ex)[0])
		r := s.ask(t, "udp", zone, dns.TypeSOA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("example %d (%s): SOA query got rcode %s with %d answers", i+1, zone, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		checkDelegation(t, s, zone)
		checkAnswers(t, s, i+1, ex, zone)
	}
}

// checkAnswers asks the examples of dual-stack instances and HTTPS records
// what they show: both families, and a ServiceMode record with hints.
func checkAnswers(t *testing.T, s *server, n int, ex, zone string) {
	t.Helper()
	if strings.Contains(ex, "failover separate") {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
			if r := s.ask(t, "udp", "www."+zone, qtype); len(r.Answer) == 0 || r.Answer[0].Header().Rrtype != qtype {
				t.Errorf("example %d: www %s answered %v", n, dns.TypeToString[qtype], r.Answer)
			}
		}
	}
	if strings.Contains(ex, "https {") {
		r := s.ask(t, "udp", "www."+zone, dns.TypeHTTPS)
		if h, ok := answerOf[*dns.HTTPS](r); !ok || h.Priority != 1 || len(h.Value) < 3 {
			t.Errorf("example %d: www HTTPS answered %v", n, r.Answer)
		}
		r = s.ask(t, "udp", "static."+zone, dns.TypeHTTPS)
		if h, ok := answerOf[*dns.HTTPS](r); !ok || h.Priority != 0 {
			t.Errorf("example %d: static HTTPS answered %v", n, r.Answer)
		}
	}
}

// answerOf is a reply's one answer record, if it is a T.
func answerOf[T dns.RR](m *dns.Msg) (T, bool) {
	var zero T
	if len(m.Answer) != 1 {
		return zero, false
	}
	rr, ok := m.Answer[0].(T)
	return rr, ok
}
