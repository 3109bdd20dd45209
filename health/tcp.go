package health

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"time"
)

// TCP checks that a port accepts a connection, and optionally completes a TLS
// handshake on it.
type TCP struct {
	Port       int
	TLS        bool
	ServerName string
	SkipVerify bool
}

// Probe implements Prober.
func (p *TCP) Probe(ctx context.Context, host string) Result {
	// A probe's connection lives for a moment: no keepalive options to set,
	// and closed with a reset, so that thousands of probes a second leave
	// no TIME_WAIT sockets behind (what load balancers' checks do too).
	d := net.Dialer{KeepAlive: -1}
	start := time.Now()
	addr, err := dialAddr(ctx, host, strconv.Itoa(p.Port))
	if err != nil {
		return Result{Err: err}
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Result{Err: opError("tcp", err)}
	}
	defer func() {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
	}()
	r := Result{OK: true, Connect: time.Since(start)}
	if p.TLS {
		name := p.ServerName
		if name == "" {
			name = host
		}
		tc := tls.Client(conn, &tls.Config{ServerName: name, InsecureSkipVerify: p.SkipVerify})
		t0 := time.Now()
		if err := tc.HandshakeContext(ctx); err != nil {
			return Result{Err: opError("tls", err), Connect: r.Connect}
		}
		r.TLS = time.Since(t0)
	}
	r.RTT = time.Since(start)
	return r
}
