package health

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
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
	start := time.Now()
	var addr string
	if ip, err := netip.ParseAddr(host); err == nil {
		ap := netip.AddrPortFrom(ip, uint16(p.Port))
		if haveFastConnect && !p.TLS && ip.Zone() == "" {
			return p.connect(ctx, ap, start, time.Time{})
		}
		addr = ap.String()
	} else {
		if addr, err = dialAddr(ctx, host, strconv.Itoa(p.Port)); err != nil {
			return Result{Err: err}
		}
		if ap, err := netip.ParseAddrPort(addr); err == nil && haveFastConnect && !p.TLS && ap.Addr().Zone() == "" {
			return p.connect(ctx, ap, start, time.Time{})
		}
	}
	// A probe's connection lives for a moment: no keepalive options to set,
	// and closed with a reset, so that thousands of probes a second leave
	// no TIME_WAIT sockets behind (what load balancers' checks do too).
	d := net.Dialer{KeepAlive: -1}
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

// connect is a plain TCP check (no TLS) of an address, through
// connectFast, bounded by ctx and by deadline if not zero.
func (p *TCP) connect(ctx context.Context, ap netip.AddrPort, start, deadline time.Time) Result {
	if err := connectFast(ctx, ap, deadline); err != nil {
		return Result{Err: wrapCause("tcp", err)}
	}
	d := time.Since(start)
	return Result{OK: true, Connect: d, RTT: d}
}
