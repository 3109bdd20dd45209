package test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
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

// TestReadme starts every Corefile example of README.md as a real server
// (on a free port) and checks that it answers for its zone's apex.
func TestReadme(t *testing.T) {
	t.Chdir("..") // examples name files relative to the repository root
	examples := corefileExamples(t, "README.md")
	if len(examples) < 3 {
		t.Fatalf("found %d corefile examples in README.md, expected at least 3", len(examples))
	}
	port := dnsserver.Port
	dnsserver.Port = "0"
	t.Cleanup(func() { dnsserver.Port = port })
	for i, ex := range examples {
		s := start(t, ex)
		zone := dns.Fqdn(strings.Fields(ex)[0])
		r := s.ask(t, "udp", zone, dns.TypeSOA)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("example %d (%s): SOA query got rcode %s with %d answers", i+1, zone, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
}
