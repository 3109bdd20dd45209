package alert

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
)

// received is one request as the receiver saw it.
type received struct {
	at     time.Time
	header http.Header
	body   []byte
	query  string
	user   string
	pass   string
}

// receiver is a real HTTP server on loopback that records every request
// and answers with reply (200 when nil); n counts requests from 1.
type receiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
}

func newReceiver(t *testing.T, reply func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pass, _ := r.BasicAuth()
		rc.mu.Lock()
		rc.got = append(rc.got, received{at: time.Now(), header: r.Header.Clone(), body: body, query: r.URL.RawQuery, user: user, pass: pass})
		n := len(rc.got)
		rc.mu.Unlock()
		if reply != nil {
			reply(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// hanging is a receiver that holds every request until the client goes
// away or the test ends; then it closes gone, if not nil, the first time.
func hanging(t *testing.T, gone chan struct{}) *receiver {
	end := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			if gone != nil {
				once.Do(func() { close(gone) })
			}
		case <-end:
		}
	})
	// Runs before the server's Close, which waits for its handlers.
	t.Cleanup(func() { close(end) })
	return rc
}

// status replies with code to every request.
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// fast are options for tests: quick retries, a fixed node name.
func fast() Options {
	return Options{Node: "node-1", Attempts: 3, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}
}

func start(t *testing.T, hooks []Webhook, opts Options) *Dispatcher {
	t.Helper()
	d, err := New(hooks, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// settled waits until webhook i has finished n deliveries, ok or failed.
func settled(t *testing.T, d *Dispatcher, i int, n uint64) WebhookStatus {
	t.Helper()
	var st WebhookStatus
	testkit.Eventually(t, "deliveries finished", 5*time.Second, func() bool {
		st = d.Status()[i]
		return st.Delivered+st.Failed >= n
	})
	return st
}

func event(seq uint64, kind string) Event {
	return Event{Seq: seq, Time: time.Unix(1767225600, 0).UTC(), Kind: kind, Object: "address site-a/192.0.2.1", Old: "up", New: "down"}
}
