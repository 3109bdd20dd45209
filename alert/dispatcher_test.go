package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
)

// A signed delivery: the receiver verifies the signature with Verify and
// reads the documented body; a webhook without a secret gets no signature.
func TestDeliverSigned(t *testing.T) {
	signed := newReceiver(t, status(http.StatusNoContent))
	plain := newReceiver(t, nil)
	d := start(t, []Webhook{
		{Name: "signed", URL: signed.URL + "/hook", Secret: "s3cret"},
		{Name: "plain", URL: plain.URL},
	}, fast())
	e := Event{Seq: 42, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Kind: KindSwitchover,
		Object: "instance www.example.org.", Old: "primary", New: "secondary", Reason: "pool site-a: no healthy address",
		Instance: "www.example.org.", Rule: "default", Address: "192.0.2.1", Pools: []string{"site-b"}}
	d.Send(e)
	if st := settled(t, d, 0, 1); st.Delivered != 1 {
		t.Fatalf("status %+v", st)
	}
	settled(t, d, 1, 1)

	r := signed.requests()[0]
	if err := Verify("s3cret", r.body, r.header); err != nil {
		t.Fatalf("the receiver cannot verify: %v", err)
	}
	if err := Verify("wrong", r.body, r.header); err == nil {
		t.Fatal("verified with the wrong secret")
	}
	for k, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "gtm-alert/1",
		HeaderEvent: "switchover", HeaderAttempt: "1",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if ts, err := strconv.ParseInt(r.header.Get(HeaderTimestamp), 10, 64); err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
		t.Errorf("timestamp %q is not now", r.header.Get(HeaderTimestamp))
	}

	var b Body
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatal(err)
	}
	if b.Version != 1 || b.Webhook != "signed" || b.Node != "node-1" || b.Delivery != r.header.Get(HeaderDelivery) || len(b.Delivery) != 36 {
		t.Errorf("body %+v, delivery header %q", b, r.header.Get(HeaderDelivery))
	}
	if !reflect.DeepEqual(b.Event, e) {
		t.Errorf("event %+v, want %+v", b.Event, e)
	}
	// The field names are the documented, stable ones.
	var raw map[string]any
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if got := keys(raw); got != "delivery,event,node,version,webhook" {
		t.Errorf("body fields %s", got)
	}
	if got := keys(raw["event"].(map[string]any)); got != "address,instance,kind,new,object,old,pools,reason,rule,seq,time" {
		t.Errorf("event fields %s", got)
	}
	if got := raw["event"].(map[string]any)["time"]; got != "2026-01-01T00:00:00Z" {
		t.Errorf("time %v, want RFC 3339", got)
	}

	p := plain.requests()[0]
	if p.header.Get(HeaderSignature) != "" {
		t.Errorf("unsigned webhook sent %s", p.header.Get(HeaderSignature))
	}
	if p.header.Get(HeaderDelivery) == r.header.Get(HeaderDelivery) {
		t.Error("two webhooks share a delivery id")
	}
	// A minimal event carries only the fields every event has.
	d.Send(event(43, KindAddress))
	settled(t, d, 1, 2)
	raw = nil
	if err := json.Unmarshal(plain.requests()[1].body, &raw); err != nil {
		t.Fatal(err)
	}
	if got := keys(raw["event"].(map[string]any)); got != "kind,new,object,old,seq,time" {
		t.Errorf("minimal event fields %s", got)
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// 500 twice, then 200: three attempts of the same delivery, same body.
func TestRetryThenSuccess(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			http.Error(w, "database is sulking", http.StatusInternalServerError)
		}
	})
	opts := fast()
	opts.Attempts = 5
	d := start(t, []Webhook{{Name: "retry", URL: rc.URL, Secret: "k"}}, opts)
	d.Send(event(1, KindAddress))
	st := settled(t, d, 0, 1)
	if st.Delivered != 1 || st.Failed != 0 || st.Attempts != 3 {
		t.Fatalf("status %+v, want 1 delivered in 3 attempts", st)
	}
	if !strings.Contains(st.LastError, "attempt 2 of 5: HTTP 500 Internal Server Error: database is sulking") {
		t.Errorf("last error %q", st.LastError)
	}
	if st.LastSuccessTime.IsZero() || st.LastErrorTime.IsZero() || st.LastSuccessTime.Before(st.LastErrorTime) {
		t.Errorf("times: error %s, success %s", st.LastErrorTime, st.LastSuccessTime)
	}
	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for i, r := range got {
		if r.header.Get(HeaderAttempt) != strconv.Itoa(i+1) {
			t.Errorf("request %d: attempt %q", i+1, r.header.Get(HeaderAttempt))
		}
		if r.header.Get(HeaderDelivery) != got[0].header.Get(HeaderDelivery) || !bytes.Equal(r.body, got[0].body) {
			t.Errorf("request %d is not the same delivery", i+1)
		}
		if err := Verify("k", r.body, r.header); err != nil {
			t.Errorf("request %d: %v", i+1, err)
		}
	}
	if v := metric(t, "alert_attempts_total", "retry"); v != 3 {
		t.Errorf("attempts metric %v, want 3", v)
	}
	if v := metric(t, "alert_deliveries_total", "ok", "retry"); v != 1 {
		t.Errorf("ok metric %v, want 1", v)
	}
}

// Refusals are not retried; server errors and throttling are, up to the
// attempts.
func TestWhichStatusesRetry(t *testing.T) {
	for _, tc := range []struct {
		code     int
		requests int
	}{
		{400, 1}, {401, 1}, {403, 1}, {404, 1}, {410, 1}, {422, 1}, {302, 1}, {308, 1},
		{500, 3}, {502, 3}, {503, 3}, {504, 3}, {429, 3},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
				w.WriteHeader(tc.code)
			})
			name := fmt.Sprintf("code-%d", tc.code)
			d := start(t, []Webhook{{Name: name, URL: rc.URL}}, fast())
			d.Send(event(1, KindSwitchover))
			// Failed is counted once the dispatcher gives up, after any
			// retry it would make.
			st := settled(t, d, 0, 1)
			if st.Failed != 1 || st.Delivered != 0 {
				t.Fatalf("status %+v, want failed", st)
			}
			if n := rc.count(); n != tc.requests || st.Attempts != uint64(tc.requests) {
				t.Fatalf("%d requests, %d attempts counted, want %d", n, st.Attempts, tc.requests)
			}
			if !strings.Contains(st.LastError, "HTTP "+strconv.Itoa(tc.code)) {
				t.Errorf("last error %q", st.LastError)
			}
			if tc.code/100 == 3 && !strings.Contains(st.LastError, "redirects are not followed") {
				t.Errorf("last error %q does not say why", st.LastError)
			}
			if v := metric(t, "alert_deliveries_total", "failed", name); v != 1 {
				t.Errorf("failed metric %v, want 1", v)
			}
		})
	}
}

// A refused connection is retried, and the error says what happened
// without the URL's credentials.
func TestNetworkErrorRetried(t *testing.T) {
	url := fmt.Sprintf("http://user:hunter2@127.0.0.1:%d/hook?token=abc", testkit.DeadPort(t))
	d := start(t, []Webhook{{Name: "dead", URL: url}}, fast())
	d.Send(event(1, KindAddress))
	st := settled(t, d, 0, 1)
	if st.Failed != 1 || st.Attempts != 3 {
		t.Fatalf("status %+v, want failed after 3 attempts", st)
	}
	if !strings.Contains(st.LastError, "attempt 3 of 3") || !strings.Contains(st.LastError, "connection refused") {
		t.Errorf("last error %q", st.LastError)
	}
	if strings.Contains(st.LastError, "hunter2") || strings.Contains(st.LastError, "abc") || strings.Contains(st.URL, "hunter2") || strings.Contains(st.URL, "abc") {
		t.Errorf("status shows credentials: %q, %q", st.URL, st.LastError)
	}
	if !strings.HasSuffix(st.URL, "/hook") || !strings.HasPrefix(st.URL, "http://127.0.0.1:") {
		t.Errorf("url %q", st.URL)
	}
}

// Credentials in the URL go as basic auth, the query as it is.
func TestCredentialsAndQuerySent(t *testing.T) {
	rc := newReceiver(t, nil)
	d := start(t, []Webhook{{Name: "auth", URL: strings.Replace(rc.URL, "http://", "http://gtm:pw@", 1) + "/x?token=abc"}}, fast())
	d.Send(event(1, KindAddress))
	settled(t, d, 0, 1)
	r := rc.requests()[0]
	if r.user != "gtm" || r.pass != "pw" || r.query != "token=abc" {
		t.Fatalf("user %q, password %q, query %q", r.user, r.pass, r.query)
	}
	if st := d.Status()[0]; st.URL != rc.URL+"/x" {
		t.Errorf("status url %q, want %q", st.URL, rc.URL+"/x")
	}
}

// An attempt that outlasts the webhook's timeout is cut and retried.
func TestAttemptTimeout(t *testing.T) {
	rc := hanging(t, nil)
	opts := fast()
	opts.Attempts = 2
	d := start(t, []Webhook{{Name: "slow", URL: rc.URL, Timeout: 50 * time.Millisecond}}, opts)
	began := time.Now()
	d.Send(event(1, KindAddress))
	st := settled(t, d, 0, 1)
	if st.Failed != 1 || st.Attempts != 2 || rc.count() != 2 {
		t.Fatalf("status %+v, %d requests; want failed after 2", st, rc.count())
	}
	if !strings.Contains(st.LastError, "timeout after 50ms") {
		t.Errorf("last error %q", st.LastError)
	}
	if took := time.Since(began); took < 100*time.Millisecond {
		t.Errorf("two 50ms timeouts took %s", took)
	}
}

// The delay between attempts doubles from the base, drawn from its upper
// half: at least 20ms then 40ms with a 40ms base.
func TestBackoffBetweenAttempts(t *testing.T) {
	rc := newReceiver(t, status(http.StatusBadGateway))
	d := start(t, []Webhook{{Name: "backoff", URL: rc.URL}}, Options{Attempts: 3, BackoffBase: 40 * time.Millisecond, BackoffMax: time.Second})
	d.Send(event(1, KindAddress))
	settled(t, d, 0, 1)
	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	g1, g2 := got[1].at.Sub(got[0].at), got[2].at.Sub(got[1].at)
	if g1 < 20*time.Millisecond || g2 < 40*time.Millisecond || g1 > 2*time.Second || g2 > 2*time.Second {
		t.Fatalf("gaps %s and %s, want at least 20ms and 40ms", g1, g2)
	}
}

// Retry-After on 429 replaces a 1ms backoff with a second.
func TestRetryAfterHonoured(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	d := start(t, []Webhook{{Name: "throttled", URL: rc.URL}}, Options{Attempts: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Second})
	d.Send(event(1, KindAddress))
	st := settled(t, d, 0, 1)
	got := rc.requests()
	if st.Delivered != 1 || len(got) != 2 {
		t.Fatalf("status %+v, %d requests", st, len(got))
	}
	if gap := got[1].at.Sub(got[0].at); gap < time.Second || gap > 3*time.Second {
		t.Fatalf("retried after %s, want Retry-After's 1s", gap)
	}
}

// Retry-After is capped at the backoff max: an hour becomes 100ms.
func TestRetryAfterCapped(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	d := start(t, []Webhook{{Name: "capped", URL: rc.URL}}, Options{Attempts: 3, BackoffBase: time.Millisecond, BackoffMax: 100 * time.Millisecond})
	d.Send(event(1, KindAddress))
	st := settled(t, d, 0, 1)
	got := rc.requests()
	if st.Delivered != 1 || len(got) != 2 {
		t.Fatalf("status %+v, %d requests", st, len(got))
	}
	if gap := got[1].at.Sub(got[0].at); gap < 100*time.Millisecond || gap > 3*time.Second {
		t.Fatalf("retried after %s, want the 100ms max", gap)
	}
}

// A receiver that hangs: Send still returns at once, the queue overflows
// into counted drops, another webhook is not delayed, and Close returns
// promptly, cancelling the hanging request.
func TestHangingReceiver(t *testing.T) {
	gone := make(chan struct{})
	slow := hanging(t, gone)
	quick := newReceiver(t, nil)
	opts := fast()
	opts.QueueSize = 5
	d, err := New([]Webhook{
		{Name: "hangs", URL: slow.URL, Timeout: 10 * time.Second},
		{Name: "quick", URL: quick.URL, Events: []string{KindConfig}},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Send(event(1, KindAddress))
	testkit.Eventually(t, "the first request arrives", 5*time.Second, func() bool { return slow.count() == 1 })

	began := time.Now()
	for i := range 1000 {
		d.Send(event(uint64(2+i), KindAddress))
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("1000 Sends took %s while the receiver hangs", took)
	}
	st := d.Status()[0]
	if st.Queued != 5 || st.Dropped != 995 || st.Delivered != 0 || st.Failed != 0 {
		t.Fatalf("status %+v, want 5 queued and 995 dropped", st)
	}
	if v := metric(t, "alert_deliveries_total", "dropped", "hangs"); v != 995 {
		t.Errorf("dropped metric %v, want 995", v)
	}

	// The other webhook has its own goroutine.
	for i := range 3 {
		d.Send(event(uint64(2000+i), KindConfig))
	}
	testkit.Eventually(t, "the quick webhook's deliveries", 5*time.Second, func() bool { return quick.count() == 3 })

	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("Close did not return within a second while a request hangs")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging request was not cancelled")
	}
	// Cancelled by Close: neither failed nor retried.
	if st := d.Status()[0]; st.Failed != 0 || st.Attempts != 0 || slow.count() != 1 {
		t.Fatalf("after Close: status %+v, %d requests", st, slow.count())
	}
}

// A full queue drops its oldest events: the receiver gets the one in
// flight and the newest three.
func TestOverflowDropsOldest(t *testing.T) {
	gate := make(chan struct{})
	rc := newReceiver(t, func(n int, _ http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-gate:
			case <-r.Context().Done():
			}
		}
	})
	opts := fast()
	opts.QueueSize = 3
	d := start(t, []Webhook{{Name: "overflow", URL: rc.URL, Timeout: 10 * time.Second}}, opts)
	d.Send(event(1, KindAddress))
	testkit.Eventually(t, "the first request arrives", 5*time.Second, func() bool { return rc.count() == 1 })
	for seq := uint64(2); seq <= 10; seq++ {
		d.Send(event(seq, KindAddress))
	}
	if st := d.Status()[0]; st.Queued != 3 || st.Dropped != 6 {
		t.Fatalf("status %+v, want 3 queued, 6 dropped", st)
	}
	close(gate)
	st := settled(t, d, 0, 4)
	if st.Delivered != 4 || st.Queued != 0 {
		t.Fatalf("status %+v", st)
	}
	var seqs []uint64
	for _, r := range rc.requests() {
		var b Body
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, b.Event.Seq)
	}
	if !slices.Equal(seqs, []uint64{1, 8, 9, 10}) {
		t.Fatalf("delivered %v, want [1 8 9 10]", seqs)
	}
	if v := metric(t, "alert_deliveries_total", "dropped", "overflow"); v != 6 {
		t.Errorf("dropped metric %v, want 6", v)
	}
}

// Each webhook gets the kinds it asked for (switchover and address when it
// named none), in the order they were sent.
func TestFilterByKind(t *testing.T) {
	all := newReceiver(t, nil)
	config := newReceiver(t, nil)
	mixed := newReceiver(t, nil)
	d := start(t, []Webhook{
		{Name: "default", URL: all.URL},
		{Name: "config", URL: config.URL, Events: []string{KindConfig}},
		{Name: "mixed", URL: mixed.URL, Events: []string{KindOverride, KindAddress}},
	}, fast())
	for i, kind := range []string{KindSwitchover, KindAddress, KindConfig, KindOverride, "deploy", "", KindAddress, KindConfig} {
		d.Send(event(uint64(i+1), kind))
	}
	// Delivery is in order per webhook, so once the last event a webhook
	// wants has arrived, everything before it has too.
	for _, tc := range []struct {
		rc   *receiver
		want []uint64
	}{{all, []uint64{1, 2, 7}}, {config, []uint64{3, 8}}, {mixed, []uint64{2, 4, 7}}} {
		testkit.Eventually(t, "deliveries", 5*time.Second, func() bool { return tc.rc.count() >= len(tc.want) })
		var seqs []uint64
		for _, r := range tc.rc.requests() {
			var b Body
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatal(err)
			}
			if r.header.Get(HeaderEvent) != b.Event.Kind {
				t.Errorf("header %s says %q, body %q", HeaderEvent, r.header.Get(HeaderEvent), b.Event.Kind)
			}
			seqs = append(seqs, b.Event.Seq)
		}
		if !slices.Equal(seqs, tc.want) {
			t.Errorf("%s got %v, want %v", tc.rc.URL, seqs, tc.want)
		}
	}
}

// Send keeps its own copy of the pools: the caller may reuse its slice.
func TestSendCopiesPools(t *testing.T) {
	gate := make(chan struct{})
	rc := newReceiver(t, func(n int, _ http.ResponseWriter, r *http.Request) {
		if n == 1 {
			select {
			case <-gate:
			case <-r.Context().Done():
			}
		}
	})
	d := start(t, []Webhook{{Name: "pools", URL: rc.URL, Timeout: 10 * time.Second}}, fast())
	d.Send(event(1, KindSwitchover))
	testkit.Eventually(t, "the first request arrives", 5*time.Second, func() bool { return rc.count() == 1 })
	pools := []string{"site-a"}
	e := event(2, KindSwitchover)
	e.Pools = pools
	d.Send(e)
	pools[0] = "changed"
	close(gate)
	settled(t, d, 0, 2)
	var b Body
	if err := json.Unmarshal(rc.requests()[1].body, &b); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Event.Pools, []string{"site-a"}) {
		t.Fatalf("pools %v, want [site-a]", b.Event.Pools)
	}
}

// After Close, Send queues nothing and nothing is counted; the webhook's
// series go with the last dispatcher that has it.
func TestClose(t *testing.T) {
	rc := newReceiver(t, nil)
	d, err := New([]Webhook{{Name: "closing", URL: rc.URL}}, fast())
	if err != nil {
		t.Fatal(err)
	}
	d.Send(event(1, KindAddress))
	settled(t, d, 0, 1)
	if _, ok := metricOK(t, "alert_deliveries_total", "ok", "closing"); !ok {
		t.Fatal("no series while open")
	}
	d.Close()
	d.Close() // twice is fine
	d.Send(event(2, KindAddress))
	if st := d.Status()[0]; st.Queued != 0 || st.Delivered != 1 || st.Dropped != 0 {
		t.Fatalf("status after Close %+v", st)
	}
	if _, ok := metricOK(t, "alert_deliveries_total", "ok", "closing"); ok {
		t.Error("series kept after the last dispatcher closed")
	}
	if rc.count() != 1 {
		t.Errorf("%d requests, want 1", rc.count())
	}
}

// A reload: the new dispatcher starts before the old one closes, and the
// webhook's counters carry on.
func TestMetricsAcrossReload(t *testing.T) {
	rc := newReceiver(t, nil)
	hooks := []Webhook{{Name: "reloaded", URL: rc.URL}}
	old := start(t, hooks, fast())
	old.Send(event(1, KindAddress))
	settled(t, old, 0, 1)
	next := start(t, hooks, fast())
	old.Close()
	if v := metric(t, "alert_deliveries_total", "ok", "reloaded"); v != 1 {
		t.Fatalf("ok metric %v after the old one closed, want 1", v)
	}
	next.Send(event(2, KindAddress))
	settled(t, next, 0, 1)
	if v := metric(t, "alert_deliveries_total", "ok", "reloaded"); v != 2 {
		t.Fatalf("ok metric %v, want 2", v)
	}
	if st := next.Status()[0]; st.Delivered != 1 {
		t.Errorf("the new dispatcher's status %+v: counts only its own", st)
	}
}

// Registering again, as a second copy would, finds the vectors already
// there instead of failing.
func TestRegisterOnce(t *testing.T) {
	start(t, nil, Options{}) // registers
	again := register(newDeliveriesVec())
	if again != deliveries {
		t.Fatal("a second registration did not return the registered vector")
	}
}

// Sends from many goroutines while Status is read: every event delivered
// once, in each sender's order.
func TestConcurrentSend(t *testing.T) {
	rc := newReceiver(t, nil)
	d := start(t, []Webhook{{Name: "concurrent", URL: rc.URL}}, fast())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				d.Send(event(uint64(g*1000+i), KindAddress))
				_ = d.Status()
			}
		}()
	}
	wg.Wait()
	st := settled(t, d, 0, 200)
	if st.Delivered != 200 || st.Dropped != 0 || rc.count() != 200 {
		t.Fatalf("status %+v, %d requests", st, rc.count())
	}
	last := map[uint64]int{}
	for _, r := range rc.requests() {
		var b Body
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		g, i := b.Event.Seq/1000, int(b.Event.Seq%1000)
		if prev, ok := last[g]; ok && i <= prev {
			t.Fatalf("sender %d: event %d after %d", g, i, prev)
		}
		last[g] = i
	}
}

// https works with the transport given in Options.
func TestHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	opts := fast()
	opts.Transport = srv.Client().Transport
	d := start(t, []Webhook{{Name: "tls", URL: srv.URL}}, opts)
	d.Send(event(1, KindAddress))
	if st := settled(t, d, 0, 1); st.Delivered != 1 {
		t.Fatalf("status %+v", st)
	}
}

// When Close returns the delivery goroutines have ended, and the
// connections kept alive to receivers are closed soon after, even though
// the receiver is still up.
func TestCloseEndsGoroutines(t *testing.T) {
	rc := newReceiver(t, nil)
	d, err := New([]Webhook{{Name: "g1", URL: rc.URL}, {Name: "g2", URL: rc.URL}}, fast())
	if err != nil {
		t.Fatal(err)
	}
	d.Send(event(1, KindAddress))
	settled(t, d, 0, 1)
	settled(t, d, 1, 1)
	const run, conn = "alert.(*Dispatcher).run", "net/http.(*persistConn).readLoop"
	if s := stacks(); !strings.Contains(s, run) || !strings.Contains(s, conn) {
		t.Fatal("no delivery goroutine or kept-alive connection before Close")
	}
	d.Close()
	if strings.Contains(stacks(), run) {
		t.Fatal("a delivery goroutine outlived Close")
	}
	testkit.Eventually(t, "client connections closed", 2*time.Second, func() bool { return !strings.Contains(stacks(), conn) })
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
