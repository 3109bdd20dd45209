package gtm

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/internal/testkit"
	"github.com/miekg/dns"
)

// slowServer answers health checks after a delay the test can change.
func slowServer(t *testing.T, addr string, delay *atomic.Int64) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(delay.Load()))
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().(*net.TCPAddr).Port
}

// A latency instance answers from the pool with the lowest measured round
// trip, with every pool inside the tie band, and follows a change.
func TestLatencyPolicy(t *testing.T) {
	var near, far atomic.Int64
	far.Store(int64(80 * time.Millisecond))
	pn := slowServer(t, "127.0.0.61:0", &near)
	pf := slowServer(t, "127.0.0.62:0", &far)
	g := newGTM(t, fmt.Sprintf(`
monitor near {
	protocol http
	port %d
	interval 100ms
	timeout 90ms
}
monitor far {
	protocol http
	port %d
	interval 100ms
	timeout 90ms
}
pool near {
	monitor near
	address 127.0.0.61
}
pool far {
	monitor far
	address 127.0.0.62
}
instance www {
	policy latency
	tie 20%% 10ms
	primary near far
}`, pn, pf))
	if err := g.OnStartup(); err != nil {
		t.Fatal(err)
	}
	defer g.OnShutdown()
	answer := func() string {
		m, _ := query(t, g, "www.example.org.", dns.TypeA, false)
		return strings.Join(testkit.Values(m), " ")
	}
	testkit.Eventually(t, "the near pool alone", 5*time.Second, func() bool { return answer() == "127.0.0.61" })

	// The near one slows down past the far one.
	near.Store(int64(80 * time.Millisecond))
	far.Store(0)
	testkit.Eventually(t, "the far pool alone", 5*time.Second, func() bool { return answer() == "127.0.0.62" })

	// Both fast: within the tie band, both answer.
	near.Store(0)
	testkit.Eventually(t, "both pools", 5*time.Second, func() bool { return answer() == "127.0.0.61 127.0.0.62" })
}
