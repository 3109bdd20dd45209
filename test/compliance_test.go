package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestEDNSComplianceBesideFile runs the classic EDNS and protocol compliance
// checks (the ones ISC's EDNS compliance tester makes) against gtm and file
// serving the same names through real CoreDNS servers. Some answers come
// from CoreDNS's server, not the plugin; either way gtm must behave as file
// does, and as the RFCs say.
func TestEDNSComplianceBesideFile(t *testing.T) {
	var many, zone strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&many, " 192.0.2.%d", i)
		fmt.Fprintf(&zone, "big\t60 IN A 192.0.2.%d\n", i)
	}
	db := filepath.Join(t.TempDir(), "db.example.org")
	if err := os.WriteFile(db, []byte(`$ORIGIN example.org.
@	60 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 1800 1209600 60
	60 IN NS ns1.example.org.
ns1	60 IN A 192.0.2.53
www	60 IN A 192.0.2.1
`+zone.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	servers := map[string]*server{
		"gtm": start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool a {
			address 192.0.2.1
		}
		pool many {
			address`+many.String()+`
		}
		instance www {
			primary a
		}
		instance big {
			primary many
		}
	}
}`),
		"file": start(t, `example.org:0 {
	bind 127.0.0.1
	file `+db+`
}`),
	}

	query := func(name string, qtype uint16, edns bool) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edns {
			m.SetEdns0(1232, false)
		}
		return m
	}
	withOpt := func(m *dns.Msg, f func(*dns.OPT)) *dns.Msg { f(m.IsEdns0()); return m }
	rcode := func(want int) func(*dns.Msg) error {
		return func(r *dns.Msg) error {
			if r.Rcode != want {
				return fmt.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
			}
			return nil
		}
	}
	answered := func(r *dns.Msg) error {
		if err := rcode(dns.RcodeSuccess)(r); err != nil {
			return err
		}
		if len(r.Answer) == 0 || !r.Authoritative {
			return fmt.Errorf("%d answers, aa %v; want an authoritative answer", len(r.Answer), r.Authoritative)
		}
		return nil
	}
	all := func(checks ...func(*dns.Msg) error) func(*dns.Msg) error {
		return func(r *dns.Msg) error {
			for _, c := range checks {
				if err := c(r); err != nil {
					return err
				}
			}
			return nil
		}
	}
	opt := func(f func(*dns.OPT) error) func(*dns.Msg) error {
		return func(r *dns.Msg) error {
			o := r.IsEdns0()
			if o == nil {
				return fmt.Errorf("no OPT record in the reply")
			}
			return f(o)
		}
	}
	noOption := func(code uint16) func(*dns.Msg) error {
		return opt(func(o *dns.OPT) error {
			for _, e := range o.Option {
				if e.Option() == code {
					return fmt.Errorf("reply carries option %d: %v", code, e)
				}
			}
			return nil
		})
	}
	rawHeader := func(m *dns.Msg, f func(*dns.Msg)) *dns.Msg { f(m); return m }

	for _, tc := range []struct {
		name  string
		proto string
		q     *dns.Msg
		want  func(*dns.Msg) error
	}{
		// positive
		{"plain", "udp", query("www.example.org.", dns.TypeA, false), answered},
		{"EDNS", "udp", query("www.example.org.", dns.TypeA, true), all(answered, opt(func(o *dns.OPT) error {
			if o.Version() != 0 {
				return fmt.Errorf("OPT version %d", o.Version())
			}
			return nil
		}))},
		{"unknown option ignored", "udp", withOpt(query("www.example.org.", dns.TypeA, true), func(o *dns.OPT) {
			o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: 65001, Data: []byte{1, 2, 3}})
		}), all(answered, noOption(65001))},
		{"unknown flag ignored", "udp", withOpt(query("www.example.org.", dns.TypeA, true), func(o *dns.OPT) { o.SetZ(0x4000) }),
			all(answered, opt(func(o *dns.OPT) error {
				if o.Z() != 0 {
					return fmt.Errorf("unknown flags echoed: %#x", o.Z())
				}
				return nil
			}))},
		{"DO echoed", "udp", withOpt(query("www.example.org.", dns.TypeA, true), func(o *dns.OPT) { o.SetDo() }),
			all(answered, opt(func(o *dns.OPT) error {
				if !o.Do() {
					return fmt.Errorf("DO not echoed")
				}
				return nil
			}))},
		{"COOKIE", "udp", withOpt(query("www.example.org.", dns.TypeA, true), func(o *dns.OPT) {
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		}), answered},
		{"NSID", "udp", withOpt(query("www.example.org.", dns.TypeA, true), func(o *dns.OPT) {
			o.Option = append(o.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID})
		}), all(answered, noOption(dns.EDNS0NSID))},
		{"0x20 case kept", "udp", query("wWw.ExAmPlE.oRg.", dns.TypeA, true), all(answered, func(r *dns.Msg) error {
			if r.Question[0].Name != "wWw.ExAmPlE.oRg." {
				return fmt.Errorf("question came back as %s", r.Question[0].Name)
			}
			return nil
		})},
		{"no truncation over TCP", "tcp", query("big.example.org.", dns.TypeA, false), all(answered, func(r *dns.Msg) error {
			if r.Truncated || len(r.Answer) != 60 {
				return fmt.Errorf("tc %v with %d answers", r.Truncated, len(r.Answer))
			}
			return nil
		})},
		// negative
		{"EDNS version 1", "udp", withOpt(query("www.example.org.", dns.TypeA, true), func(o *dns.OPT) { o.SetVersion(1) }),
			all(rcode(dns.RcodeBadVers), opt(func(o *dns.OPT) error {
				if o.Version() != 0 {
					return fmt.Errorf("BADVERS with version %d, want 0", o.Version())
				}
				return nil
			}))},
		{"TC at 512 without EDNS", "udp", query("big.example.org.", dns.TypeA, false), func(r *dns.Msg) error {
			if !r.Truncated {
				return fmt.Errorf("not truncated with %d answers", len(r.Answer))
			}
			return nil
		}},
		{"TC at the EDNS buffer size", "udp", withOpt(query("big.example.org.", dns.TypeA, true), func(o *dns.OPT) { o.SetUDPSize(600) }), func(r *dns.Msg) error {
			if !r.Truncated {
				return fmt.Errorf("not truncated with %d answers", len(r.Answer))
			}
			return nil
		}},
		{"NXDOMAIN", "udp", query("nope.example.org.", dns.TypeA, true), rcode(dns.RcodeNameError)},
		{"NODATA", "udp", query("www.example.org.", dns.TypeMX, true), all(rcode(dns.RcodeSuccess), func(r *dns.Msg) error {
			if len(r.Answer) != 0 || len(r.Ns) == 0 {
				return fmt.Errorf("answer %v ns %v", r.Answer, r.Ns)
			}
			return nil
		})},
		{"opcode 15", "udp", rawHeader(query("www.example.org.", dns.TypeA, false), func(m *dns.Msg) { m.Opcode = 15 }), rcode(dns.RcodeNotImplemented)},
		{"opcode UPDATE", "udp", rawHeader(query("example.org.", dns.TypeSOA, false), func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), rcode(dns.RcodeNotImplemented)},
		{"QDCOUNT 0", "udp", rawHeader(query("www.example.org.", dns.TypeA, false), func(m *dns.Msg) { m.Question = nil }), rcode(dns.RcodeFormatError)},
		{"QDCOUNT 2", "udp", rawHeader(query("www.example.org.", dns.TypeA, false), func(m *dns.Msg) {
			m.Question = append(m.Question, m.Question[0])
		}), rcode(dns.RcodeFormatError)},
		{"AXFR", "tcp", query("example.org.", dns.TypeAXFR, false), rcode(dns.RcodeRefused)},
		{"IXFR", "tcp", query("example.org.", dns.TypeIXFR, false), rcode(dns.RcodeRefused)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]*dns.Msg{}
			for _, name := range []string{"gtm", "file"} {
				s := servers[name]
				r := exchange(t, tc.proto, s.addr(tc.proto), tc.q.Copy())
				if r == nil {
					t.Errorf("%s: no reply", name)
					continue
				}
				got[name] = r
				if err := tc.want(r); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			g, f := got["gtm"], got["file"]
			if g == nil || f == nil {
				return
			}
			if g.Rcode != f.Rcode || g.Truncated != f.Truncated || g.Authoritative != f.Authoritative || (g.IsEdns0() == nil) != (f.IsEdns0() == nil) {
				t.Errorf("gtm and file differ:\ngtm:  %s tc=%v aa=%v opt=%v\nfile: %s tc=%v aa=%v opt=%v",
					dns.RcodeToString[g.Rcode], g.Truncated, g.Authoritative, g.IsEdns0() != nil,
					dns.RcodeToString[f.Rcode], f.Truncated, f.Authoritative, f.IsEdns0() != nil)
			}
		})
	}
}
