package corefile

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/gtm-project/gtm/config"
)

func etcdBlock(api string) string {
	return "gtm example.org {\npool a {\n address 192.0.2.1\n}\nns ns1.example.org 192.0.2.53\n" + api + "\n}"
}

// TestParseStoreEtcd checks 'store etcd' in the api block: what it holds,
// and the errors, each naming its line.
func TestParseStoreEtcd(t *testing.T) {
	cfg, _, err := Parse(caddy.NewTestController("dns", etcdBlock(`api 127.0.0.1:9053 {
	store etcd http://127.0.0.1:2379 https://10.0.0.2:2379 {
		prefix /gtm/eu
		tls c.pem k.pem ca.pem
		dial-timeout 2s
	}
}`)))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.API.Etcd
	if e == nil {
		t.Fatal("no etcd store")
	}
	if !slices.Equal(e.Endpoints, []string{"http://127.0.0.1:2379", "https://10.0.0.2:2379"}) || e.Prefix != "/gtm/eu/" ||
		e.TLSCert != "c.pem" || e.TLSKey != "k.pem" || e.TLSCA != "ca.pem" || e.DialTimeout != 2*time.Second || e.Line != 7 {
		t.Errorf("parsed wrong: %+v", *e)
	}

	cfg, _, err = Parse(caddy.NewTestController("dns", etcdBlock("api {\n store etcd http://127.0.0.1:2379\n node eu-1.example\n}")))
	if err != nil || cfg.API.Node != "eu-1.example" {
		t.Fatalf("node: %v %+v", err, cfg.API)
	}
	cfg, _, err = Parse(caddy.NewTestController("dns", etcdBlock("api {\n store etcd http://127.0.0.1:2379\n}")))
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.API.Etcd; e == nil || e.Prefix != config.DefaultEtcdPrefix || e.DialTimeout != config.DefaultEtcdDialTimeout || e.TLSCert != "" {
		t.Errorf("defaults wrong: %+v", e)
	}
	// The file store stays as it was.
	cfg, _, err = Parse(caddy.NewTestController("dns", etcdBlock("api {\n store my.db\n}")))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Etcd != nil || cfg.API.Store != "my.db" {
		t.Errorf("file store parsed wrong: %+v", cfg.API)
	}

	for _, tc := range []struct {
		api, err string
		line     int
	}{
		{"api {\n store etcd\n}", "needs at least one endpoint", 7},
		{"api {\n store etcd 127.0.0.1:2379\n}", "'127.0.0.1:2379' is not an etcd client URL", 7},
		{"api {\n store etcd http://127.0.0.1\n}", "'http://127.0.0.1' is not an etcd client URL", 7},
		{"api {\n store etcd ftp://127.0.0.1:2379\n}", "is not an etcd client URL", 7},
		{"api {\n store etcd http://a:1 http://a:1\n}", "'http://a:1' is given twice", 7},
		{"api {\n store etcd http://a:1 {\n  prefix gtm\n }\n}", "prefix: 'gtm' does not start with '/'", 8},
		{"api {\n store etcd http://a:1 {\n  tls c k\n }\n}", "'tls' is missing a value", 8},
		{"api {\n store etcd http://a:1 {\n  dial-timeout soon\n }\n}", "dial-timeout: 'soon' is not a duration", 8},
		{"api {\n store etcd http://a:1 {\n  lease 5s\n }\n}", "unknown property 'lease' in store etcd", 8},
		{"api {\n store etcd http://a:1\n store x.db\n}", "'store' is given twice", 8},
		{"api {\n node a/b\n}", "node: 'a/b' is not a node name", 7},
		{"api {\n node\n}", "'node' is missing a value", 7},
	} {
		_, _, err := Parse(caddy.NewTestController("dns", etcdBlock(tc.api)))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: error %v, want %q", tc.api, err, tc.err)
			continue
		}
		if where := fmt.Sprintf("Testfile:%d - ", tc.line); !strings.Contains(err.Error(), where) {
			t.Errorf("%q: error %q does not name %q", tc.api, err, where)
		}
	}
}

// TestParseClusterSettings checks vantage, probe, quorum and grace: their
// values, their defaults, and the errors, each naming its line.
func TestParseClusterSettings(t *testing.T) {
	cfg, _, err := Parse(caddy.NewTestController("dns", etcdBlock(`api {
	store etcd http://127.0.0.1:2379
	node fra-1
	vantage eu-central eu de
	probe off
	quorum 67%
	grace 45s
}`)))
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.API
	if a.Vantage != (config.Vantage{Region: "eu-central", Continent: "EU", Country: "DE"}) || !a.NoProbe || a.Quorum != 67 || a.Grace != 45*time.Second {
		t.Errorf("parsed wrong: %+v", *a)
	}
	cfg, _, err = Parse(caddy.NewTestController("dns", etcdBlock("api {\n store etcd http://127.0.0.1:2379\n}")))
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.API; a.NoProbe || a.Quorum != config.DefaultQuorum || a.Grace != config.DefaultGrace || a.Vantage != (config.Vantage{}) {
		t.Errorf("defaults wrong: %+v", *a)
	}
	for _, tc := range []struct{ in, want string }{
		{"quorum 0%", "Testfile:8 - Error during parsing: quorum: '0%' is not a share from 1% to 100% like 50%"},
		{"quorum 101%", "'101%' is not a share from 1% to 100%"},
		{"quorum 50", "'50' is not a share from 1% to 100%"},
		{"grace -1s", "grace: '-1s' is not a duration from 0s to 1h"},
		{"grace 2h", "grace: '2h' is not a duration from 0s to 1h"},
		{"probe maybe", "probe: 'maybe' is neither on nor off"},
		{"vantage eu XX", "vantage: unknown continent code 'XX'"},
		{"vantage eu EU ZZ", "vantage: unknown country code 'ZZ'"},
		{"vantage a/b", "vantage: 'a/b' is not a region name"},
		{"vantage", "REGION [CONTINENT [COUNTRY]]"},
	} {
		_, _, err := Parse(caddy.NewTestController("dns", etcdBlock("api {\n store etcd http://127.0.0.1:2379\n "+tc.in+"\n}")))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	// Without a cluster's store they mean nothing: an error naming them.
	_, _, err = Parse(caddy.NewTestController("dns", etcdBlock("api {\n store my.db\n probe off\n quorum 60%\n}")))
	if err == nil || !strings.Contains(err.Error(), "probe off (line 8), quorum (line 9) concern a cluster of nodes and need 'store etcd ENDPOINT...'") {
		t.Errorf("cluster settings without etcd: %v", err)
	}
}
