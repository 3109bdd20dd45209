package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gtm-project/gtm/config"
)

// Servers that lie: each test checks that a probe stays bounded in one
// dimension (headers, body, redirects, TLS handshake time) whatever the peer
// sends.

// rawServer runs serve on every connection of a loopback listener until the
// test ends.
func rawServer(t *testing.T, serve func(net.Conn)) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns atomic.Int32
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Add(-1)
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for deadline := time.Now().Add(5 * time.Second); conns.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	})
	return splitPort(t, ln.Addr().String())
}

func TestHTTPHugeHeaders(t *testing.T) {
	host, port := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Read(make([]byte, 4096))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Junk: ")
		junk := []byte(strings.Repeat("a", 4096))
		for range (1 << 20) / len(junk) { // 1 MiB of one header, then silence
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
		io.Copy(io.Discard, c) // until the prober hangs up
	})
	m := monitor(config.ProtoHTTP, port, 2*time.Second)
	start := time.Now()
	r := target(m, host).Run(context.Background())
	if r.OK || !strings.Contains(r.Err.Error(), "headers exceeded") {
		t.Fatalf("1 MiB of headers: OK=%v err=%v, want the header limit", r.OK, r.Err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("the probe read headers for %s instead of stopping at %d bytes", elapsed, MaxHeader)
	}
}

func TestHTTPEndlessBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 4096))
		for range (256 << 20) / len(chunk) { // bounded, far past any sane read
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	host, port := splitPort(t, srv.Listener.Addr().String())
	m := monitor(config.ProtoHTTP, port, 2*time.Second)
	m.BodyMatch = "ready"
	start := time.Now()
	r := target(m, host).Run(context.Background())
	if r.OK || r.Err.Error() != `http: body does not contain "ready"` {
		t.Fatalf("endless body: OK=%v err=%v, want a mismatch in the first %d bytes", r.OK, r.Err, MaxBody)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("the probe read the body for %s instead of stopping at %d bytes", elapsed, MaxBody)
	}
}

func TestHTTPEndlessRedirects(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		http.Redirect(w, r, "/loop?n="+strconv.Itoa(int(n)), http.StatusFound)
	}))
	defer srv.Close()
	host, port := splitPort(t, srv.Listener.Addr().String())
	m := monitor(config.ProtoHTTP, port, 2*time.Second)
	m.MaxRedirects = 3
	r := target(m, host).Run(context.Background())
	if r.OK || r.Err.Error() != "http: stopped after 3 redirects" {
		t.Fatalf("endless redirects: OK=%v err=%v", r.OK, r.Err)
	}
	if got := hits.Load(); got != 4 {
		t.Fatalf("server saw %d requests, want 4 (the first and 3 redirects)", got)
	}
}

func TestHTTPRedirectToAnotherHost(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("this machine has no 127.0.0.2 on loopback: %v", err)
	}
	other.Listener = ln
	other.Start()
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/here" {
			return
		}
		if r.URL.Query().Get("to") == "here" {
			http.Redirect(w, r, "/here", http.StatusFound)
			return
		}
		http.Redirect(w, r, other.URL+"/", http.StatusFound)
	}))
	defer srv.Close()
	host, port := splitPort(t, srv.Listener.Addr().String())

	m := monitor(config.ProtoHTTP, port, 2*time.Second)
	m.MaxRedirects = config.DefaultRedirects
	m.Path = "/?to=here"
	if r := target(m, host).Run(context.Background()); !r.OK {
		t.Fatalf("redirect to the same host: %v, want a pass", r.Err)
	}
	m.Path = "/"
	r := target(m, host).Run(context.Background())
	want := fmt.Sprintf("http: redirect to another host, %s, not in redirect-hosts", other.Listener.Addr())
	if r.OK || r.Err.Error() != want {
		t.Fatalf("redirect to another host: OK=%v err=%v, want %q", r.OK, r.Err, want)
	}
	if elsewhere.Load() != 0 {
		t.Fatal("the probe followed a redirect to another host")
	}
	m.RedirectHosts = []string{"127.0.0.2"}
	if r := target(m, host).Run(context.Background()); !r.OK {
		t.Fatalf("redirect to a host in redirect-hosts: %v, want a pass", r.Err)
	}
	if elsewhere.Load() != 1 {
		t.Fatalf("the other host saw %d requests, want 1", elsewhere.Load())
	}
}

// A peer that accepts and never speaks TLS holds an HTTPS or TLS probe no
// longer than its timeout.
func TestTLSHandshakeBounded(t *testing.T) {
	host, port := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c) // reads the ClientHello, answers nothing
	})
	for _, proto := range []config.Protocol{config.ProtoHTTPS, config.ProtoTCP} {
		m := monitor(proto, port, 300*time.Millisecond)
		m.TLS = proto == config.ProtoTCP
		start := time.Now()
		r := target(m, host).Run(context.Background())
		if r.OK || !strings.Contains(r.Err.Error(), "timeout") {
			t.Fatalf("%s, silent peer: OK=%v err=%v, want a timeout", proto, r.OK, r.Err)
		}
		if elapsed := time.Since(start); elapsed > 800*time.Millisecond {
			t.Fatalf("%s, silent peer: the handshake held the probe %s, timeout 300ms", proto, elapsed)
		}
	}
}
