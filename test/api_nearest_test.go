package test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/geotest"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// The nearest policy through the control API: pools with locations and a
// nearest instance created over HTTP answer each city from its nearest
// site; a bias put on a pool moves the border at once; bad coordinates,
// a bad bias and a nearest pool without a location are refused with the
// validator's message, and nothing changes; the API's explain has the
// distances.
func TestAPINearest(t *testing.T) {
	db := filepath.Join(t.TempDir(), "cities.mmdb")
	geotest.Write(t, db, "GeoIP2-City", geotest.Cities)
	apiPort := freePort(t)
	s := start(t, fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 127.0.0.53
		geoip %s
		api 127.0.0.1:%d {
			store %s
		}
	}
}
`, db, apiPort, filepath.Join(t.TempDir(), "gtm.db")))
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	site := func(name, addr string, lat, lon float64) map[string]any {
		return map[string]any{"name": name, "addresses": []map[string]any{{"address": addr}}, "location": map[string]any{"lat": lat, "lon": lon}}
	}
	c.must(201, "POST", "/api/v1/pools", site("fra", "127.0.0.11", 50.1109, 8.6821))
	c.must(201, "POST", "/api/v1/pools", site("sin", "127.0.0.13", 1.3521, 103.8198))
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "nowhere", "addresses": []map[string]any{{"address": "127.0.0.19"}}})
	c.must(201, "POST", "/api/v1/instances", map[string]any{"name": "www.example.org", "policy": "nearest",
		"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "fra"}, {"pool": "sin"}}}}}})
	answer := func(subnet string) []string {
		return testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(subnet)))
	}
	testkit.Eventually(t, "the instance to answer", 2*time.Second, func() bool { return len(answer("5.1.0.0/24")) > 0 })
	if got := answer("5.1.0.0/24"); !slices.Equal(got, []string{"127.0.0.11"}) {
		t.Errorf("Frankfurt: %v", got)
	}
	if got := answer("5.2.0.0/24"); !slices.Equal(got, []string{"127.0.0.13"}) {
		t.Errorf("Tokyo: %v", got)
	}
	// Frankfurt at bias 50: Tokyo's 9,330 km count 4,665, nearer than
	// Singapore's 5,300.
	fra := site("fra", "127.0.0.11", 50.1109, 8.6821)
	fra["bias"] = 50
	c.must(200, "PUT", "/api/v1/pools/fra", fra)
	if got := answer("5.2.1.0/24"); !slices.Equal(got, []string{"127.0.0.11"}) {
		t.Errorf("Tokyo with Frankfurt at bias 50: %v", got)
	}
	var got map[string]any
	json.Unmarshal(c.must(200, "GET", "/api/v1/pools/fra", nil), &got)
	if loc, _ := got["location"].(map[string]any); got["bias"] != 50.0 || loc["lat"] != 50.1109 || loc["lon"] != 8.6821 {
		t.Errorf("the pool as stored: %v", got)
	}
	var ps struct {
		Location struct{ Lat, Lon float64 }
		Bias     int
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/status/pools/fra", nil), &ps)
	if ps.Location.Lat != 50.1109 || ps.Location.Lon != 8.6821 || ps.Bias != 50 {
		t.Errorf("the pool's status: %+v", ps)
	}
	var x struct {
		Nearest struct {
			Used  bool
			Pools []struct {
				Pool     string
				Km       float64
				Bias     int
				BiasedKm float64 `json:"biased-km"`
			}
			Answering []string
		}
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/explain?name=www.example.org&client=5.2.0.0/24", nil), &x)
	if n := x.Nearest; !n.Used || len(n.Pools) != 2 || n.Pools[0].Pool != "fra" || n.Pools[0].Bias != 50 ||
		n.Pools[0].BiasedKm > n.Pools[0].Km*0.51 || !slices.Equal(n.Answering, []string{"fra"}) {
		t.Errorf("explain: %+v", n)
	}

	// negative
	for _, tc := range []struct {
		method, path string
		body         map[string]any
		says         string
	}{
		{"PUT", "/api/v1/pools/sin", site("sin", "127.0.0.13", 95, 103.8198), "lat"},
		{"PUT", "/api/v1/pools/sin", map[string]any{"name": "sin", "addresses": []map[string]any{{"address": "127.0.0.13"}},
			"location": map[string]any{"lat": 1.35, "lon": 103.82}, "bias": -150}, "bias"},
		{"PUT", "/api/v1/pools/sin", map[string]any{"name": "sin", "addresses": []map[string]any{{"address": "127.0.0.13"}}},
			"pool 'sin' has no location, but instance 'www.example.org.' uses the nearest policy"},
		{"PUT", "/api/v1/instances/www.example.org", map[string]any{"policy": "nearest",
			"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "fra"}, {"pool": "nowhere"}}}}}},
			"pool 'nowhere' has no location"},
	} {
		code, body, _ := c.call(tc.method, tc.path, tc.body)
		if code != 422 || !strings.Contains(string(body), tc.says) {
			t.Errorf("%s %s %v: %d %s, want 422 with %q", tc.method, tc.path, tc.body, code, body, tc.says)
		}
	}
	if got := answer("5.2.2.0/24"); !slices.Equal(got, []string{"127.0.0.11"}) {
		t.Errorf("after refused changes Tokyo gets %v", got)
	}
}
