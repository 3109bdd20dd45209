package health

import (
	"context"
	"crypto/tls"
	"net"
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
	var d net.Dialer
	start := time.Now()
	conn, err := d.DialContext(ctx, "tcp", hostPort(host, p.Port))
	if err != nil {
		return Result{Err: opError("tcp", err)}
	}
	defer conn.Close()
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
