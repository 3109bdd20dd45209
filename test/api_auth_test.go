package test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts it.
func selfSigned(t *testing.T) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gtm test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

const (
	viewerSecret   = "view-secret-0123456789"
	operatorSecret = "oper-secret-0123456789"
	adminSecret    = "admin-secret-0123456789"
)

// TestAPITokensAndTLS checks the roles over TLS: no token or a wrong one
// is 401, a role too low is 403, and no answer repeats a secret.
func TestAPITokensAndTLS(t *testing.T) {
	cert, key, pool := selfSigned(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(tokens, []byte(fmt.Sprintf("# name role secret\nviewer viewer %s\nops operator %s\nroot admin %s\n", viewerSecret, operatorSecret, adminSecret)), 0o600)
	apiPort := freePort(t)
	start(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 127.0.0.53
		api 127.0.0.1:%d {
			store %s
			token %s
			tls %s %s
		}
		pool main {
			address 127.0.0.1
		}
		instance www.example.org {
			primary main
		}
	}
}
`, apiPort, filepath.Join(t.TempDir(), "gtm.db"), tokens, cert, key))
	old := http.DefaultClient.Transport
	http.DefaultClient.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(func() { http.DefaultClient.Transport = old })
	base := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	as := func(secret string) *client { return &client{t: t, base: base, token: secret} }

	for _, tc := range []struct {
		secret, method, path string
		body                 any
		code                 int
	}{
		{"", "GET", "/api/v1/pools", nil, 401},
		{"wrong-secret-0123456789", "GET", "/api/v1/pools", nil, 401},
		{viewerSecret, "GET", "/api/v1/pools", nil, 200},
		{viewerSecret, "PUT", "/api/v1/overrides/addresses/main/127.0.0.1", map[string]any{"mode": "drain"}, 403},
		{operatorSecret, "POST", "/api/v1/pools", map[string]any{"name": "x", "addresses": []map[string]any{{"address": "127.0.0.2"}}}, 403},
		{operatorSecret, "PUT", "/api/v1/overrides/addresses/main/127.0.0.1", map[string]any{"mode": "drain"}, 200},
		{operatorSecret, "POST", "/api/v1/rollback", map[string]any{"revision": 1}, 403},
		{adminSecret, "POST", "/api/v1/pools", map[string]any{"name": "x", "addresses": []map[string]any{{"address": "127.0.0.2"}}}, 201},
		{adminSecret, "DELETE", "/api/v1/overrides/addresses/main/127.0.0.1", nil, 200},
	} {
		code, body, _ := as(tc.secret).call(tc.method, tc.path, tc.body)
		if code != tc.code {
			t.Errorf("%s %s with %q: %d, want %d: %s", tc.method, tc.path, tc.secret, code, tc.code, body)
		}
		for _, s := range []string{viewerSecret, operatorSecret, adminSecret} {
			if strings.Contains(string(body), s) {
				t.Errorf("%s %s: the answer repeats a secret: %s", tc.method, tc.path, body)
			}
		}
	}
	// History names the token that made each change.
	var hist []struct{ Who, Change string }
	code, body, _ := as(viewerSecret).call("GET", "/api/v1/history", nil)
	if code != 200 {
		t.Fatal(code)
	}
	if err := jsonUnmarshal(body, &hist); err != nil || len(hist) != 3 || hist[0].Who != "root" || hist[2].Who != "ops" {
		t.Errorf("history: %+v (%v)", hist, err)
	}
	// Plain HTTP on the TLS port gets no API.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/pools", apiPort))
	if err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served")
		}
		resp.Body.Close()
	}
}

// TestAPIRefusesUnsafeSettings checks the load errors of the api block.
func TestAPIRefusesUnsafeSettings(t *testing.T) {
	dir := t.TempDir()
	badTokens := filepath.Join(dir, "tokens")
	os.WriteFile(badTokens, []byte("ops superuser secret-0123456789abc\n"), 0o600)
	for _, tc := range []struct{ api, says string }{
		{"api 0.0.0.0:8053", "not a loopback address, so the API needs tokens"},
		{"api 127.0.0.1:8053 {\n\t\t\ttoken " + badTokens + "\n\t\t}", badTokens + ":1: role 'superuser'"},
		{"api 127.0.0.1:8053 {\n\t\t\ttoken " + filepath.Join(dir, "missing") + "\n\t\t}", "no such file"},
		{"api 127.0.0.1:8053 {\n\t\t\ttls " + filepath.Join(dir, "c.pem") + " " + filepath.Join(dir, "k.pem") + "\n\t\t}", "tls"},
		{"api 127.0.0.1:99999", "is not an address"},
		{"api 127.0.0.1:8053 {\n\t\t\tstore " + badTokens + "\n\t\t}", "store"},
		{"api 127.0.0.1:8053 {\n\t\t\tcolour red\n\t\t}", "unknown property 'colour' in api block"},
	} {
		corefile := fmt.Sprintf("example.org:0 {\n\tbind 127.0.0.1\n\tgtm {\n\t\tns ns1.example.org 127.0.0.53\n\t\t%s\n\t}\n}\n", tc.api)
		mu.Lock()
		caddy.Quiet, dnsserver.Quiet = true, true
		inst, err := caddy.Start(input(corefile))
		mu.Unlock()
		if err == nil {
			inst.Stop()
			inst.ShutdownCallbacks()
			t.Errorf("%q started", tc.api)
			continue
		}
		if !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want it to say %q", tc.api, err, tc.says)
		}
	}
}
