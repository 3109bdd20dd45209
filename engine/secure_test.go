package engine

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
	"github.com/gtm-project/gtm/corefile"
	"github.com/gtm-project/gtm/dnssec"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

const signedBody = `
pool web {
	address 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4
}
pool v6 {
	address 2001:db8::1
}
pool cdn {
	address edge.cdn.example.net
}
instance www {
	ttl 60
	primary web
}
instance a.b {
	primary v6
}
instance alias {
	primary cdn
}
instance @ {
	primary web
}
explain
`

// signedEngine is an engine for signedBody signed with a KSK and a ZSK
// (ECDSA P-256), and the keys.
func signedEngine(t testing.TB, extra string) (*Engine, []*dns.DNSKEY) {
	t.Helper()
	dir := t.TempDir()
	ksk, kk := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 257)
	zsk, zk := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 256)
	e := newEngine(t, signedBody+extra+"dnssec {\n\tkey file "+ksk+" "+zsk+"\n}\n")
	if err := e.LoadKeys(); err != nil {
		t.Fatal(err)
	}
	return e, []*dns.DNSKEY{kk, zk}
}

type qopt func(*dns.Msg)

func do(m *dns.Msg) { m.SetEdns0(4096, true) }
func co(m *dns.Msg) { m.SetEdns0(4096, true); m.IsEdns0().SetCo() }

func askDO(t testing.TB, e *Engine, name string, qtype uint16, opts ...qopt) *dns.Msg {
	t.Helper()
	r := new(dns.Msg)
	r.SetQuestion(name, qtype)
	r.Id = 4711
	for _, o := range opts {
		o(r)
	}
	m, out := e.Answer(Query{Req: r, Name: name, Type: qtype, Zone: "example.org.",
		Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
	if out != Reply {
		t.Fatalf("%s %s: the engine passed the query on", name, dns.TypeToString[qtype])
	}
	return m
}

// verify checks that every set of a section has a signature by one of
// keys that verifies, and that nothing is left unsigned.
func verify(t *testing.T, what string, rrs []dns.RR, keys []*dns.DNSKEY, now time.Time) {
	t.Helper()
	sets := map[[2]any][]dns.RR{}
	var sigs []*dns.RRSIG
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
			continue
		}
		k := [2]any{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		sets[k] = append(sets[k], rr)
	}
	for k, set := range sets {
		ok := false
		for _, s := range sigs {
			if s.TypeCovered != k[1].(uint16) || !strings.EqualFold(s.Hdr.Name, k[0].(string)) {
				continue
			}
			if s.Hdr.Ttl != set[0].Header().Ttl {
				t.Errorf("%s: RRSIG TTL %d, set's %d", what, s.Hdr.Ttl, set[0].Header().Ttl)
			}
			for _, key := range keys {
				if key.KeyTag() != s.KeyTag {
					continue
				}
				// Verify checks the set against the signature's
				// original TTL, as a validator does.
				cp := make([]dns.RR, len(set))
				for i, rr := range set {
					cp[i] = dns.Copy(rr)
					cp[i].Header().Ttl = s.OrigTtl
				}
				if err := s.Verify(key, cp); err != nil {
					t.Errorf("%s: %s %s: signature of key %d does not verify: %v", what, k[0], dns.TypeToString[k[1].(uint16)], s.KeyTag, err)
				} else if !s.ValidityPeriod(now) {
					t.Errorf("%s: signature not valid now", what)
				} else {
					ok = true
				}
			}
		}
		if !ok {
			t.Errorf("%s: %s %s has no signature that verifies", what, k[0], dns.TypeToString[k[1].(uint16)])
		}
	}
}

func nsecOf(m *dns.Msg) *dns.NSEC {
	for _, rr := range m.Ns {
		if n, ok := rr.(*dns.NSEC); ok {
			return n
		}
	}
	return nil
}

// Without DO, a signed zone answers exactly what an unsigned one does,
// byte for byte, with and without EDNS.
func TestDNSSECUnsignedBytesUnchanged(t *testing.T) {
	plain := newEngine(t, signedBody)
	signed, _ := signedEngine(t, "")
	noDO := func(m *dns.Msg) { m.SetEdns0(1232, false) }
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.example.org.", dns.TypeA}, {"www.example.org.", dns.TypeAAAA}, {"www.example.org.", dns.TypeANY},
		{"a.b.example.org.", dns.TypeAAAA}, {"b.example.org.", dns.TypeA}, {"alias.example.org.", dns.TypeTXT},
		{"nope.example.org.", dns.TypeA}, {"example.org.", dns.TypeSOA}, {"example.org.", dns.TypeNS},
		{"example.org.", dns.TypeA}, {"example.org.", dns.TypeMX}, {"ns1.example.org.", dns.TypeA},
		{"_explain.www.example.org.", dns.TypeA},
	} {
		for _, opts := range [][]qopt{nil, {noDO}} {
			a, err := askDO(t, plain, q.name, q.qtype, opts...).Pack()
			if err != nil {
				t.Fatal(err)
			}
			b, err := askDO(t, signed, q.name, q.qtype, opts...).Pack()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Errorf("%s %s (EDNS %v): unsigned reply differs once the zone is signed", q.name, dns.TypeToString[q.qtype], opts != nil)
			}
		}
	}
}

func TestDNSSECSignedAnswers(t *testing.T) {
	e, keys := signedEngine(t, "")
	now := time.Now()
	// positive
	for _, q := range []struct {
		name  string
		qtype uint16
		n     int // records answered, less signatures
	}{
		{"www.example.org.", dns.TypeA, 4},
		{"a.b.example.org.", dns.TypeAAAA, 1},
		{"alias.example.org.", dns.TypeA, 1},
		{"example.org.", dns.TypeSOA, 1},
		{"example.org.", dns.TypeNS, 1},
		{"example.org.", dns.TypeA, 4},
		{"ns1.example.org.", dns.TypeA, 1},
		{"example.org.", dns.TypeDNSKEY, 2},
		{"example.org.", dns.TypeCDS, 1},
		{"example.org.", dns.TypeCDNSKEY, 1},
	} {
		m := askDO(t, e, q.name, q.qtype, do)
		what := q.name + " " + dns.TypeToString[q.qtype]
		if m.Rcode != dns.RcodeSuccess || !m.Authoritative {
			t.Fatalf("%s: rcode %s, AA %v", what, dns.RcodeToString[m.Rcode], m.Authoritative)
		}
		n := 0
		for _, rr := range m.Answer {
			if _, ok := rr.(*dns.RRSIG); !ok {
				n++
			}
		}
		if n != q.n || len(m.Answer) == n {
			t.Errorf("%s: %d records and %d signatures, want %d records and signatures", what, n, len(m.Answer)-n, q.n)
		}
		verify(t, what, m.Answer, keys, now)
	}
	// The DNSKEY set is signed by the KSK, the rest by the ZSK.
	for _, rr := range askDO(t, e, "example.org.", dns.TypeDNSKEY, do).Answer {
		if s, ok := rr.(*dns.RRSIG); ok && s.KeyTag != keys[0].KeyTag() {
			t.Errorf("DNSKEY signed by key %d, want the KSK %d", s.KeyTag, keys[0].KeyTag())
		}
	}
	for _, rr := range askDO(t, e, "www.example.org.", dns.TypeA, do).Answer {
		if s, ok := rr.(*dns.RRSIG); ok && s.KeyTag != keys[1].KeyTag() {
			t.Errorf("A signed by key %d, want the ZSK %d", s.KeyTag, keys[1].KeyTag())
		}
	}
	// CDS is the KSK's digest.
	cds := askDO(t, e, "example.org.", dns.TypeCDS, do).Answer[0].(*dns.CDS)
	if want := keys[0].ToDS(dns.SHA256); cds.Digest != want.Digest || cds.KeyTag != want.KeyTag {
		t.Errorf("CDS %v, want the KSK's DS %v", cds, want)
	}
}

func TestDNSSECDenial(t *testing.T) {
	e, keys := signedEngine(t, "")
	now := time.Now()
	for _, q := range []struct {
		name   string
		qtype  uint16
		opts   []qopt
		rcode  int
		bitmap []uint16
	}{
		// A name that does not exist: NOERROR and NXNAME, or NXDOMAIN
		// when the query says CO.
		{"nope.example.org.", dns.TypeA, []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}},
		{"x.nope.example.org.", dns.TypeA, []qopt{co}, dns.RcodeNameError, []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}},
		// NODATA at an instance, at the apex, at a name server.
		{"www.example.org.", dns.TypeAAAA, []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}},
		{"a.b.example.org.", dns.TypeA, []qopt{co}, dns.RcodeSuccess, []uint16{dns.TypeAAAA, dns.TypeRRSIG, dns.TypeNSEC}},
		{"example.org.", dns.TypeMX, []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeA, dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY}},
		{"ns1.example.org.", dns.TypeAAAA, []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}},
		// An empty non-terminal: nothing but RRSIG and NSEC.
		{"b.example.org.", dns.TypeA, []qopt{co}, dns.RcodeSuccess, []uint16{dns.TypeRRSIG, dns.TypeNSEC}},
		// An explain name holds a TXT set.
		{"_explain.www.example.org.", dns.TypeA, []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeTXT, dns.TypeRRSIG, dns.TypeNSEC}},
	} {
		m := askDO(t, e, q.name, q.qtype, q.opts...)
		what := q.name + " " + dns.TypeToString[q.qtype]
		if m.Rcode != q.rcode || len(m.Answer) != 0 {
			t.Errorf("%s: rcode %s with %d answers, want %s and none", what, dns.RcodeToString[m.Rcode], len(m.Answer), dns.RcodeToString[q.rcode])
		}
		n := nsecOf(m)
		if n == nil {
			t.Errorf("%s: no NSEC: %v", what, m)
			continue
		}
		if n.Hdr.Name != q.name || n.NextDomain != "\\000."+q.name || !slices.Equal(n.TypeBitMap, q.bitmap) {
			t.Errorf("%s: NSEC %v, want bitmap %v", what, n, q.bitmap)
		}
		verify(t, what, m.Ns, keys, now)
		if opt := m.IsEdns0(); opt == nil || !opt.Do() || opt.Co() != (q.rcode == dns.RcodeNameError) {
			t.Errorf("%s: reply OPT %v: want DO, and CO only with NXDOMAIN", what, opt)
		}
	}
	// RFC 9824 3.5: a query for NXNAME is an error.
	if m := askDO(t, e, "www.example.org.", dns.TypeNXNAME, do); m.Rcode != dns.RcodeFormatError {
		t.Errorf("NXNAME query: rcode %s, want FORMERR", dns.RcodeToString[m.Rcode])
	}
}

// A query for the NSEC type gets the name's NSEC as its answer (a NODATA
// would carry an NSEC listing the type denied), signed; one for RRSIG with
// DO gets NOTIMP, since signatures are made per answer.
func TestDNSSECNSECAndRRSIGQueries(t *testing.T) {
	e, keys := signedEngine(t, "")
	now := time.Now()
	for _, q := range []struct {
		name   string
		opts   []qopt
		rcode  int
		bitmap []uint16
	}{
		{"www.example.org.", []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}},
		{"example.org.", []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeA, dns.TypeNS, dns.TypeSOA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY}},
		{"b.example.org.", []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeRRSIG, dns.TypeNSEC}},
		{"nope.example.org.", []qopt{do}, dns.RcodeSuccess, []uint16{dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNXNAME}},
	} {
		m := askDO(t, e, q.name, dns.TypeNSEC, q.opts...)
		what := q.name + " NSEC"
		if m.Rcode != q.rcode || len(m.Answer) != 2 || len(m.Ns) != 0 {
			t.Errorf("%s: %v; want %s with the NSEC and its signature as the answer", what, m, dns.RcodeToString[q.rcode])
			continue
		}
		n, ok := m.Answer[0].(*dns.NSEC)
		if !ok || n.Hdr.Name != q.name || !slices.Equal(n.TypeBitMap, q.bitmap) {
			t.Errorf("%s: answer %v, want an NSEC with bitmap %v", what, m.Answer[0], q.bitmap)
		}
		verify(t, what, m.Answer, keys, now)
	}
	// With CO a name that does not exist is denied, NSEC query or not.
	if m := askDO(t, e, "nope.example.org.", dns.TypeNSEC, co); m.Rcode != dns.RcodeNameError || len(m.Answer) != 0 || nsecOf(m) == nil {
		t.Errorf("nope NSEC with CO: %v; want NXDOMAIN with the NSEC in authority", m)
	}
	m := askDO(t, e, "www.example.org.", dns.TypeRRSIG, do)
	if m.Rcode != dns.RcodeNotImplemented || len(m.Answer) != 0 {
		t.Errorf("RRSIG with DO: %v; want NOTIMP", m)
	}
	if opt := m.IsEdns0(); opt == nil || len(opt.Option) != 1 || opt.Option[0].(*dns.EDNS0_EDE).InfoCode != dns.ExtendedErrorCodeNotSupported {
		t.Errorf("RRSIG with DO: OPT %v; want EDE Not Supported", opt)
	}
	// Without DO the reply is what an unsigned zone gives: NODATA.
	if m := askDO(t, e, "www.example.org.", dns.TypeRRSIG); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 {
		t.Errorf("RRSIG without DO: %v; want NODATA with the SOA", m)
	}
}

// Every rotation of a set is served by one signature; a health change
// signs only the sets that are new.
func TestDNSSECOneSignaturePerSet(t *testing.T) {
	e, _ := signedEngine(t, "")
	s := e.Signer()
	first := map[byte]bool{}
	for i := range 50 {
		m := askDO(t, e, "www.example.org.", dns.TypeA, do)
		first[m.Answer[0].(*dns.A).A[3]] = true
		if i == 0 && s.Signed() != 1 {
			t.Fatalf("signed %d sets for the first answer, want 1", s.Signed())
		}
	}
	if len(first) < 2 {
		t.Fatalf("answers were not rotated: %v", first)
	}
	if s.Signed() != 1 {
		t.Errorf("signed %d sets for 50 rotations of one set, want 1", s.Signed())
	}
}

// Signatures are made again long before they expire, with no reload: the
// clock is moved past the refresh point.
func TestDNSSECResign(t *testing.T) {
	e, keys := signedEngine(t, "")
	t0 := time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)
	now := t0
	e.Signer().Now = func() time.Time { return now }
	sigOf := func() *dns.RRSIG {
		for _, rr := range askDO(t, e, "www.example.org.", dns.TypeA, do).Answer {
			if s, ok := rr.(*dns.RRSIG); ok {
				return s
			}
		}
		t.Fatal("no signature")
		return nil
	}
	s1 := sigOf()
	if inc := time.Unix(int64(s1.Inception), 0); !inc.Equal(t0.Truncate(time.Hour).Add(-time.Hour)) {
		t.Errorf("inception %v, want an hour before the hour of %v", inc.UTC(), t0)
	}
	if exp := time.Unix(int64(s1.Expiration), 0); exp.Sub(t0) < 7*24*time.Hour {
		t.Errorf("expiration %v is less than 7 days after %v", exp.UTC(), t0)
	}
	now = t0.Add(2 * 24 * time.Hour)
	if s2 := sigOf(); s2.Inception != s1.Inception || e.Signer().Signed() != 1 {
		t.Errorf("after 2 days: signed again (%d sets), want the cached signature", e.Signer().Signed())
	}
	now = t0.Add(dnssec.Refresh + time.Hour)
	s3 := sigOf()
	if s3.Inception == s1.Inception || e.Signer().Signed() != 2 {
		t.Errorf("after %v: inception %d, signed %d sets; want a new signature", dnssec.Refresh+time.Hour, s3.Inception, e.Signer().Signed())
	}
	// The new signature has at least five days to run.
	if left := time.Unix(int64(s3.Expiration), 0).Sub(now); left < 5*24*time.Hour {
		t.Errorf("re-signed with only %v to run", left)
	}
	verify(t, "re-signed", askDO(t, e, "www.example.org.", dns.TypeA, do).Answer, keys, now)
}

// A degraded answer (shorter TTL) carries a signature over the normal TTL:
// validators check the TTL against the signature's original TTL.
func TestDNSSECOriginalTTL(t *testing.T) {
	e, keys := signedEngine(t, "pool dega {\n\taddress 198.51.100.31\n}\npool degb {\n\taddress 198.51.100.32\n}\n"+
		"instance deg {\n\tttl 60\n\tdegraded-ttl 5\n\tprimary dega\n\tsecondary degb\n}\n")
	next, _ := e.snap.Load().update(health.Static{{Pool: "dega", Address: "198.51.100.31"}: health.Unhealthy}, map[string]bool{"dega": true}, false)
	e.snap.Store(next)
	m := askDO(t, e, "deg.example.org.", dns.TypeA, do)
	var sigs []*dns.RRSIG
	for _, rr := range m.Answer {
		if s, ok := rr.(*dns.RRSIG); ok {
			sigs = append(sigs, s)
		}
	}
	if len(m.Answer) != 2 || m.Answer[0].Header().Ttl != 5 || len(sigs) != 1 || sigs[0].OrigTtl != 60 || sigs[0].Hdr.Ttl != 5 {
		t.Fatalf("on the secondary: %v; want the address at the degraded TTL 5 and one signature over the original TTL 60", m.Answer)
	}
	verify(t, "degraded", m.Answer, keys, time.Now())
}

func TestDNSSECKeyErrors(t *testing.T) {
	dir := t.TempDir()
	good, _ := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 257)
	other, _ := testkit.WriteKey(t, dir, "example.com.", dns.ECDSAP256SHA256, 257)
	rsa := writeRSAKey(t, dir)
	noPriv, _ := testkit.WriteKey(t, dir, "example.org.", dns.ED25519, 257)
	if err := removeFile(noPriv + ".private"); err != nil {
		t.Fatal(err)
	}
	// A pair whose halves are of two keys.
	mixed, _ := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 256)
	other2, _ := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 256)
	if b, err := os.ReadFile(other2 + ".private"); err != nil || os.WriteFile(mixed+".private", b, 0o600) != nil {
		t.Fatal(err)
	}
	notKey := dir + "/Knotakey"
	os.WriteFile(notKey+".key", []byte("example.org. 3600 IN A 192.0.2.1\n"), 0o644)
	for _, tc := range []struct{ key, want string }{
		{other, "is for zone 'example.com.', which is not one of gtm's zones"},
		{rsa, "uses algorithm 8 (RSASHA256): only 13 (ECDSAP256SHA256, recommended) and 15 (ED25519)"},
		{noPriv, "the private half is missing or unreadable"},
		{dir + "/Kmissing", "no such file"},
		{good + " " + good, "listed twice"},
		{mixed, "the private key does not belong to the public key"},
		{notKey, "holds no DNSKEY record"},
	} {
		body := "pool p {\n\taddress 192.0.2.1\n}\ninstance www {\n\tprimary p\n}\ndnssec {\n\tkey file " + tc.key + "\n}\n"
		cfg, err := parseConfigErr(body)
		if err == nil {
			err = New(cfg).LoadKeys()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ":9 - ") {
			t.Errorf("key %s: error %v, want one at line 9 (the key line) saying %q", tc.key, err, tc.want)
		}
	}
}

// A signed zone holding another of the block's zones is refused at the
// key's line: gtm writes no delegation, so the inner zone's answers could
// not validate. The inner zone signed alone is fine.
func TestDNSSECNestedZoneRefused(t *testing.T) {
	dir := t.TempDir()
	outer, _ := testkit.WriteKey(t, dir, "example.org.", dns.ECDSAP256SHA256, 257)
	inner, _ := testkit.WriteKey(t, dir, "sub.example.org.", dns.ECDSAP256SHA256, 257)
	for _, tc := range []struct{ key, want string }{
		{outer, "signs example.org., which holds sub.example.org., another zone of this gtm block"},
		{inner, ""},
	} {
		body := "gtm example.org sub.example.org {\nns ns1.example.org 192.0.2.53\npool p {\n\taddress 192.0.2.1\n}\ninstance www.example.org. {\n\tprimary p\n}\ndnssec {\n\tkey file " + tc.key + "\n}\n}"
		cfg, _, err := corefile.Parse(caddy.NewTestController("dns", body))
		if err == nil {
			err = New(cfg).LoadKeys()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("the inner zone's key alone: %v", err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ":10 - ")):
			t.Errorf("the outer zone's key: error %v, want one at line 10 saying %q", err, tc.want)
		}
	}
}

func parseConfigErr(body string) (*config.Config, error) {
	cfg, _, err := corefile.Parse(caddy.NewTestController("dns", testkit.Block(body)))
	return cfg, err
}

func removeFile(path string) error { return os.Remove(path) }

// writeRSAKey writes an RSA key pair (algorithm 8), which gtm refuses.
func writeRSAKey(t *testing.T, dir string) string {
	t.Helper()
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: "example.org.", Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: dns.RSASHA256}
	priv, err := k.Generate(1024)
	if err != nil {
		t.Fatal(err)
	}
	base := dir + "/Krsa"
	os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644)
	os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600)
	return base
}

// The in-zone name servers' addresses beside an NS answer are signed too.
func TestDNSSECGlueSigned(t *testing.T) {
	e, keys := signedEngine(t, "")
	m := askDO(t, e, "example.org.", dns.TypeNS, do)
	var glue []dns.RR
	for _, rr := range m.Extra {
		if _, ok := rr.(*dns.OPT); !ok {
			glue = append(glue, rr)
		}
	}
	if len(glue) != 2 {
		t.Fatalf("additional section %v, want ns1's A and its signature", glue)
	}
	verify(t, "glue", glue, keys, time.Now())
}

// An explanation (TXT, over TCP) is made per query, and signed per query.
func TestDNSSECExplainSigned(t *testing.T) {
	e, keys := signedEngine(t, "")
	r := new(dns.Msg)
	r.SetQuestion("_explain.www.example.org.", dns.TypeTXT)
	r.SetEdns0(4096, true)
	m, _ := e.Answer(Query{Req: r, Name: "_explain.www.example.org.", Type: dns.TypeTXT, Zone: "example.org.", TCP: true,
		Remote: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
	if len(m.Answer) < 2 {
		t.Fatalf("explain answer %v", m)
	}
	verify(t, "explain", m.Answer, keys, time.Now())
}

// After a health change the compile signs the sets the changed instance
// now answers whole, so its first query signs nothing.
func TestDNSSECPresign(t *testing.T) {
	e, keys := signedEngine(t, `
pool a {
	address 198.51.100.1 198.51.100.2
}
pool b {
	address 198.51.100.3
}
instance fo {
	primary a
	secondary b
}
`)
	s := e.Signer()
	askDO(t, e, "fo.example.org.", dns.TypeA, do)
	view := health.Static{
		{Pool: "a", Address: "198.51.100.1"}: health.Unhealthy,
		{Pool: "a", Address: "198.51.100.2"}: health.Unhealthy,
	}
	next, changed := e.snap.Load().update(view, map[string]bool{"a": true}, false)
	e.snap.Store(next)
	before := s.Signed()
	e.presign(changed)
	if s.Signed() != before+1 {
		t.Fatalf("the compile signed %d sets, want the secondary's 1", s.Signed()-before)
	}
	m := askDO(t, e, "fo.example.org.", dns.TypeA, do)
	if v := testkit.Values(m); len(v) != 2 || v[0] != "198.51.100.3" || s.Signed() != before+1 {
		t.Errorf("after the failover: %v, %d sets signed on the query path; want 198.51.100.3 and none", v, s.Signed()-before-1)
	}
	verify(t, "failover", m.Answer, keys, time.Now())
	// www answers every address of its collection (method all): a whole
	// set, which a compile signs ahead.
	if _, ok := wholeSet(e.snap.Load().instance("www.example.org.").def.active); !ok {
		t.Error("method all, every address: not a whole set")
	}
}

// A dual-stack instance's failover signs both families' new sets on the
// compile: the first A and AAAA queries after it sign nothing.
func TestDNSSECPresignDualStack(t *testing.T) {
	e, keys := signedEngine(t, `
pool v4a {
	address 198.51.100.11
}
pool v6a {
	address 2001:db8::11
}
pool v4b {
	address 198.51.100.12 198.51.100.13
}
pool v6b {
	address 2001:db8::12
}
instance dsf {
	primary v4a v6a
	secondary v4b v6b
}
`)
	s := e.Signer()
	askDO(t, e, "dsf.example.org.", dns.TypeA, do)
	view := health.Static{
		{Pool: "v4a", Address: "198.51.100.11"}: health.Unhealthy,
		{Pool: "v6a", Address: "2001:db8::11"}:  health.Unhealthy,
	}
	next, changed := e.snap.Load().update(view, map[string]bool{"v4a": true, "v6a": true}, false)
	e.snap.Store(next)
	before := s.Signed()
	e.presign(changed)
	if s.Signed() != before+2 {
		t.Fatalf("the compile signed %d sets, want the secondary's A and AAAA sets", s.Signed()-before)
	}
	for _, q := range []struct {
		qtype uint16
		want  []string
	}{{dns.TypeA, []string{"198.51.100.12", "198.51.100.13"}}, {dns.TypeAAAA, []string{"2001:db8::12"}}} {
		m := askDO(t, e, "dsf.example.org.", q.qtype, do)
		if v, _ := values(m); !slices.Equal(v, q.want) {
			t.Errorf("%s after the failover: %v, want %v", dns.TypeToString[q.qtype], m.Answer, q.want)
		}
		verify(t, "dsf "+dns.TypeToString[q.qtype], m.Answer, keys, time.Now())
	}
	if s.Signed() != before+2 {
		t.Errorf("%d sets signed on the query path after the failover, want none", s.Signed()-before-2)
	}
}

// The key records take the NS set's TTL, an NSEC the zone's negative TTL,
// and every set still verifies.
func TestDNSSECConfiguredTTLs(t *testing.T) {
	e, keys := signedEngine(t, "ns-ttl 300\nsoa {\n\tminimum 120\n}\n")
	m := askDO(t, e, "example.org.", dns.TypeDNSKEY, do)
	if ttl := m.Answer[0].Header().Ttl; ttl != 300 {
		t.Errorf("DNSKEY TTL %d, want the NS set's 300", ttl)
	}
	verify(t, "DNSKEY", m.Answer, keys, time.Now())
	m = askDO(t, e, "nope.example.org.", dns.TypeA, do)
	if n := nsecOf(m); n == nil || n.Hdr.Ttl != 120 {
		t.Errorf("NSEC %v, want TTL 120", n)
	}
	verify(t, "denial", m.Ns, keys, time.Now())
}

// A dual-stack instance with an HTTPS record: each family's set and the
// HTTPS set are signed, and a NODATA there lists all three.
func TestDNSSECDualStackHTTPS(t *testing.T) {
	e, keys := signedEngine(t, `
pool v4 {
	address 198.51.100.7
}
pool v6b {
	address 2001:db8::7
}
instance ds {
	https
	primary v4 v6b
}
`)
	now := time.Now()
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS} {
		m := askDO(t, e, "ds.example.org.", qtype, do)
		if len(m.Answer) < 2 {
			t.Fatalf("%s: %v", dns.TypeToString[qtype], m)
		}
		verify(t, "ds "+dns.TypeToString[qtype], m.Answer, keys, now)
	}
	m := askDO(t, e, "ds.example.org.", dns.TypeTXT, do)
	want := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeHTTPS}
	if n := nsecOf(m); n == nil || !slices.Equal(n.TypeBitMap, want) {
		t.Errorf("NODATA at a dual-stack instance with HTTPS: NSEC %v, want bitmap %v", n, want)
	}
	verify(t, "ds NODATA", m.Ns, keys, now)
}

// In a zone shared with the next plugin (fallthrough), gtm's own NODATA
// (an instance with nothing to answer) lists the types the next plugin may
// hold at the name besides gtm's: a bitmap of gtm's alone would deny them.
// Alone in its zone, gtm lists what it has.
func TestDNSSECSharedZoneBitmap(t *testing.T) {
	e, keys := signedEngine(t, "pool dead {\n\taddress 192.0.2.99 mode down\n}\ninstance gone {\n\tprimary dead\n}\n")
	for _, through := range []bool{false, true} {
		r := new(dns.Msg)
		r.SetQuestion("gone.example.org.", dns.TypeA)
		do(r)
		m, out := e.Answer(Query{Req: r, Name: "gone.example.org.", Type: dns.TypeA, Zone: "example.org.", Through: through,
			Remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}})
		if out != Reply || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 {
			t.Fatalf("through %v: %v %v; want gtm's NODATA", through, out, m)
		}
		n := nsecOf(m)
		if n == nil {
			t.Fatalf("through %v: no NSEC: %v", through, m)
		}
		verify(t, "gone A", m.Ns, keys, time.Now())
		has := func(t uint16) bool { return slices.Contains(n.TypeBitMap, t) }
		if has(dns.TypeA) || has(dns.TypeCNAME) || has(dns.TypeNS) {
			t.Errorf("through %v: bitmap %v lists A, CNAME or NS", through, n.TypeBitMap)
		}
		if has(dns.TypeTXT) != through || has(dns.TypeMX) != through || has(dns.TypeAAAA) != through {
			t.Errorf("through %v: bitmap %v; want TXT, MX and AAAA listed exactly when the zone is shared", through, n.TypeBitMap)
		}
		if !slices.IsSorted(n.TypeBitMap) || len(slices.Compact(slices.Clone(n.TypeBitMap))) != len(n.TypeBitMap) {
			t.Errorf("through %v: bitmap %v not sorted or not unique", through, n.TypeBitMap)
		}
	}
}
