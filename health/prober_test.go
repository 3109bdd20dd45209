package health

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
	"go.uber.org/goleak"
)

func monitor(proto config.Protocol, port int, timeout time.Duration) *config.Monitor {
	m := config.NewMonitor(config.Pos{File: "test", Line: 1}, "m")
	m.Protocol, m.Port, m.Timeout, m.Interval = proto, port, timeout, 10*timeout
	return m
}

func target(m *config.Monitor, host string) *Target {
	return &Target{Key: Key{Pool: "p", Address: host}, Host: host, Monitor: m, Prober: NewProber(m, "")}
}

func splitPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return h, n
}

func TestTCP(t *testing.T) {
	ln, _ := acceptor(t, "127.0.0.1:0")
	host, port := splitPort(t, ln.Addr().String())
	tg := target(monitor(config.ProtoTCP, port, time.Second), host)
	if r := tg.Run(context.Background()); !r.OK || r.RTT <= 0 || r.Connect <= 0 {
		t.Fatalf("listening port: %+v", r)
	}
	ln.Close()
	r := tg.Run(context.Background())
	if r.OK || r.Err == nil || r.Err.Error() != "tcp: connection refused" {
		t.Fatalf("closed port: OK=%v err=%v, want 'tcp: connection refused'", r.OK, r.Err)
	}
}

func TestTCPWithTLS(t *testing.T) {
	srv := quietTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	host, port := splitPort(t, srv.Listener.Addr().String())
	m := monitor(config.ProtoTCP, port, 2*time.Second)
	m.TLS = true
	if r := target(m, host).Run(context.Background()); r.OK || !strings.HasPrefix(r.Err.Error(), "tls: ") {
		t.Fatalf("self-signed with verification: OK=%v err=%v, want a tls failure", r.OK, r.Err)
	}
	m.SkipVerify = true
	if r := target(m, host).Run(context.Background()); !r.OK || r.TLS <= 0 {
		t.Fatalf("self-signed without verification: %+v", r)
	}
}

func TestHTTP(t *testing.T) {
	var (
		mu                 sync.Mutex
		gotHost, gotHeader string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotHeader = r.Host, r.Header.Get("X-Check")
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			io.WriteString(w, "status: all good")
		case "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/redirect":
			http.Redirect(w, r, "/503", http.StatusFound)
		case "/hang":
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	host, port := splitPort(t, srv.Listener.Addr().String())
	tests := []struct {
		name string
		set  func(*config.Monitor)
		err  string // "" for a pass
	}{
		{"ok", func(m *config.Monitor) { m.Path = "/ok" }, ""},
		{"503", func(m *config.Monitor) { m.Path = "/503" }, "http: status 503"},
		{"503 expected", func(m *config.Monitor) { m.Path = "/503"; m.Expect = []config.StatusRange{{Lo: 500, Hi: 503}} }, ""},
		{"404 outside 2xx-3xx", func(m *config.Monitor) { m.Path = "/nope" }, "http: status 404"},
		{"body match", func(m *config.Monitor) { m.Path = "/ok"; m.BodyMatch = "all good" }, ""},
		{"body mismatch", func(m *config.Monitor) { m.Path = "/ok"; m.BodyMatch = "broken" }, `http: body does not contain "broken"`},
		{"body regexp", func(m *config.Monitor) {
			m.Path = "/ok"
			m.BodyRegexp = regexp.MustCompile(`^status: (all|most) good$`)
		}, ""},
		{"body regexp mismatch", func(m *config.Monitor) { m.Path = "/ok"; m.BodyRegexp = regexp.MustCompile(`^down`) }, "http: body does not match"},
		{"redirect not followed", func(m *config.Monitor) { m.Path = "/redirect" }, ""},
		{"redirect followed", func(m *config.Monitor) { m.Path = "/redirect"; m.MaxRedirects = config.DefaultRedirects }, "http: status 503"},
		{"hang", func(m *config.Monitor) { m.Path = "/hang" }, "timeout after 300ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := monitor(config.ProtoHTTP, port, 300*time.Millisecond)
			m.Host = "www.example.org"
			m.Headers = [][2]string{{"X-Check", "gtm"}}
			tc.set(m)
			start := time.Now()
			r := target(m, host).Run(context.Background())
			if elapsed := time.Since(start); elapsed > m.Timeout+time.Second {
				t.Errorf("probe took %s, past its %s timeout", elapsed, m.Timeout)
			}
			switch {
			case tc.err == "" && !r.OK:
				t.Fatalf("want a pass, got %v", r.Err)
			case tc.err != "" && (r.OK || !strings.HasPrefix(r.Err.Error(), tc.err)):
				t.Fatalf("want failure %q, got OK=%v err=%v", tc.err, r.OK, r.Err)
			}
			mu.Lock()
			defer mu.Unlock()
			if gotHost != "www.example.org" || gotHeader != "gtm" {
				t.Errorf("server saw Host %q and X-Check %q", gotHost, gotHeader)
			}
		})
	}
}

// A server that accepts and then sends its headers a byte at a time cannot
// hold a probe past its timeout.
func TestHTTPTrickle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.Read(make([]byte, 1024))
				for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}(c)
		}
	}()
	host, port := splitPort(t, ln.Addr().String())
	m := monitor(config.ProtoHTTP, port, 500*time.Millisecond)
	start := time.Now()
	r := target(m, host).Run(context.Background())
	if r.OK || r.Err.Error() != "timeout after 500ms" {
		t.Fatalf("trickling server: OK=%v err=%v, want a timeout", r.OK, r.Err)
	}
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Fatalf("probe took %s with a 500ms timeout", elapsed)
	}
}

// A server that accepts and never answers.
func TestTCPAcceptNoAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	host, port := splitPort(t, ln.Addr().String())
	m := monitor(config.ProtoTCP, port, 300*time.Millisecond)
	m.TLS, m.SkipVerify = true, true // the handshake waits for a peer that never speaks
	r := target(m, host).Run(context.Background())
	if r.OK || r.Err.Error() != "timeout after 300ms" {
		t.Fatalf("silent peer: OK=%v err=%v, want a timeout", r.OK, r.Err)
	}
}

func TestHTTPS(t *testing.T) {
	srv := quietTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	host, port := splitPort(t, srv.Listener.Addr().String())
	m := monitor(config.ProtoHTTPS, port, 2*time.Second)
	if r := target(m, host).Run(context.Background()); r.OK || !strings.HasPrefix(r.Err.Error(), "tls: ") {
		t.Fatalf("self-signed, verification on: OK=%v err=%v, want a tls failure", r.OK, r.Err)
	}
	m.SkipVerify = true
	if r := target(m, host).Run(context.Background()); !r.OK || r.TLS <= 0 || r.FirstByte <= 0 {
		t.Fatalf("self-signed, verification off: %+v", r)
	}
}

func TestPing(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			m := monitor(config.ProtoPing, 0, 2*time.Second)
			m.Count = 2
			r := target(m, host).Run(context.Background())
			if errors.Is(r.Err, ErrNoICMP) {
				t.Skipf("this machine allows neither unprivileged ICMP nor raw sockets: %v", r.Err)
			}
			if host == "::1" && r.Err != nil && noIPv6() {
				t.Skipf("no IPv6 loopback on this machine: %v", r.Err)
			}
			if !r.OK || r.RTT <= 0 {
				t.Fatalf("ping %s: %+v", host, r)
			}
		})
	}
}

func noIPv6() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return true
	}
	ln.Close()
	return false
}

// quietTLSServer is an httptest TLS server that does not log the handshake
// failures the tests cause on purpose.
func quietTLSServer(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv
}

// A ping whose deadline has already passed fails; it must not panic.
func TestPingExpiredDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	r := (&Ping{Count: 1}).Probe(ctx, "127.0.0.1")
	if r.OK || r.Err == nil {
		t.Fatalf("expired deadline: %+v, want a failure", r)
	}
}

// An HTTPS probe of a peer that accepts and never speaks TLS leaves nothing
// behind once it has timed out: net/http's background dial is bounded too.
func TestHTTPSSilentPeerLeavesNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, silent
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	opts := goleak.IgnoreCurrent()
	host, port := splitPort(t, ln.Addr().String())
	m := monitor(config.ProtoHTTPS, port, 200*time.Millisecond)
	tg := target(m, host)
	for range 3 {
		if r := tg.Run(context.Background()); r.OK {
			t.Fatal("a silent peer passed an HTTPS check")
		}
	}
	// Leftover dials end within the timeout; goleak retries for a while.
	if err := goleak.Find(opts); err != nil {
		t.Fatalf("probes left goroutines behind: %v", err)
	}
}
