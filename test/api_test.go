package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gtm-project/gtm/alert"
	"github.com/gtm-project/gtm/health"
	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/gtm-project/gtm/store"
	"github.com/miekg/dns"
)

// client talks to a running control API.
type client struct {
	t     *testing.T
	base  string
	token string
}

// call sends a request with a JSON body (nil for none) and returns the
// status, the body and the ETag.
func (c *client) call(method, path string, body any, header ...string) (int, []byte, string) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header.Get("ETag")
}

// must sends a request that must answer want.
func (c *client) must(want int, method, path string, body any, header ...string) []byte {
	c.t.Helper()
	code, out, _ := c.call(method, path, body, header...)
	if code != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, out)
	}
	return out
}

func apiCorefile(apiPort int, storeFile string, live int) string {
	return fmt.Sprintf(`example.org:0 {
	bind 127.0.0.1
	gtm {
		ns ns1.example.org 127.0.0.53
		api 127.0.0.1:%d {
			store %s
		}
		monitor tcp-live {
			protocol tcp
			port %d
			interval 100ms
			timeout 80ms
			rise 1
			fall 1
		}
	}
}
`, apiPort, storeFile, live)
}

// TestAPIThroughCoreDNS drives a real CoreDNS through its control API: a
// monitor, pools and an instance created over HTTP answer over DNS; a
// drained address leaves the answer; a pin moves the instance to its
// secondary; a rollback restores an earlier revision; and everything is
// still there after the server restarts on the same store.
func TestAPIThroughCoreDNS(t *testing.T) {
	// Both addresses of pool main answer the monitor's probes.
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	testkit.ListenTCP(t, fmt.Sprintf("127.0.0.2:%d", port))
	testkit.ListenTCP(t, fmt.Sprintf("127.0.0.9:%d", port))
	apiPort := freePort(t)
	storeFile := filepath.Join(t.TempDir(), "gtm.db")
	corefile := apiCorefile(apiPort, storeFile, port)
	s := start(t, corefile)
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}

	// The Corefile's monitor is listed, owned by the Corefile.
	var mons []map[string]any
	json.Unmarshal(c.must(200, "GET", "/api/v1/monitors", nil), &mons)
	if len(mons) != 1 || mons[0]["name"] != "tcp-live" || mons[0]["owner"].(map[string]any)["layer"] != "corefile" {
		t.Fatalf("monitors: %v", mons)
	}
	// It cannot be changed through the API.
	code, body, _ := c.call("DELETE", "/api/v1/monitors/tcp-live", nil)
	if code != 409 || !strings.Contains(string(body), "Corefile, line 8") {
		t.Fatalf("deleting a Corefile monitor: %d %s", code, body)
	}

	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "main", "monitor": "tcp-live",
		"addresses": []map[string]any{{"address": "127.0.0.1"}, {"address": "127.0.0.2"}}})
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "spare", "monitor": "tcp-live",
		"addresses": []map[string]any{{"address": "127.0.0.9"}}})
	c.must(201, "PUT", "/api/v1/instances/www.example.org", map[string]any{"ttl": 5,
		"rules": []map[string]any{{"match": "default", "primary": map[string]any{"pools": []map[string]any{{"pool": "main"}}},
			"secondary": map[string]any{"pools": []map[string]any{{"pool": "spare"}}}}}})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1", "127.0.0.2"}, 5*time.Second)

	// A dry run says what a drain would do, and does nothing.
	out := c.must(200, "PUT", "/api/v1/overrides/addresses/main/127.0.0.2?dry-run=true", map[string]any{"mode": "drain"})
	var dry struct {
		DryRun  bool `json:"dry-run"`
		Answers []struct{ Instance, Rule, Before, After string }
	}
	json.Unmarshal(out, &dry)
	if !dry.DryRun || len(dry.Answers) != 1 || dry.Answers[0].Before != "primary: 127.0.0.1 127.0.0.2" || dry.Answers[0].After != "primary: 127.0.0.1" {
		t.Fatalf("dry run: %s", out)
	}
	// So does a dry run of a new pool's deletion: it is refused as it would be.
	if code, body, _ := c.call("DELETE", "/api/v1/pools/spare?dry-run=true", nil); code != 409 {
		t.Fatalf("dry run of a refused delete: %d %s", code, body)
	}
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1", "127.0.0.2"}, time.Second)

	// Drain one address: it leaves the answer.
	out = c.must(200, "PUT", "/api/v1/overrides/addresses/main/127.0.0.2", map[string]any{"mode": "drain", "reason": "maintenance"})
	var res struct{ Revision uint64 }
	json.Unmarshal(out, &res)
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 2*time.Second)
	drained := res.Revision

	// Status shows the drain with its reason; explain says the same as DNS.
	var ps struct {
		Available bool
		Addresses []struct {
			Value, Override, Health string
			EffectiveMode           string `json:"effective-mode"`
		}
	}
	testkit.Eventually(t, "127.0.0.1 probed healthy", 2*time.Second, func() bool {
		json.Unmarshal(c.must(200, "GET", "/api/v1/status/pools/main", nil), &ps)
		return len(ps.Addresses) == 2 && ps.Addresses[0].Health == "healthy"
	})
	if !ps.Available || len(ps.Addresses) != 2 || ps.Addresses[1].Override == "" || ps.Addresses[1].EffectiveMode != "down" || ps.Addresses[0].Health != "healthy" {
		t.Errorf("pool status after the drain: %+v", ps)
	}
	var st struct {
		Revision  uint64
		Overrides struct{ Addresses []struct{ Reason string } }
		Instances []struct {
			Name  string
			Rules []struct {
				State  string
				Active string `json:"active-collection"`
			}
		}
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/status", nil), &st)
	if st.Revision != drained || len(st.Overrides.Addresses) != 1 || st.Overrides.Addresses[0].Reason != "maintenance" ||
		len(st.Instances) != 1 || st.Instances[0].Rules[0].Active != "primary" {
		t.Errorf("status after the drain: %+v", st)
	}
	var x struct {
		Instance string
		Answer   []string
		Lines    []string
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/explain?name=www.example.org&client=198.51.100.7", nil), &x)
	if x.Instance != "www.example.org." || len(x.Lines) == 0 {
		t.Errorf("explain: %+v", x)
	}
	c.must(404, "GET", "/api/v1/explain?name=nope.example.org&client=198.51.100.7", nil)
	var minutes []map[string]any
	json.Unmarshal(c.must(200, "GET", "/api/v1/traffic/instances/www.example.org", nil), &minutes)
	c.must(200, "GET", "/api/v1/traffic/pools/main", nil)
	c.must(404, "GET", "/api/v1/traffic/pools/ghost", nil)
	c.must(422, "GET", "/api/v1/explain?name=www.example.org&client=not-an-ip", nil)

	// Pin to the secondary.
	c.must(200, "PUT", "/api/v1/overrides/pins/www.example.org", map[string]any{"switch": "secondary"})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.9"}, 2*time.Second)

	// A stale If-Match is refused, and changes nothing.
	code, body, _ = c.call("DELETE", "/api/v1/overrides/pins/www.example.org", nil, "If-Match", fmt.Sprintf(`"%d"`, drained))
	if code != 412 {
		t.Fatalf("stale If-Match: %d %s", code, body)
	}
	s.waitFor(t, "www.example.org.", []string{"127.0.0.9"}, time.Second)

	// A revision says what it changed, and what a rollback to it would.
	var rv struct {
		Changes []struct {
			Kind, Name    string
			Before, After json.RawMessage
		}
	}
	json.Unmarshal(c.must(200, "GET", fmt.Sprintf("/api/v1/history/%d", drained), nil), &rv)
	if len(rv.Changes) != 1 || rv.Changes[0].Kind != "override" || rv.Changes[0].Name != "main/127.0.0.2" || rv.Changes[0].Before != nil {
		t.Errorf("what revision %d changed: %+v", drained, rv)
	}
	rv.Changes = nil
	json.Unmarshal(c.must(200, "GET", fmt.Sprintf("/api/v1/history/%d?against=current", drained), nil), &rv)
	if len(rv.Changes) != 1 || rv.Changes[0].Kind != "pin" || rv.Changes[0].After != nil || !strings.Contains(string(rv.Changes[0].Before), "secondary") {
		t.Errorf("what a rollback to revision %d would change: %+v", drained, rv)
	}

	// Roll back to the revision with only the drain.
	c.must(200, "POST", "/api/v1/rollback", map[string]any{"revision": drained})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 2*time.Second)

	// History lists every change, newest first.
	var hist []struct {
		Revision uint64
		Change   string
		Who      string
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/history", nil), &hist)
	if len(hist) != 6 || !strings.HasPrefix(hist[0].Change, fmt.Sprintf("rollback to revision %d", drained)) || hist[0].Who != "local" {
		t.Fatalf("history: %+v", hist)
	}

	// A restart on the same store answers the same.
	s.inst.Stop()
	s.inst.ShutdownCallbacks()
	s2 := start(t, corefile)
	s2.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 5*time.Second)
	var ovr struct {
		Addresses []struct{ Pool, Address, Mode, Who, Reason string }
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/overrides", nil), &ovr)
	if len(ovr.Addresses) != 1 || ovr.Addresses[0].Reason != "maintenance" || ovr.Addresses[0].Mode != "drain" {
		t.Fatalf("overrides after restart: %+v", ovr)
	}
	// The event log outlives the restart.
	var evs []store.Event
	json.Unmarshal(c.must(200, "GET", "/api/v1/events?kind=override&address=127.0.0.2", nil), &evs)
	if len(evs) == 0 {
		t.Errorf("the drain's event is not in the log after the restart")
	} else if host, _ := os.Hostname(); evs[0].Node != host {
		t.Errorf("the event's node is %q, want this host's name %q", evs[0].Node, host)
	}
	var ins []map[string]any
	json.Unmarshal(c.must(200, "GET", "/api/v1/instances", nil), &ins)
	if len(ins) != 1 || ins[0]["name"] != "www.example.org." || ins[0]["owner"].(map[string]any)["layer"] != "api" {
		t.Fatalf("instances after restart: %v", ins)
	}
	_ = dns.TypeA
}

// TestAPIRefusesBadRequests sends every kind of bad request and checks
// that each gets its status and message, and that the store, the engine
// and the answers stay as they were.
func TestAPIRefusesBadRequests(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	apiPort := freePort(t)
	storeFile := filepath.Join(t.TempDir(), "gtm.db")
	s := start(t, apiCorefile(apiPort, storeFile, port))
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "main", "addresses": []map[string]any{{"address": "127.0.0.1"}}})
	c.must(201, "POST", "/api/v1/instances", map[string]any{"name": "www.example.org", "rules": []map[string]any{{"match": "default",
		"primary": map[string]any{"pools": []map[string]any{{"pool": "main"}}}}}})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 2*time.Second)
	_, before, etagBefore := c.call("GET", "/api/v1/pools", nil)

	raw := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		method, path, body string
		code               int
		says               string
	}{
		{"POST", "/api/v1/pools", `{"name": "x", "addresses": [`, 400, ""},
		{"POST", "/api/v1/pools", `{"name": "x", "addresses": [{"address": "127.0.0.3"}], "colour": "red"}`, 422, "colour"},
		{"POST", "/api/v1/pools", `{"name": "x", "addresses": [{"address": "127.0.0.3", "weight": "heavy"}]}`, 422, "weight"},
		{"POST", "/api/v1/pools", `{"name": "x", "addresses": [{"address": "127.0.0.3", "weight": 1000}]}`, 422, "weight"},
		{"POST", "/api/v1/pools", `{"name": "x", "addresses": [{"address": "not-an-address!"}]}`, 422, "not-an-address"},
		{"POST", "/api/v1/pools", `{"name": "x", "monitor": "nope", "addresses": [{"address": "127.0.0.3"}]}`, 422, "unknown monitor 'nope'"},
		{"POST", "/api/v1/pools", `{"name": "main", "addresses": [{"address": "127.0.0.3"}]}`, 409, "exists"},
		{"POST", "/api/v1/instances", `{"name": "b.example.org", "rules": [{"match": "default", "primary": {"pools": [{"pool": "ghost"}]}}]}`, 422, "ghost"},
		{"DELETE", "/api/v1/pools/main", ``, 409, "instance 'www.example.org.'"},
		{"DELETE", "/api/v1/pools/ghost", ``, 404, "no pool 'ghost'"},
		{"PUT", "/api/v1/pools/other", `{"name": "main", "addresses": [{"address": "127.0.0.3"}]}`, 422, "path"},
		{"PUT", "/api/v1/overrides/addresses/main/127.0.0.77", `{"mode": "drain"}`, 404, "no address"},
		{"PUT", "/api/v1/overrides/addresses/main/127.0.0.1", `{"mode": "sideways"}`, 422, "mode"},
		{"PUT", "/api/v1/overrides/pins/www.example.org", `{"switch": "secondary"}`, 409, "no secondary"},
		{"POST", "/api/v1/pools", `{"name": "big", "addresses": [{"address": "127.0.0.3", "probe": "` + strings.Repeat("a", 2<<20) + `"}]}`, 413, ""},
	}
	for _, tc := range cases {
		code, body := raw(tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.says) {
			t.Errorf("%s %s %.60s: status %d, want %d with %q: %.300s", tc.method, tc.path, tc.body, code, tc.code, tc.says, body)
		}
		if ct := ""; code >= 400 && !strings.Contains(body, "title") {
			t.Errorf("%s %s: error body is not a problem: %s%s", tc.method, tc.path, body, ct)
		}
	}
	_, after, etagAfter := c.call("GET", "/api/v1/pools", nil)
	if !bytes.Equal(before, after) || etagBefore != etagAfter {
		t.Errorf("bad requests changed the pools: %s -> %s (%s -> %s)", before, after, etagBefore, etagAfter)
	}
	var hist []struct{ Revision uint64 }
	json.Unmarshal(c.must(200, "GET", "/api/v1/history", nil), &hist)
	if len(hist) != 2 {
		t.Errorf("bad requests were committed: %d revisions", len(hist))
	}
	if got := testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA)); !slices.Equal(got, []string{"127.0.0.1"}) {
		t.Errorf("answers changed: %v", got)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// decodeJSON decodes b into v; a body that does not decode fails the test
// (Errorf: it may be called off the test's goroutine), so that checks on v
// never pass on its zero value.
func decodeJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Errorf("decoding %.200s: %v", b, err)
	}
}

// TestAPIAcrossReloads checks the API's listener through CoreDNS reloads:
// a reload on the same port keeps serving the same store, a reload that
// changes the Corefile's objects keeps the API's, and a reload that fails
// after gtm started gives the address back to the running configuration.
func TestAPIAcrossReloads(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	apiPort := freePort(t)
	storeFile := filepath.Join(t.TempDir(), "gtm.db")
	corefile := apiCorefile(apiPort, storeFile, port)
	s := start(t, corefile)
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "main", "addresses": []map[string]any{{"address": "127.0.0.1"}}})
	c.must(201, "POST", "/api/v1/instances", map[string]any{"name": "www.example.org", "rules": []map[string]any{{"match": "default",
		"primary": map[string]any{"pools": []map[string]any{{"pool": "main"}}}}}})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 2*time.Second)

	// The same Corefile, then one with another object of its own.
	s.reload(t, corefile)
	c.must(200, "GET", "/api/v1/pools/main", nil)
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 2*time.Second)
	withPool := strings.Replace(corefile, "\t\tmonitor tcp-live {", "\t\tpool corefile-pool {\n\t\t\taddress 127.0.0.5\n\t\t}\n\t\tinstance cf {\n\t\t\tprimary corefile-pool\n\t\t}\n\t\tmonitor tcp-live {", 1)
	s.reload(t, withPool)
	s.waitFor(t, "cf.example.org.", []string{"127.0.0.5"}, 2*time.Second)
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 2*time.Second)
	var ps []map[string]any
	json.Unmarshal(c.must(200, "GET", "/api/v1/pools", nil), &ps)
	if len(ps) != 2 {
		t.Fatalf("pools after reload: %v", ps)
	}

	// A Corefile that now defines the API's pool itself is refused, naming
	// both; the running configuration goes on.
	clash := strings.Replace(corefile, "\t\tmonitor tcp-live {", "\t\tpool main {\n\t\t\taddress 127.0.0.6\n\t\t}\n\t\tmonitor tcp-live {", 1)
	mu.Lock()
	_, err := s.inst.Restart(input(clash))
	mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "duplicate pool 'main'") {
		t.Fatalf("a Corefile clashing with the store: %v", err)
	}
	c.must(200, "GET", "/api/v1/pools/main", nil)

	// A reload that fails after gtm started: its block's port is taken.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	failing := withPool + fmt.Sprintf("example.net:%d {\n\tbind 127.0.0.1\n\twhoami\n}\n", taken.Addr().(*net.TCPAddr).Port)
	mu.Lock()
	_, err = s.inst.Restart(input(failing))
	mu.Unlock()
	if err == nil {
		t.Fatal("the reload onto a taken port succeeded")
	}
	c.must(200, "GET", "/api/v1/pools/main", nil)
	c.must(200, "PUT", "/api/v1/overrides/addresses/main/127.0.0.1", map[string]any{"mode": "drain"})
	s.waitFor(t, "www.example.org.", nil, 2*time.Second)
}

// TestAPIEventsStreamAndWebhooks follows a failover through the API: the
// event stream delivers the address and switchover events as they happen,
// the event list filters them, and a signed webhook receives them.
func TestAPIEventsStreamAndWebhooks(t *testing.T) {
	hooked := make(chan alert.Body, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := alert.Verify("hook-secret", b, r.Header); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(400)
			return
		}
		var body alert.Body
		json.Unmarshal(b, &body)
		select {
		case hooked <- body:
		default:
		}
	}))
	defer recv.Close()
	e := listen(t, "127.0.0.1:0")
	apiPort := freePort(t)
	corefile := strings.Replace(apiCorefile(apiPort, filepath.Join(t.TempDir(), "gtm.db"), e.port()),
		"\t\t\tstore ", fmt.Sprintf("\t\t\twebhook ops %s {\n\t\t\t\tsecret hook-secret\n\t\t\t}\n\t\t\tstore ", recv.URL), 1)
	s := start(t, corefile)
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "main", "monitor": "tcp-live", "addresses": []map[string]any{{"address": "127.0.0.1"}}})
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "spare", "addresses": []map[string]any{{"address": "127.0.0.9"}}})
	c.must(201, "POST", "/api/v1/instances", map[string]any{"name": "www.example.org", "rules": []map[string]any{{"match": "default",
		"primary": map[string]any{"pools": []map[string]any{{"pool": "main"}}}, "secondary": map[string]any{"pools": []map[string]any{{"pool": "spare"}}}}}})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 3*time.Second)

	resp, err := http.Get(c.base + "/api/v1/events/stream?instance=www.example.org")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	downAt := time.Now()
	e.down()
	var got health.Event
	deadline := time.After(3 * time.Second)
	for got.Kind != health.KindSwitchover {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			if d, ok := strings.CutPrefix(l, "data: "); ok {
				json.Unmarshal([]byte(d), &got)
			}
		case <-deadline:
			t.Fatal("no switchover on the stream within 3 s")
		}
	}
	t.Logf("switchover streamed %s after the backend went down", time.Since(downAt).Round(time.Millisecond))
	if got.Old != "primary" || got.New != "secondary" || !slices.Contains(got.Instances, "www.example.org.") {
		t.Errorf("streamed switchover: %+v", got)
	}
	var list []store.Event
	testkit.Eventually(t, "the switchover in the event log", 2*time.Second, func() bool {
		json.Unmarshal(c.must(200, "GET", "/api/v1/events?kind=switchover&instance=www.example.org", nil), &list)
		return len(list) > 0 && list[0].New == "secondary"
	})
	json.Unmarshal(c.must(200, "GET", "/api/v1/events?pool=main&kind=address", nil), &list)
	if len(list) == 0 {
		t.Error("no address event of pool main")
	}
	for _, e := range list {
		if e.Kind != "address" || !slices.Contains(e.Pools, "main") {
			t.Errorf("filtered by pool main: %+v", e)
		}
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/events?pool=ghost", nil), &list)
	if len(list) != 0 {
		t.Errorf("filtered by a pool that does not exist: %+v", list)
	}
	for deadline := time.After(5 * time.Second); ; {
		select {
		case b := <-hooked:
			if b.Event.Kind == alert.KindSwitchover && b.Event.New == "secondary" && b.Webhook == "ops" {
				var st []alert.WebhookStatus
				json.Unmarshal(c.must(200, "GET", "/api/v1/alerts", nil), &st)
				if len(st) != 1 || st[0].Name != "ops" {
					t.Errorf("alerts status: %+v", st)
				}
				return
			}
		case <-deadline:
			t.Fatal("no switchover webhook within 5 s")
		}
	}
}

// TestAPIRulePin pins one rule of a two-rule instance to its secondary:
// only the clients of that rule move, and clearing the pin brings them
// back.
func TestAPIRulePin(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	apiPort := freePort(t)
	s := start(t, apiCorefile(apiPort, filepath.Join(t.TempDir(), "gtm.db"), port))
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "main", "addresses": []map[string]any{{"address": "127.0.0.1"}}})
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "spare", "addresses": []map[string]any{{"address": "127.0.0.9"}}})
	both := map[string]any{"pools": []map[string]any{{"pool": "main"}}}
	second := map[string]any{"pools": []map[string]any{{"pool": "spare"}}}
	c.must(201, "POST", "/api/v1/instances", map[string]any{"name": "www.example.org", "rules": []map[string]any{
		{"match": "cidr", "values": []string{"198.51.100.0/24"}, "primary": both, "secondary": second},
		{"match": "default", "primary": both, "secondary": second}}})
	ask := func(subnet string) []string {
		return testkit.Values(s.ask(t, "udp", "www.example.org.", dns.TypeA, withECS(subnet)))
	}
	testkit.Eventually(t, "both rules on their primary", 2*time.Second, func() bool {
		return slices.Equal(ask("198.51.100.0/24"), []string{"127.0.0.1"}) && slices.Equal(ask("203.0.113.0/24"), []string{"127.0.0.1"})
	})
	c.must(200, "PUT", "/api/v1/overrides/pins/www.example.org", map[string]any{"switch": "secondary", "rule": "cidr 198.51.100.0/24"})
	testkit.Eventually(t, "only the cidr rule on its secondary", 2*time.Second, func() bool {
		return slices.Equal(ask("198.51.100.0/24"), []string{"127.0.0.9"}) && slices.Equal(ask("203.0.113.0/24"), []string{"127.0.0.1"})
	})
	var st struct {
		Instances []struct {
			Rules []struct {
				Name string
				Pin  *struct{ Switch, Scope string }
			}
		}
	}
	json.Unmarshal(c.must(200, "GET", "/api/v1/status", nil), &st)
	if r := st.Instances[0].Rules; len(r) != 2 || r[0].Pin == nil || r[0].Pin.Switch != "secondary" || r[0].Pin.Scope != "rule" || r[1].Pin != nil {
		t.Errorf("status of the pinned rule: %+v", st)
	}
	c.must(404, "PUT", "/api/v1/overrides/pins/www.example.org", map[string]any{"switch": "secondary", "rule": "country DE"})
	c.must(200, "DELETE", "/api/v1/overrides/pins/www.example.org?rule=cidr+198.51.100.0/24", nil)
	testkit.Eventually(t, "the cidr rule back on its primary", 2*time.Second, func() bool {
		return slices.Equal(ask("198.51.100.0/24"), []string{"127.0.0.1"})
	})
}

// TestAPIOverridesFollowTheConfiguration checks that a change which
// leaves an override without its object drops the override in the same
// revision (and says so), rather than committing something the engine
// refuses; and that what cannot apply is refused before any commit.
func TestAPIOverridesFollowTheConfiguration(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	apiPort := freePort(t)
	s := start(t, apiCorefile(apiPort, filepath.Join(t.TempDir(), "gtm.db"), port))
	c := &client{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", apiPort)}
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "main", "addresses": []map[string]any{{"address": "127.0.0.1"}}})
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "spare", "addresses": []map[string]any{{"address": "127.0.0.9"}}})
	c.must(201, "POST", "/api/v1/pools", map[string]any{"name": "v6", "addresses": []map[string]any{{"address": "2001:db8::1"}}})
	primary := map[string]any{"pools": []map[string]any{{"pool": "main"}}}
	c.must(201, "POST", "/api/v1/instances", map[string]any{"name": "www.example.org", "rules": []map[string]any{{"match": "default",
		"primary": primary, "secondary": map[string]any{"pools": []map[string]any{{"pool": "spare"}}}}}})
	c.must(200, "PUT", "/api/v1/overrides/pins/www.example.org", map[string]any{"switch": "secondary"})
	s.waitFor(t, "www.example.org.", []string{"127.0.0.9"}, 2*time.Second)

	// The instance loses its secondary: the pin goes with it, in one revision.
	var res struct {
		Revision uint64
		Dropped  []string
	}
	json.Unmarshal(c.must(200, "PUT", "/api/v1/instances/www.example.org", map[string]any{"rules": []map[string]any{{"match": "default", "primary": primary}}}), &res)
	if len(res.Dropped) != 1 || !strings.Contains(res.Dropped[0], "no secondary") {
		t.Errorf("dropped: %+v", res)
	}
	s.waitFor(t, "www.example.org.", []string{"127.0.0.1"}, 2*time.Second)
	var hist []struct{ Change string }
	json.Unmarshal(c.must(200, "GET", "/api/v1/history", nil), &hist)
	if len(hist) != int(res.Revision) || strings.Contains(hist[0].Change, "reverted") {
		t.Errorf("history after the change: %+v", hist)
	}
	// Switching back an instance that fails back by itself is refused.
	if code, body, _ := c.call("POST", "/api/v1/instances/www.example.org/switch-back", nil); code != 409 {
		t.Errorf("switch back without a hold: %d %s", code, body)
	}
	// An IPv6 address is one address however it is written.
	c.must(200, "PUT", "/api/v1/overrides/addresses/v6/2001:DB8:0::1", map[string]any{"mode": "drain"})
	c.must(200, "DELETE", "/api/v1/overrides/addresses/v6/[2001:db8::1]", nil)
	// Weak and unquoted tags are not the revision.
	var now struct{ Revision uint64 }
	json.Unmarshal(c.must(200, "PUT", "/api/v1/overrides/addresses/main/127.0.0.1?dry-run=true", map[string]any{"mode": "drain"}), &now)
	for _, tag := range []string{fmt.Sprintf(`W/"%d"`, now.Revision), fmt.Sprint(now.Revision)} {
		if code, _, _ := c.call("PUT", "/api/v1/overrides/addresses/main/127.0.0.1", map[string]any{"mode": "drain"}, "If-Match", tag); code != 412 {
			t.Errorf("If-Match %s: %d", tag, code)
		}
	}
}

// TestAPIRefusesForeignRequests checks that an API without tokens answers
// only requests to a loopback host from no other site, and that a body
// must be JSON: a web page cannot make a browser change gtm.
func TestAPIRefusesForeignRequests(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	apiPort := freePort(t)
	start(t, apiCorefile(apiPort, filepath.Join(t.TempDir(), "gtm.db"), port))
	base := fmt.Sprintf("http://127.0.0.1:%d", apiPort)
	send := func(method, path, body string, header ...string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		for i := 0; i+1 < len(header); i += 2 {
			if header[i] == "Host" {
				req.Host = header[i+1]
			} else {
				req.Header.Set(header[i], header[i+1])
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	pool := `{"name": "evil", "addresses": [{"address": "127.0.0.66"}]}`
	if code := send("POST", "/api/v1/pools", pool, "Content-Type", "application/json", "Host", "rebound.attacker.example"); code != 403 {
		t.Errorf("a rebound host name: %d", code)
	}
	if code := send("POST", "/api/v1/pools", pool, "Content-Type", "application/json", "Origin", "https://attacker.example"); code != 403 {
		t.Errorf("another site's origin: %d", code)
	}
	if code := send("POST", "/api/v1/pools", pool, "Content-Type", "text/plain"); code != 415 {
		t.Errorf("a text/plain body: %d", code)
	}
	if code := send("POST", "/api/v1/pools", pool); code != 415 {
		t.Errorf("a body without a type: %d", code)
	}
	if code := send("GET", "/api/v1/pools/evil", ""); code != 404 {
		t.Errorf("a refused request created the pool: %d", code)
	}
	if code := send("POST", "/api/v1/pools", pool, "Content-Type", "application/json", "Origin", base); code != 201 {
		t.Errorf("the same origin: %d", code)
	}
}

// TestAPIStoresAreTheirBlocks checks that two blocks of other zones cannot
// share a store, and that a reload thrown away after gtm's setup leaves the
// store closed.
func TestAPIStoresAreTheirBlocks(t *testing.T) {
	_, port := testkit.ListenTCP(t, "127.0.0.1:0")
	storeFile := filepath.Join(t.TempDir(), "gtm.db")
	first := apiCorefile(freePort(t), storeFile, port)
	s := start(t, first)
	second := strings.Replace(strings.Replace(apiCorefile(freePort(t), storeFile, port), "example.org", "example.net", -1), "ns1.example.net", "ns1.example.net", 1)
	mu.Lock()
	_, err := s.inst.Restart(input(first + second))
	mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "give this block its own 'store FILE'") {
		t.Fatalf("two blocks on one store: %v", err)
	}
	// A reload that fails in a later block's setup.
	mu.Lock()
	_, err = s.inst.Restart(input(first + "example.com:0 {\n\twhoami extra-argument\n}\n"))
	mu.Unlock()
	if err == nil {
		t.Fatal("the reload with a broken block succeeded")
	}
	s.inst.Stop()
	s.inst.ShutdownCallbacks()
	b, err := store.OpenBolt(storeFile)
	if err != nil {
		t.Fatalf("the store after CoreDNS stopped: %v", err)
	}
	b.Close()
}
