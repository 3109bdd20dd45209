package test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// Item 4: a zone split between gtm and file under fallthrough. gtm answers
// only its managed names' own types; everything else comes from file, and
// names gtm knows to exist (managed names, empty non-terminals above them)
// are never denied.
func TestZoneSplitWithFile(t *testing.T) {
	zone := filepath.Join(t.TempDir(), "db.example.org")
	if err := os.WriteFile(zone, []byte(`$ORIGIN example.org.
@	3600 IN SOA ns1.example.org. admin.example.org. 7 7200 1800 1209600 300
	3600 IN NS ns1.example.org.
	3600 IN MX 10 mail.example.org.
	3600 IN CAA 0 issue "ca.example.net"
ns1	3600 IN A 192.0.2.53
mail	3600 IN A 192.0.2.25
www	3600 IN TXT "site verification"
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
		instance @ {
			primary a
		}
		instance www {
			primary a
		}
		instance app {
			primary a
		}
		instance a.b.deep {
			primary a
		}
		fallthrough
	}
	file `+zone+`
}`)
	const file = "file"
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string // addresses, or the record's text for other types
		soa    string   // whose SOA the authority section must hold ("" for none)
	}{
		// positive: gtm's own types at its names
		{"www.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}, ""},
		{"example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}, ""},
		{"a.b.deep.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.1"}, ""},
		// positive: file's data, at its names and at gtm's
		{"example.org.", dns.TypeMX, dns.RcodeSuccess, []string{"10 mail.example.org."}, ""},
		{"example.org.", dns.TypeCAA, dns.RcodeSuccess, []string{`0 issue "ca.example.net"`}, ""},
		{"example.org.", dns.TypeSOA, dns.RcodeSuccess, []string{"ns1.example.org. admin.example.org. 7 7200 1800 1209600 300"}, ""},
		{"example.org.", dns.TypeNS, dns.RcodeSuccess, []string{"ns1.example.org."}, ""},
		{"www.example.org.", dns.TypeTXT, dns.RcodeSuccess, []string{`"site verification"`}, ""},
		{"static.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"203.0.113.5"}, ""},
		{"ns1.example.org.", dns.TypeA, dns.RcodeSuccess, []string{"192.0.2.53"}, ""},
		// negative: NODATA where a name exists, with the zone's (file's) SOA
		{"www.example.org.", dns.TypeAAAA, dns.RcodeSuccess, nil, file},
		{"app.example.org.", dns.TypeMX, dns.RcodeSuccess, nil, file},     // file lacks the name
		{"deep.example.org.", dns.TypeA, dns.RcodeSuccess, nil, file},     // ENT only gtm knows
		{"b.deep.example.org.", dns.TypeTXT, dns.RcodeSuccess, nil, file}, // ENT only gtm knows
		{"example.org.", dns.TypeHTTPS, dns.RcodeSuccess, nil, file},
		// negative: names nobody has
		{"nope.example.org.", dns.TypeA, dns.RcodeNameError, nil, file},
		{"x.app.example.org.", dns.TypeA, dns.RcodeNameError, nil, file},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			r := s.ask(t, proto, tc.name, tc.qtype, withEDNS(1232))
			var got []string
			for _, rr := range r.Answer {
				switch x := rr.(type) {
				case *dns.A:
					got = append(got, x.A.String())
				case *dns.MX:
					got = append(got, x.String()[len(x.Hdr.String()):])
				default:
					got = append(got, rr.String()[len(rr.Header().String()):])
				}
			}
			if r.Rcode != tc.rcode || !slices.Equal(got, tc.answer) || !r.Authoritative {
				t.Errorf("%s %s %s: rcode %s aa %v answer %q; want %s %q", proto, tc.name, dns.TypeToString[tc.qtype], dns.RcodeToString[r.Rcode], r.Authoritative, got, dns.RcodeToString[tc.rcode], tc.answer)
				continue
			}
			if tc.soa == "" {
				continue
			}
			if soa := soaOf(t, r); soa.Mbox != "admin.example.org." {
				t.Errorf("%s %s %s: SOA %s, want the zone file's", proto, tc.name, dns.TypeToString[tc.qtype], soa)
			}
		}
	}
}
