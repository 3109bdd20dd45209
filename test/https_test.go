package test

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

func httpsCorefile(a4, b4 int) string {
	return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		monitor a4 {
			protocol tcp
			port %d
			interval 150ms
			timeout 120ms
			rise 1
			fall 2
		}
		monitor b4 {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
		}
		pool a4 {
			monitor a4
			address 127.0.0.133
		}
		pool a6 {
			address 2001:db8::a
		}
		pool b4 {
			monitor b4
			address 127.0.0.134
		}
		pool b6 {
			address 2001:db8::b
		}
		pool cdn {
			address edge.cdn.example.net
		}
		instance www {
			primary a4 a6
			secondary b4 b6
			https {
				alpn h2 h3
				port 8443
				ech AAT+DQAA
			}
			svcb {
				alpn h2
			}
		}
		instance plain {
			primary a4 a6
		}
		instance cdn {
			primary cdn
			https
		}
	}
}`, a4, b4)
}

// hintSets are an HTTPS or SVCB record's hints, as text, sorted.
func hintSets(t *testing.T, m *dns.Msg) (v4, v6 []string) {
	t.Helper()
	if len(m.Answer) != 1 {
		t.Fatalf("answer %v", m.Answer)
	}
	var s *dns.SVCB
	switch rr := m.Answer[0].(type) {
	case *dns.HTTPS:
		s = &rr.SVCB
	case *dns.SVCB:
		s = rr
	default:
		t.Fatalf("answer %v is no HTTPS or SVCB record", rr)
	}
	for _, kv := range s.Value {
		switch kv := kv.(type) {
		case *dns.SVCBIPv4Hint:
			for _, ip := range kv.Hint {
				v4 = append(v4, ip.String())
			}
		case *dns.SVCBIPv6Hint:
			for _, ip := range kv.Hint {
				v6 = append(v6, ip.String())
			}
		}
	}
	slices.Sort(v4)
	slices.Sort(v6)
	return v4, v6
}

// HTTPS and SVCB answers through a real CoreDNS, read with miekg/dns and
// with dig: opt-in per instance, hints that are the A and AAAA answers, and
// that follow a failover driven by real probes.
func TestHTTPS(t *testing.T) {
	a4 := listen(t, "127.0.0.133:0")
	b4 := listen(t, "127.0.0.134:0")
	s := start(t, httpsCorefile(a4.port(), b4.port()))
	www := "www.example.org."
	s.waitFor(t, www, []string{"127.0.0.133"}, 3*time.Second)

	for _, proto := range []string{"udp", "tcp"} {
		m := s.ask(t, proto, www, dns.TypeHTTPS, withEDNS(1232))
		if !m.Authoritative || m.Rcode != dns.RcodeSuccess {
			t.Fatalf("%s: rcode %s aa %v", proto, dns.RcodeToString[m.Rcode], m.Authoritative)
		}
		h, ok := m.Answer[0].(*dns.HTTPS)
		if !ok || h.Priority != 1 || h.Target != "." {
			t.Fatalf("%s: %v", proto, m.Answer)
		}
		v4, v6 := hintSets(t, m)
		a := testkit.Values(s.ask(t, proto, www, dns.TypeA))
		aaaa := testkit.Values(s.ask(t, proto, www, dns.TypeAAAA))
		if !slices.Equal(v4, a) || !slices.Equal(v6, aaaa) {
			t.Errorf("%s: hints %v %v, answers A %v AAAA %v", proto, v4, v6, a, aaaa)
		}
		var extra []string
		for _, rr := range m.Extra {
			switch rr := rr.(type) {
			case *dns.A:
				extra = append(extra, rr.A.String())
			case *dns.AAAA:
				extra = append(extra, rr.AAAA.String())
			}
		}
		if !slices.Equal(extra, []string{"127.0.0.133", "2001:db8::a"}) {
			t.Errorf("%s: additional %v", proto, m.Extra)
		}
	}
	// SVCB has its own parameters; an instance that did not opt in
	// answers NODATA, as before.
	if m := s.ask(t, "udp", www, dns.TypeSVCB); len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), `SVCB	1 . alpn="h2" ipv4hint="127.0.0.133" ipv6hint="2001:db8::a"`) {
		t.Errorf("SVCB: %v", m.Answer)
	}
	if m := s.ask(t, "udp", "plain.example.org.", dns.TypeHTTPS); len(m.Answer) != 0 || len(m.Ns) != 1 || m.Rcode != dns.RcodeSuccess {
		t.Errorf("HTTPS of an instance without https: %v %v", m.Answer, m.Ns)
	}

	digHTTPS(t, s, www, `1 . alpn="h2,h3" port=8443 ipv4hint=127.0.0.133 ech=AAT+DQAA ipv6hint=2001:db8::a`)
	digHTTPS(t, s, "cdn.example.org.", "0 edge.cdn.example.net.")

	// Site a's IPv4 endpoint stops: both families fail over together, and
	// the hints with them.
	a4.down()
	s.waitFor(t, www, []string{"127.0.0.134"}, 3*time.Second)
	v4, v6 := hintSets(t, s.ask(t, "udp", www, dns.TypeHTTPS))
	if !slices.Equal(v4, []string{"127.0.0.134"}) || !slices.Equal(v6, []string{"2001:db8::b"}) {
		t.Errorf("after failover: hints %v %v", v4, v6)
	}
	digHTTPS(t, s, www, `1 . alpn="h2,h3" port=8443 ipv4hint=127.0.0.134 ech=AAT+DQAA ipv6hint=2001:db8::b`)
}

// digHTTPS asks Debian's dig (9.18 knows the type) for name's HTTPS record
// and expects want in its answer.
func digHTTPS(t *testing.T, s *server, name, want string) {
	t.Helper()
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Log("dig is not installed (Debian package bind9-dnsutils; .ci/run installs it): checked with miekg/dns only")
		return
	}
	host, port, _ := net.SplitHostPort(s.udp)
	out, err := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=2", "+noall", "+answer", name, "HTTPS").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "IN\tHTTPS\t"+want) {
		t.Errorf("dig %s HTTPS: want %q in\n%s", name, want, out)
	}
}

// A large HTTPS answer over UDP without EDNS still fits 512 bytes: the
// additional A records go first (CoreDNS's truncation), the hints stay;
// over TCP the reply is whole.
func TestHTTPSLarge(t *testing.T) {
	var addrs []string
	for i := range 40 {
		addrs = append(addrs, fmt.Sprintf("192.0.2.%d", i+1))
	}
	s := start(t, `example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 192.0.2.53
		pool many {
			address `+strings.Join(addrs, " ")+`
		}
		instance www {
			primary many
			https {
				alpn h2
			}
		}
	}
}`)
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeHTTPS)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: 512}
	r, _, err := c.Exchange(m, s.udp)
	if err != nil {
		t.Fatal(err)
	}
	r.Compress = true // as it came: packed again, compressed
	if b, _ := r.Pack(); len(b) > 512 {
		t.Errorf("UDP reply of %d bytes to a query without EDNS", len(b))
	}
	if v4, _ := hintSets(t, r); len(v4) != 40 {
		t.Errorf("UDP: %d hints, want 40 (the additional records give way first)", len(v4))
	}
	r = s.ask(t, "tcp", "www.example.org.", dns.TypeHTTPS)
	if v4, _ := hintSets(t, r); len(v4) != 40 || len(r.Extra) != 40 || r.Truncated {
		t.Errorf("TCP: %d hints, %d additional records, tc %v", len(v4), len(r.Extra), r.Truncated)
	}
}

// The control API takes dual-stack instances and HTTPS settings in the
// JSON form, with the Corefile's rules and messages, and the answers follow.
func TestAPIDualStackHTTPS(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.135:0")
	apiPort := freePort(t)
	s := start(t, apiCorefile(apiPort, filepath.Join(t.TempDir(), "gtm.db"), port))
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "v4", "monitor": "tcp-live",
		"addresses": []map[string]any{{"address": "127.0.0.135"}}})
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "v6", "addresses": []map[string]any{{"address": "2001:db8::135"}}})
	primary := map[string]any{"pools": []map[string]any{{"pool": "v4"}, {"pool": "v6"}}}
	rules := []map[string]any{{"match": "default", "primary": primary}}

	// Refused, with the Corefile's messages (or the schema's).
	for _, tc := range []struct {
		body map[string]any
		want string
	}{
		// The schema's bound, checked before the configuration's rules.
		{map[string]any{"rules": rules, "https": map[string]any{"port": 0}}, `"location":"body.https.port"`},
		{map[string]any{"rules": rules, "https": map[string]any{"ech": "AEX+DQBB"}}, "https ech of instance 'www.example.org.' is not an ECHConfigList"},
		{map[string]any{"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "v4"}}}}},
			"failover": "separate"}, "failover has no effect: instance 'www.example.org.' serves only A records"},
	} {
		if code, body, _ := c.call("PUT", "/api/v1/instances/www.example.org", tc.body); code < 400 || !strings.Contains(string(body), tc.want) {
			t.Errorf("PUT %v: %d %s, want an error with %q", tc.body, code, body, tc.want)
		}
	}

	c.must(201, "PUT", "/api/v1/instances/www.example.org", map[string]any{"rules": rules, "failover": "separate",
		"https": map[string]any{"alpn": []string{"h2"}, "port": 8443}})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.135"}, 5*time.Second)
	s.waitType(t, "www.example.org.", dns.TypeAAAA, []string{"2001:db8::135"}, 5*time.Second)
	if v4, v6 := hintSets(t, s.ask(t, "udp", "www.example.org.", dns.TypeHTTPS)); !slices.Equal(v4, []string{"127.0.0.135"}) || !slices.Equal(v6, []string{"2001:db8::135"}) {
		t.Errorf("HTTPS hints %v %v", v4, v6)
	}
	var st struct {
		Type, Failover string
		Records        []string
		Rules          []struct {
			Families []struct{ Type, State string }
		}
	}
	decodeJSON(t, c.must(200, "GET", "/api/v1/status/instances/www.example.org", nil), &st)
	if st.Type != "A+AAAA" || st.Failover != "separate" || !slices.Equal(st.Records, []string{"A", "AAAA", "HTTPS"}) ||
		len(st.Rules) != 1 || len(st.Rules[0].Families) != 2 || st.Rules[0].Families[1].Type != "AAAA" {
		t.Errorf("status %+v", st)
	}
	// The stored JSON form gives the settings back.
	var in map[string]any
	decodeJSON(t, c.must(200, "GET", "/api/v1/instances/www.example.org", nil), &in)
	if in["failover"] != "separate" || fmt.Sprint(in["https"]) != "map[alpn:[h2] port:8443]" {
		t.Errorf("instance read back: %v", in)
	}
}
