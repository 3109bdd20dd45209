package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/etcdtest"
	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/miekg/dns"
)

// latencyCorefile is a node with a vantage point answering a latency
// instance over two pools, each probed over HTTP with the node's path.
func latencyCorefile(p *killProc, node, vantage, geo string, backendPort int, endpoint string) string {
	host, port, _ := strings.Cut(p.dnsAddr, ":")
	return fmt.Sprintf(`example.org:%s {
	bind %s
	ready %s
	gtm {
		ns ns1.example.org 127.0.0.53
		geoip %s
		monitor rtt {
			protocol http
			port %d
			path /%s
			interval 200ms
			timeout 150ms
		}
		pool eu {
			monitor rtt
			address 127.0.0.51
		}
		pool us {
			monitor rtt
			address 127.0.0.52
		}
		instance app {
			ttl 5
			policy latency
			tie 10%% 5ms
			primary eu us
		}
		api %s {
			node %s
			vantage %s
			store etcd %s {
				prefix /gtm-latency/
				dial-timeout 3s
			}
		}
	}
}
`, port, host, strings.TrimSuffix(strings.TrimPrefix(p.readyURL, "http://"), "/ready"), geo, backendPort, node,
		strings.TrimPrefix(p.apiBase, "http://"), node, vantage, endpoint)
}

// ecsA asks addr for name's A records on behalf of client (ECS /24), and
// returns the first address and the scope.
func ecsA(addr, name, client string) (string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP(client).To4()})
	m.Extra = append(m.Extra, o)
	r, _, err := (&dns.Client{Timeout: 500 * time.Millisecond}).Exchange(m, addr)
	if err != nil {
		return "", 0, err
	}
	scope := -1
	if opt := r.IsEdns0(); opt != nil {
		for _, op := range opt.Option {
			if s, ok := op.(*dns.EDNS0_SUBNET); ok {
				scope = int(s.SourceScope)
			}
		}
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			return a.A.String(), scope, nil
		}
	}
	return "", scope, fmt.Errorf("no A in %v", r)
}

// TestClusterLatencyByVantage: two nodes, one probing from Germany and one
// from the United States, each sees its own continent's pool as the fast
// one. Either node answers a client in Germany with the pool fastest from
// the German vantage and a client in the US with the pool fastest from the
// American one; a client the GeoIP database does not place gets the
// answering node's own measurements.
func TestClusterLatencyByVantage(t *testing.T) {
	dir := t.TempDir()
	bin := buildCoreDNS(t, dir)
	etcd := etcdtest.Start(t)
	geo := filepath.Join(dir, "geo.mmdb")
	geotest.Write(t, geo, "GeoIP2-Country", []geotest.Place{
		{Network: "10.1.0.0/16", Continent: "EU", Country: "DE"},
		{Network: "10.2.0.0/16", Continent: "NA", Country: "US"},
	})
	backend := startHealthBackend(t, "127.0.0.51", "127.0.0.52")
	// From n1 (Germany) the US pool is 80 ms away; from n2 the EU pool is.
	backend.delay.Store("127.0.0.52 /n1", 80*time.Millisecond)
	backend.delay.Store("127.0.0.51 /n2", 80*time.Millisecond)
	var nodes []*killProc
	for i, vantage := range []string{"fra EU DE", "iad NA US"} {
		name := fmt.Sprintf("n%d", i+1)
		p := &killProc{
			t: t, bin: bin,
			dnsAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			apiBase:  fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
			readyURL: fmt.Sprintf("http://127.0.0.1:%d/ready", freePort(t)),
			conf:     filepath.Join(dir, "Corefile."+name),
			logPath:  filepath.Join(dir, "coredns."+name+".log"),
		}
		if err := os.WriteFile(p.conf, []byte(latencyCorefile(p, name, vantage, geo, backend.port, etcd.Endpoint)), 0o644); err != nil {
			t.Fatal(err)
		}
		p.start()
		t.Cleanup(p.kill)
		nodes = append(nodes, p)
	}
	cases := []struct {
		node         int
		client, want string
		wantScope    int
		what         string
	}{
		{0, "10.1.0.1", "127.0.0.51", 16, "n1, a client in Germany: n1's own vantage"},
		{0, "10.2.0.1", "127.0.0.52", 16, "n1, a client in the US: n2's vantage"},
		{0, "10.3.0.1", "127.0.0.51", 0, "n1, a client nowhere: n1's own"},
		{1, "10.1.0.1", "127.0.0.51", 16, "n2, a client in Germany: n1's vantage"},
		{1, "10.2.0.1", "127.0.0.52", 16, "n2, a client in the US: n2's own vantage"},
		{1, "10.3.0.1", "127.0.0.52", 0, "n2, a client nowhere: n2's own"},
	}
	// Latencies are published every 5 s once measured.
	deadline := time.Now().Add(20 * time.Second)
	for _, tc := range cases {
		for {
			got, scope, err := ecsA(nodes[tc.node].dnsAddr, "app.example.org", tc.client)
			if err == nil && got == tc.want && (tc.wantScope == 0 || scope == tc.wantScope) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s scope %d (%v), want %s scope %d\nserver log: %s", tc.what, got, scope, err, tc.want, tc.wantScope, nodes[tc.node].logTail())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// And it stays so.
	for range 20 {
		for _, tc := range cases {
			if got, _, err := ecsA(nodes[tc.node].dnsAddr, "app.example.org", tc.client); err != nil || got != tc.want {
				t.Fatalf("%s, later: %s (%v), want %s", tc.what, got, err, tc.want)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	// n1's status shows what the other vantage measured, per pool and per
	// address: from iad the US pool is near and the EU pool 80 ms away.
	type vl struct {
		Region  string `json:"region"`
		Country string `json:"country"`
		Average string `json:"average"`
	}
	type poolStatus struct {
		LatencyFrom []vl `json:"latency-from"`
		Addresses   []struct {
			LatencyFrom []vl `json:"latency-from"`
		} `json:"addresses"`
	}
	from := func(l []vl) time.Duration {
		if len(l) != 1 || l[0].Region != "iad" || l[0].Country != "US" {
			return -1
		}
		d, err := time.ParseDuration(l[0].Average)
		if err != nil {
			return -1
		}
		return d
	}
	for _, pc := range []struct {
		pool     string
		min, max time.Duration
	}{{"us", 0, 40 * time.Millisecond}, {"eu", 60 * time.Millisecond, time.Second}} {
		var st poolStatus
		if err := getJSON(nodes[0].apiBase+"/api/v1/status/pools/"+pc.pool, &st); err != nil {
			t.Fatalf("n1's status of pool %s: %v", pc.pool, err)
		}
		if d := from(st.LatencyFrom); d < pc.min || d > pc.max || len(st.Addresses) != 1 {
			t.Errorf("n1's status of pool %s: latency-from %+v; want iad (US) within %v-%v", pc.pool, st.LatencyFrom, pc.min, pc.max)
		} else if a := from(st.Addresses[0].LatencyFrom); a < pc.min || a > pc.max {
			t.Errorf("n1's status of pool %s's address: latency-from %+v; want iad (US) within %v-%v", pc.pool, st.Addresses[0].LatencyFrom, pc.min, pc.max)
		}
	}
}

// getJSON decodes the JSON that a GET of url answers with 200.
func getJSON(url string, v any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
