package test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// needBinary skips a test whose validator is not installed (.ci/run
// installs it, so CI runs the test).
func needBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package %s)", name, pkg)
	}
	return p
}

// zoneKeys makes a KSK and a ZSK for example.org in dir, with
// dnssec-keygen when it is installed (as an operator would), else with
// miekg/dns. It returns their base names and the KSK.
func zoneKeys(t *testing.T, dir string) (ksk, zsk string, anchor *dns.DNSKEY) {
	t.Helper()
	if keygen, err := exec.LookPath("dnssec-keygen"); err == nil {
		gen := func(args ...string) string {
			cmd := exec.Command(keygen, append([]string{"-q", "-K", dir, "-a", "ECDSAP256SHA256"}, args...)...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("dnssec-keygen: %v: %s", err, out)
			}
			return filepath.Join(dir, strings.TrimSpace(string(out)))
		}
		ksk, zsk = gen("-f", "KSK", "example.org"), gen("example.org")
		f, err := os.Open(ksk + ".key")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rr, err := dns.ReadRR(f, ksk+".key")
		if err != nil {
			t.Fatal(err)
		}
		return ksk, zsk, rr.(*dns.DNSKEY)
	}
	ksk, anchor = testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 257)
	zsk, _ = testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 256)
	return ksk, zsk, anchor
}

// dnssecCorefile is a signed example.org: a failover pair probed by TCP,
// a CNAME, an AAAA below an empty non-terminal, a large set, and one name
// (bad) that the tampering proxy corrupts.
func dnssecCorefile(primary, backup int, ksk, zsk string) string {
	big := make([]string, 25)
	for i := range big {
		big[i] = fmt.Sprintf("198.51.100.%d", i+1)
	}
	return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 127.0.0.53
		monitor primary-check {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
			rise 1
			fall 1
		}
		monitor backup-check {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
		}
		pool site-a {
			monitor primary-check
			address 127.0.0.20
		}
		pool site-b {
			monitor backup-check
			address 127.0.0.21
		}
		pool web {
			address 192.0.2.1 192.0.2.2
		}
		pool alias {
			address www.example.org
		}
		pool v6 {
			address 2001:db8::1
		}
		pool big {
			address %s
		}
		instance www {
			ttl 60
			https
			primary web
		}
		instance fo {
			ttl 1
			degraded-ttl 1
			primary site-a
			secondary site-b
		}
		instance alias {
			primary alias
		}
		instance a.b {
			primary v6
		}
		instance big {
			primary big
		}
		instance bad {
			primary web
		}
		dnssec {
			key file %s %s
		}
	}
}`, primary, backup, strings.Join(big, " "), ksk, zsk)
}

type signedSetup struct {
	s               *server
	primary, backup *endpoint
	dir             string
	anchor          *dns.DNSKEY
}

func startSigned(t *testing.T) *signedSetup {
	t.Helper()
	dir := t.TempDir()
	ksk, zsk, anchor := zoneKeys(t, dir)
	primary := listen(t, "127.0.0.20:0")
	backup := listen(t, "127.0.0.21:0")
	s := start(t, dnssecCorefile(primary.port(), backup.port(), ksk, zsk))
	s.waitFor(t, "fo.example.org.", []string{"127.0.0.20"}, 3*time.Second)
	return &signedSetup{s: s, primary: primary, backup: backup, dir: dir, anchor: anchor}
}

func doQuery(name string, qtype, size uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(size, true)
	return m
}

// A DO query with a small buffer gets TC over UDP; over TCP the whole
// signed answer.
func TestDNSSECTruncation(t *testing.T) {
	st := startSigned(t)
	udp := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	r, _, err := udp.Exchange(doQuery("big.example.org.", dns.TypeA, 512), st.s.udp)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated {
		t.Errorf("DO with a 512-byte buffer: TC not set (%d answers)", len(r.Answer))
	}
	// Without DO the same set fits.
	plain := new(dns.Msg)
	plain.SetQuestion("big.example.org.", dns.TypeA)
	plain.SetEdns0(512, false)
	if r, _, err = udp.Exchange(plain, st.s.udp); err != nil || r.Truncated || len(r.Answer) != 25 {
		t.Errorf("without DO: %v, TC %v, %d answers; want 25 without TC", err, r != nil && r.Truncated, len(r.Answer))
	}
	tcp := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	r, _, err = tcp.Exchange(doQuery("big.example.org.", dns.TypeA, 512), st.s.tcp)
	if err != nil {
		t.Fatal(err)
	}
	sigs := 0
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs++
			set := r.Answer[:25]
			if err := s.Verify(zskOf(t, st), set); err != nil {
				t.Errorf("TCP: signature does not verify: %v", err)
			}
		}
	}
	if r.Truncated || len(r.Answer) != 26 || sigs != 1 {
		t.Errorf("TCP: TC %v, %d records (%d signatures), want 25 addresses and their signature", r.Truncated, len(r.Answer), sigs)
	}
}

func zskOf(t *testing.T, st *signedSetup) *dns.DNSKEY {
	t.Helper()
	r := st.s.ask(t, "tcp", "example.org.", dns.TypeDNSKEY)
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok && k.Flags == 256 {
			return k
		}
	}
	t.Fatal("no ZSK published")
	return nil
}

// writeAnchor writes the KSK as a trust anchor in delv's syntax.
func writeAnchor(t *testing.T, dir string, k *dns.DNSKEY) string {
	t.Helper()
	p := filepath.Join(dir, "anchors.conf")
	body := fmt.Sprintf("trust-anchors {\n\t%s static-key %d %d %d \"%s\";\n};\n", k.Hdr.Name, k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func delv(t *testing.T, bin, anchors, addr, name, qtype string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "@"+host, "-p", port, "-a", anchors, "+root=example.org", name, qtype)
	out, _ := cmd.CombinedOutput() // a denial exits non-zero; the text says what was proven
	return string(out)
}

// delv, with the zone's KSK as its trust anchor, proves every kind of
// answer: addresses, a CNAME, a name that does not exist, NODATA, an empty
// non-terminal, the DNSKEY set; and after a failover, the new answer.
func TestDNSSECDelv(t *testing.T) {
	bin := needBinary(t, "delv", "bind9-dnsutils")
	st := startSigned(t)
	anchors := writeAnchor(t, st.dir, st.anchor)
	for _, q := range []struct{ name, qtype, want string }{
		{"www.example.org", "A", "www.example.org.\t60\tIN\tA\t192.0.2."},
		{"alias.example.org", "A", "alias.example.org.\t30\tIN\tCNAME\twww.example.org."},
		{"a.b.example.org", "AAAA", "2001:db8::1"},
		{"nope.example.org", "A", "NSEC \\000.nope.example.org. RRSIG NSEC TYPE128"},
		{"www.example.org", "AAAA", "NSEC \\000.www.example.org. A RRSIG NSEC"},
		{"b.example.org", "A", "NSEC \\000.b.example.org. RRSIG NSEC"},
		{"example.org", "DNSKEY", "DNSKEY\t257 3 13"},
		{"example.org", "SOA", "SOA\tns1.example.org."},
		{"example.org", "CDS", "CDS\t"},
		{"www.example.org", "HTTPS", "HTTPS\t1 ."},
		{"www.example.org", "NSEC", "NSEC\t\\000.www.example.org. A RRSIG NSEC"},
		{"nope.example.org", "NSEC", "NSEC\t\\000.nope.example.org. RRSIG NSEC TYPE128"},
	} {
		out := delv(t, bin, anchors, st.s.udp, q.name, q.qtype)
		if !strings.Contains(out, "fully validated") || !strings.Contains(out, q.want) {
			t.Errorf("delv %s %s: want 'fully validated' and %q, got:\n%s", q.name, q.qtype, q.want, out)
		}
	}
	st.primary.down()
	st.s.waitFor(t, "fo.example.org.", []string{"127.0.0.21"}, 3*time.Second)
	if out := delv(t, bin, anchors, st.s.udp, "fo.example.org", "A"); !strings.Contains(out, "fully validated") || !strings.Contains(out, "127.0.0.21") {
		t.Errorf("after failover: delv says:\n%s", out)
	}
}

// tamperer is a DNS proxy on loopback between unbound and gtm that
// corrupts the signatures of answers for bad.example.org: what an attacker
// on the path would do, and what validation must catch.
func tamperer(t *testing.T, upstream string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		resp, _, err := c.Exchange(r, upstream)
		if err != nil {
			return
		}
		if len(r.Question) == 1 && r.Question[0].Name == "bad.example.org." {
			for _, rr := range resp.Answer {
				if s, ok := rr.(*dns.RRSIG); ok {
					b := []byte(s.Signature)
					b[5] ^= 1 // 'A' <-> 'B' and the like: still base64
					if b[5] == '+' || b[5] == '/' || b[5] == '*' || b[5] == '.' {
						b[5] = 'Q'
					}
					s.Signature = string(b)
				}
			}
		}
		w.WriteMsg(resp)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// unbound, with the zone's KSK as trust anchor and a stub zone pointing at
// gtm (through the tampering proxy), returns gtm's answers with AD set,
// SERVFAIL for the corrupted one, and the new answer after a failover.
func TestDNSSECUnbound(t *testing.T) {
	bin := needBinary(t, "unbound", "unbound")
	st := startSigned(t)
	proxy := tamperer(t, st.s.udp)
	phost, pport, _ := net.SplitHostPort(proxy)
	port := freeUDPTCPPort(t)
	dir := st.dir
	k := st.anchor
	conf := fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-not-query-localhost: no
	chroot: ""
	username: ""
	directory: "%s"
	pidfile: "%s/unbound.pid"
	use-syslog: no
	logfile: "%s/unbound.log"
	verbosity: 1
	val-log-level: 2
	num-threads: 1
	module-config: "validator iterator"
	qname-minimisation: no
	trust-anchor: "%s DNSKEY %d %d %d %s"
remote-control:
	control-enable: no
stub-zone:
	name: "example.org"
	stub-addr: %s@%s
`, port, dir, dir, dir, k.Hdr.Name, k.Flags, k.Protocol, k.Algorithm, k.PublicKey, phost, pport)
	cf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-d", "-c", cf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
	resolve := func(name string, qtype uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.SetEdns0(1232, true)
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			return nil
		}
		return r
	}
	testkit.Eventually(t, "unbound answers", 5*time.Second, func() bool { return resolve("www.example.org.", dns.TypeA) != nil })
	for _, q := range []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"www.example.org.", dns.TypeA, dns.RcodeSuccess},
		{"alias.example.org.", dns.TypeA, dns.RcodeSuccess},
		{"a.b.example.org.", dns.TypeAAAA, dns.RcodeSuccess},
		{"nope.example.org.", dns.TypeA, dns.RcodeSuccess}, // compact denial: NOERROR, no data
		{"b.example.org.", dns.TypeA, dns.RcodeSuccess},
		{"www.example.org.", dns.TypeAAAA, dns.RcodeSuccess},
		{"example.org.", dns.TypeDNSKEY, dns.RcodeSuccess},
	} {
		r := resolve(q.name, q.qtype)
		if r == nil || r.Rcode != q.rcode || !r.AuthenticatedData {
			t.Errorf("unbound %s %s: %v; want %s with AD", q.name, dns.TypeToString[q.qtype], r, dns.RcodeToString[q.rcode])
		}
	}
	// Unbound retries a bogus answer at other addresses and with backoff
	// before it gives up, which on a loaded machine outlasts a 3 s client
	// timeout; a silent try is asked again, a wrong answer fails at once.
	var bad *dns.Msg
	for try := 0; try < 4 && bad == nil; try++ {
		bad = resolve("bad.example.org.", dns.TypeA)
	}
	if bad == nil || bad.Rcode != dns.RcodeServerFailure {
		t.Errorf("unbound with a corrupted signature: %v; want SERVFAIL", bad)
	}
	st.primary.down()
	st.s.waitFor(t, "fo.example.org.", []string{"127.0.0.21"}, 3*time.Second)
	testkit.Eventually(t, "unbound validates the answer after failover", 5*time.Second, func() bool {
		r := resolve("fo.example.org.", dns.TypeA)
		return r != nil && r.AuthenticatedData && len(testkit.Values(r)) > 0 && strings.Contains(strings.Join(testkit.Values(r), " "), "127.0.0.21")
	})
	if t.Failed() {
		if b, err := os.ReadFile(filepath.Join(dir, "unbound.log")); err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for i := 0; sc.Scan() && i < 40; i++ {
				t.Log(sc.Text())
			}
		}
	}
}

// freeUDPTCPPort is a loopback port free for both UDP and TCP just now.
func freeUDPTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		port := testkit.DeadPort(t)
		if pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// sharedZone is the rest of example.org, which file serves behind gtm.
const sharedZone = `$ORIGIN example.org.
@	3600 IN SOA ns1.example.org. hostmaster.example.org. 1 7200 1800 1209600 60
	3600 IN NS ns1.example.org.
	3600 IN MX 10 mail.example.org.
ns1	3600 IN A 127.0.0.53
mail	3600 IN A 192.0.2.25
www	3600 IN TXT "beside gtm's addresses"
`

// A zone split between gtm (its names, signed by gtm) and file (the
// rest, signed by CoreDNS's dnssec plugin with the same keys) validates
// in both halves: gtm's names, file's names, other types at gtm's names,
// names neither has, the DNSKEY set.
func TestDNSSECSharedZoneDelv(t *testing.T) {
	bin := needBinary(t, "delv", "bind9-dnsutils")
	dir := t.TempDir()
	ksk, zsk, anchor := zoneKeys(t, dir)
	zf := filepath.Join(dir, "db.example.org")
	if err := os.WriteFile(zf, []byte(sharedZone), 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		pool web {
			address 192.0.2.1 192.0.2.2
		}
		instance www {
			primary web
		}
		pool dead {
			address 192.0.2.99 mode down
		}
		instance gone {
			primary dead
		}
		dnssec {
			key file %[1]s %[2]s
		}
		fallthrough
	}
	dnssec {
		key file %[1]s %[2]s
	}
	file %[3]s
}`, ksk, zsk, zf))
	anchors := writeAnchor(t, dir, anchor)
	for _, q := range []struct{ name, qtype, want string }{
		{"www.example.org", "A", "www.example.org.\t30\tIN\tA\t192.0.2."},
		{"www.example.org", "TXT", "beside gtm's addresses"},
		{"mail.example.org", "A", "192.0.2.25"},
		{"example.org", "MX", "mail.example.org."},
		{"example.org", "DNSKEY", "DNSKEY\t257 3 13"},
		{"nope.example.org", "A", "negative response, fully validated"},
		{"www.example.org", "AAAA", "negative response, fully validated"},
		// gtm's own NODATA in the shared zone, its bitmap open to file's types.
		{"gone.example.org", "A", "NSEC \\000.gone.example.org. HINFO MX TXT AAAA"},
	} {
		out := delv(t, bin, anchors, s.udp, q.name, q.qtype)
		if !strings.Contains(out, "fully validated") || !strings.Contains(out, q.want) {
			t.Errorf("delv %s %s: want 'fully validated' and %q, got:\n%s", q.name, q.qtype, q.want, out)
		}
	}
}

// A ZSK rollover by pre-publishing (to another algorithm): a reload that adds the new key
// publishes it and signs with both; one that then drops the old key
// leaves the new one alone. Every step's answers verify.
func TestDNSSECRolloverByReload(t *testing.T) {
	dir := t.TempDir()
	ksk, _ := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 257)
	old, _ := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 256)
	next, _ := testkit.WriteKey(t, dir, "example.org.", dns.ED25519, 256)
	corefile := func(keys ...string) string {
		return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 127.0.0.53
		pool web {
			address 192.0.2.1
		}
		instance www {
			primary web
		}
		dnssec {
			key file %s
		}
	}
}`, strings.Join(keys, " "))
	}
	s := start(t, corefile(ksk, old))
	check := func(step string, keys, sigs int) {
		t.Helper()
		c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
		r, _, err := c.Exchange(doQuery("example.org.", dns.TypeDNSKEY, 1232), s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		var dnskeys []*dns.DNSKEY
		for _, rr := range r.Answer {
			if k, ok := rr.(*dns.DNSKEY); ok {
				dnskeys = append(dnskeys, k)
			}
		}
		if len(dnskeys) != keys {
			t.Errorf("%s: %d keys published, want %d", step, len(dnskeys), keys)
		}
		a, _, err := c.Exchange(doQuery("www.example.org.", dns.TypeA, 1232), s.tcp)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rr := range a.Answer {
			sig, ok := rr.(*dns.RRSIG)
			if !ok {
				continue
			}
			n++
			verified := false
			for _, k := range dnskeys {
				if k.KeyTag() == sig.KeyTag && sig.Verify(k, a.Answer[:1]) == nil {
					verified = true
				}
			}
			if !verified {
				t.Errorf("%s: signature of key %d does not verify with the published keys", step, sig.KeyTag)
			}
		}
		if n != sigs {
			t.Errorf("%s: %d signatures on the answer, want %d", step, n, sigs)
		}
	}
	check("before", 2, 1)
	s.reload(t, corefile(ksk, old, next))
	check("pre-published", 3, 2)
	// The KSK's algorithm (13) has no ZSK left: every algorithm signs
	// every set (RFC 4035 2.2), so the KSK signs the answers too.
	s.reload(t, corefile(ksk, next))
	check("old key removed", 2, 2)
}
